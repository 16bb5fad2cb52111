"""The facts: a Linux host's IPv4 network and the daemon's network options, as plain data."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------

DEFAULT_ROUTE = IPv4Network("0.0.0.0/0")


@dataclass(frozen=True)
class Route:
    """One IPv4 route of the main table, as `ip route` shows it."""

    dest: IPv4Network  # "default" is 0.0.0.0/0
    gateway: IPv4Address | None
    dev: str | None
    scope: str  # "link", "global", "host", ...
    proto: str | None = None

    @property
    def is_default(self) -> bool:
        return self.dest.prefixlen == 0

    @property
    def is_link_scope(self) -> bool:
        return self.scope == "link"

    def describe(self) -> str:
        """The route written in iproute2's notation, e.g. "172.16.0.0/12 dev eth0 scope link": regwiz's
        rendering of the parsed route (not a line `ip route` printed; it differs where noted below)."""
        parts = ["default" if self.is_default else _net_text(self.dest)]
        if self.gateway is not None:
            parts += ["via", str(self.gateway)]
        if self.dev:
            parts += ["dev", self.dev]
        if self.proto:
            parts += ["proto", self.proto]
        # iproute2 prints the scope only when it is not "global"; we also print it for
        # a global route without a gateway, which would otherwise read as a link route.
        if self.scope != "global" or (self.gateway is None and not self.is_default):
            parts += ["scope", self.scope]
        return " ".join(parts)


@dataclass(frozen=True)
class InterfaceAddress:
    dev: str
    interface: IPv4Interface  # address with prefix, e.g. 10.213.0.3/24


@dataclass(frozen=True)
class DaemonNetworkOptions:
    bip: IPv4Interface | None = None  # daemon.json "bip" or --bip flag
    default_address_pools: tuple[tuple[IPv4Network, int], ...] = ()  # (base, size), as configured
    remembered_subnet: IPv4Network | None = None  # from local-kv.db (dockerd reuses it after restart)
    fixed_cidr: IPv4Network | None = None
    bridge: str | None = None  # -b / "bridge": a bridge of the user's instead of docker0 ("none": no bridge)
    ipv6: bool = False  # "ipv6": true / --ipv6
    fixed_cidr_v6: str | None = None
    live_restore: bool = False  # keeps docker0 even when pools are configured
    # True when the pools came from the config at all (even an empty or IPv6-only list):
    # dockerd before 18.06 refuses the key itself.
    pools_configured: bool = False


@dataclass(frozen=True)
class HostNetwork:
    routes: tuple[Route, ...]
    addresses: tuple[InterfaceAddress, ...]
    nameservers: tuple[IPv4Address, ...]
    docker_networks: tuple[tuple[str, IPv4Network], ...] = ()  # (name, subnet) of existing docker networks
    docker0: IPv4Interface | None = None  # docker0's current address if the interface exists
    # The nameservers of /run/systemd/resolve/resolv.conf, read when /etc/resolv.conf names
    # only the systemd-resolved stub 127.0.0.53 (dockerd 19.03+ reads that file instead);
    # None when it was not read, () when it is missing or empty.
    resolved_nameservers: tuple[IPv4Address, ...] | None = None
    stub_resolver_only: bool = False  # /etc/resolv.conf's only nameserver is 127.0.0.53


def _net_text(network: IPv4Network) -> str:
    # iproute2 writes host routes without "/32"; so do we, to match what people see.
    return str(network.network_address) if network.prefixlen == 32 else str(network)

