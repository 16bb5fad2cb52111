"""What each dockerd release does when it gives docker0 an address, by full version.

Every rule names the moby tag and file it was read from (REFERENCE.md, "Docker's
bridge subnet, version by version"); tests/test_moby_rules.py holds a case for each.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import NamedTuple

from app.netmodel.model import DaemonNetworkOptions, HostNetwork, Route


class DockerVersion(NamedTuple):
    """major.minor.patch; compares with plain tuples such as (20, 10, 15)."""

    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def parse_docker_version(text: str) -> DockerVersion:
    """From "Docker version 20.10.24+dfsg1, build 297e128", "17.03.2-ce", "v27.3.1", "24.0"..."""
    match = _VERSION.search(text)
    if match is None:
        raise ValueError(f"no Docker version number in {text!r}")
    return DockerVersion(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


def docker_major_minor(version: str) -> tuple[int, int]:
    """(major, minor) of a version text; kept for callers that only need the era."""
    parsed = parse_docker_version(version)
    return parsed.major, parsed.minor


@dataclass(frozen=True)
class BridgeRules:
    """The behaviour of one dockerd version, each flag with where it was read."""

    version: DockerVersion
    # v20.10.14 vendor/github.com/docker/libnetwork/netutils/utils_linux.go CheckRouteOverlaps:
    # any route with a destination; v20.10.15 (moby#43360) and v23.0.0 (moby#42598): SCOPE_LINK only.
    every_route_blocks: bool
    # v27.5.0 libnetwork/netutils/utils_linux.go queryOnLinkRoutes: `!route.Dst.IP.IsUnspecified()`;
    # v27.4.1 counts a link route to 0.0.0.0/1. (The default route has no Dst before netlink 1.2.1.)
    unspecified_link_routes_ignored: bool
    # "1.6": v1.6.2 daemon/networkdriver/bridge/driver.go addrs (v1.7.1 setup_ipv4.go is the same list);
    # "1.8": v1.8.3 vendor/.../libnetwork/drivers/bridge/setup_ipv4.go init;
    # "1.9": v1.9.0 vendor/.../libnetwork/ipamutils/utils.go initBroadPredefinedNetworks, to this day.
    pool_era: str
    # v18.06.0-ce daemon/config/config.go DefaultAddressPools; v17.12.0-ce daemon/config/config.go
    # refuses unknown keys ("the following directives don't match any configuration option").
    knows_address_pools: bool
    # v27.0.1 libnetwork/ipams/defaultipam/address_space.go newAddrSpace: sorted by base, overlapping
    # later ones dropped; v26.1.5 (and v19.03 ipamutils splitNetworks) keep the configured order.
    sorts_configured_pools: bool
    # v19.03.0 vendor/github.com/docker/libnetwork/resolvconf/resolvconf.go Path(); v18.09.9 has none.
    reads_resolved_file: bool
    # v23.0.4 daemon/daemon_unix.go (commit 063d3a6f1a): libnetwork's IPAM picks the pool, not
    # netutils.ElectInterfaceAddresses; the failure wording changes with it.
    ipam_elects: bool
    # v23.0.5 daemon/daemon_unix.go initBridgeDriver: fixed-cidr becomes PreferredPool when docker0 has
    # no address (commit 227d3f39a3); v23.0.4 sets only SubPool and fails.
    fixed_cidr_is_subnet: bool
    fixed_cidr_fails: bool
    # v28.0.0 daemon/daemon_unix.go selectBIP: docker0's address is dropped when fixed-cidr lies outside
    # it, and its subnet widened when fixed-cidr is bigger.
    select_bip: bool
    # v1.6.2 daemon/networkdriver/bridge/driver.go "Bridge ip (%s) does not match existing bridge
    # configuration %s"; v1.8.3 vendor/.../drivers/bridge/setup_verify.go IPv4AddrNoMatchError.
    bip_must_match_docker0: bool
    # v20.10.0 .. v27.5.1 daemon/daemon_unix.go: "IPv6 is enabled for the default bridge, but no subnet
    # is configured"; v28.0.0 daemon/daemon_unix.go getDefaultBridgeIPAMConf allocates a ULA prefix.
    ipv6_needs_fixed_cidr_v6: bool
    # v20.10.24 daemon/daemon_unix.go initBridgeDriver calls netutils.ElectInterfaceAddresses before it
    # looks at config.BridgeConfig.IP: when docker0 has no address a free pool is needed even with
    # "bip". Seen on bookworm (20.10.24): link routes over every pool plus "bip": 10.163.47.1/24 made
    # dockerd exit with "list bridge addresses failed: ... no available network". v23.0.4 moved the
    # choice to IPAM, which never runs the election when bip gives the pool.
    bip_needs_free_pool: bool = False

    @property
    def link_scope_only(self) -> bool:
        return not self.every_route_blocks


def _debian_build(version: DockerVersion | str) -> bool:
    """Debian's docker.io ("+dfsg"), built against Debian's Go libraries instead of moby's vendor/."""
    return isinstance(version, str) and "+dfsg" in version


def rules_for(version: DockerVersion | str) -> BridgeRules:
    v = parse_docker_version(version) if isinstance(version, str) else version
    return BridgeRules(
        version=v,
        every_route_blocks=v < (20, 10, 15),
        # Debian's 26.1.5+dfsg1 (trixie) links Debian's netlink 1.3 instead of the vendored one and
        # ignores them already: seen on trixie, 0.0.0.0/1 and 0.0.0.0/4 link routes left the pool
        # 10.169.0.0/16 free, a 10.169.0.0/16 link route did not. Bookworm's 20.10.24+dfsg1 counts them.
        unspecified_link_routes_ignored=v >= (27, 5, 0) or (_debian_build(version) and v >= (26, 1, 5)),
        pool_era="1.6" if v < (1, 8, 0) else "1.8" if v < (1, 9, 0) else "1.9",
        knows_address_pools=v >= (18, 6, 0),
        sorts_configured_pools=v >= (27, 0, 0),
        reads_resolved_file=v >= (19, 3, 0),
        ipam_elects=v >= (23, 0, 4),
        fixed_cidr_is_subnet=v >= (23, 0, 5),
        fixed_cidr_fails=(23, 0, 4) <= v < (23, 0, 5),
        select_bip=v >= (28, 0, 0),
        bip_must_match_docker0=v < (1, 9, 0),
        ipv6_needs_fixed_cidr_v6=(20, 10, 0) <= v < (28, 0, 0),
        bip_needs_free_pool=(1, 13, 0) <= v < (23, 0, 4),
    )


# ---------------------------------------------------------------------------
# Candidate pools
# ---------------------------------------------------------------------------

# libnetwork's PredefinedLocalScopeDefaultNetworks (1.9 on), in its order.
DEFAULT_POOLS: tuple[IPv4Network, ...] = tuple(
    [IPv4Network(f"172.{second}.0.0/16") for second in range(17, 32)]
    + [IPv4Network(f"192.168.{16 * step}.0/20") for step in range(16)]
)
# Docker 1.6 and 1.7 (the gateways were .42.1: 172.17.42.1/16 and so on).
POOLS_1_6: tuple[IPv4Network, ...] = tuple(
    IPv4Network(text, strict=False) for text in (
        "172.17.42.1/16", "10.0.42.1/16", "10.1.42.1/16", "10.42.42.1/16",
        "172.16.42.1/24", "172.16.43.1/24", "172.16.44.1/24", "10.0.42.1/24", "10.0.43.1/24",
        "192.168.42.1/24", "192.168.43.1/24", "192.168.44.1/24",
    )
)
# Docker 1.8: 172.[17-31].42.1/16, 10.[0-255].42.1/16, 192.168.[42-44].1/24.
POOLS_1_8: tuple[IPv4Network, ...] = tuple(
    [IPv4Network(f"172.{n}.0.0/16") for n in range(17, 32)]
    + [IPv4Network(f"10.{n}.0.0/16") for n in range(256)]
    + [IPv4Network(f"192.168.{n}.0/24") for n in range(42, 45)]
)

CLOUD_RESERVED: tuple[tuple[IPv4Network, str], ...] = (
    (IPv4Network("0.0.0.0/8"), "this network"),
    (IPv4Network("100.64.0.0/10"), "carrier-grade NAT / Aliyun services (metadata 100.100.100.200)"),
    (IPv4Network("127.0.0.0/8"), "loopback"),
    (IPv4Network("169.254.0.0/16"), "link-local / cloud metadata"),
    (IPv4Network("224.0.0.0/4"), "multicast"),
    (IPv4Network("240.0.0.0/4"), "reserved"),
)

_MODERN = rules_for(DockerVersion(20, 10, 24))  # what callers get when they name no version


def configured_pools(options: DaemonNetworkOptions, rules: BridgeRules = _MODERN) -> list[tuple[IPv4Network, int]]:
    """default-address-pools as this daemon holds them: as configured, or sorted (27.0+)."""
    pools = [(base, size) for base, size in options.default_address_pools if base.prefixlen <= size <= 32]
    if not rules.sorts_configured_pools:
        return pools
    pools.sort(key=lambda pool: (int(pool[0].network_address), pool[0].prefixlen))
    kept: list[tuple[IPv4Network, int]] = []
    for base, size in pools:
        # newAddrSpace compares each pool with the last one it kept only.
        if kept and kept[-1][0].overlaps(base):
            continue
        kept.append((base, size))
    return kept


def default_pools(rules: BridgeRules = _MODERN) -> tuple[IPv4Network, ...]:
    return {"1.6": POOLS_1_6, "1.8": POOLS_1_8}.get(rules.pool_era, DEFAULT_POOLS)


def iter_pools(options: DaemonNetworkOptions, rules: BridgeRules = _MODERN) -> Iterator[IPv4Network]:
    """The subnets dockerd tries for docker0, in its order (lazily: a /8 split in /24s is 65536)."""
    if not options.default_address_pools or not rules.knows_address_pools:
        yield from default_pools(rules)
        return
    for base, size in configured_pools(options, rules):
        yield from base.subnets(new_prefix=size)


def candidate_pools(options: DaemonNetworkOptions, rules: BridgeRules = _MODERN) -> list[IPv4Network]:
    """The subnets dockerd tries for the default bridge, in its order."""
    return list(iter_pools(options, rules))


# ---------------------------------------------------------------------------
# What blocks a pool
# ---------------------------------------------------------------------------


def route_blocks(route: Route, rules: BridgeRules) -> bool:
    """Whether this daemon skips the pools this route overlaps."""
    if route.dev == "docker0" or route.is_default:
        return False  # docker0's own route is rebuilt with it; a default route has no Dst in netlink
    if rules.every_route_blocks:
        return True
    if not route.is_link_scope:
        return False
    return not (rules.unspecified_link_routes_ignored and int(route.dest.network_address) == 0)


def daemon_nameservers(net: HostNetwork, rules: BridgeRules) -> tuple:
    """The nameservers this daemon checks pools against: the resolved file's, when it reads that."""
    if rules.reads_resolved_file and net.stub_resolver_only and net.resolved_nameservers is not None:
        return net.resolved_nameservers
    return net.nameservers


def user_networks(net: HostNetwork) -> list[tuple[str, IPv4Network]]:
    # The "bridge" network is docker0 itself, which is what is being predicted.
    return [(name, subnet) for name, subnet in net.docker_networks if name != "bridge"]


# ---------------------------------------------------------------------------
# The failure's wording, era by era (generated: never to be shown as the daemon's own words)
# ---------------------------------------------------------------------------


def pool_failure_text(rules: BridgeRules, tried: list[IPv4Network]) -> str | None:
    """The line this daemon logs when no pool is free, rebuilt from moby's source; None if unknown."""
    v = rules.version
    if v < (1, 7, 0):  # v1.6.2 daemon/networkdriver/bridge/driver.go configureBridge
        return ("Could not find a free IP address range for interface 'docker0'. "
                "Please configure its address manually and run 'docker -b docker0'")
    if v < (1, 9, 0):  # v1.8.3 vendor/.../libnetwork/drivers/bridge/errors.go IPv4AddrRangeError
        return 'can\'t find an address range for interface "docker0"'
    if v < (1, 13, 0):
        return None  # 1.9-1.12: not read
    if v < (19, 3, 0):  # v18.09.0 daemon/daemon_unix.go initBridgeDriver + netutils FindAvailableNetwork
        return "Error initializing network controller: list bridge addresses failed: no available network"
    if v < (23, 0, 4):  # v19.03.0 vendor/.../netutils/utils_linux.go ElectInterfaceAddresses
        listed = " ".join(str(pool) for pool in tried)
        return ("Error initializing network controller: list bridge addresses failed: "
                f"PredefinedLocalScopeDefaultNetworks List: [{listed}]: no available network")
    if v < (27, 0, 0):  # v26.1.5 libnetwork/ipam/allocator.go; "Error creating" capitalised before v25.0.0
        return ('error creating default "bridge" network: could not find an available, non-overlapping '
                "IPv4 address pool among the defaults to assign to the network")
    # v27.0.1 libnetwork/ipamapi/contract.go ErrNoMoreSubnets
    return 'error creating default "bridge" network: all predefined address pools have been fully subnetted'
