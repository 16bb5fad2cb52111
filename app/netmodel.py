"""A Linux host's IPv4 network as Docker's daemon sees it.

The wizard reads a server's routes, addresses, resolv.conf and Docker
settings, and this module answers three questions without touching the
server: which subnet will docker0 get (or will dockerd refuse to start),
which routed networks does Docker hide from the host, and which ranges are
safe to give Docker instead. Pure standard library on purpose: the CLI, the
TUI and the tests all share it, and none of it may need textual.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
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
        """The route in iproute2's own words, e.g. "172.16.0.0/12 dev eth0 scope link"."""
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
    default_address_pools: tuple[tuple[IPv4Network, int], ...] = ()  # (base, size)
    remembered_subnet: IPv4Network | None = None  # from local-kv.db (dockerd reuses it after restart)
    fixed_cidr: IPv4Network | None = None  # optional, may stay unused


@dataclass(frozen=True)
class HostNetwork:
    routes: tuple[Route, ...]
    addresses: tuple[InterfaceAddress, ...]
    nameservers: tuple[IPv4Address, ...]
    docker_networks: tuple[tuple[str, IPv4Network], ...] = ()  # (name, subnet) of existing docker networks
    docker0: IPv4Interface | None = None  # docker0's current address if the interface exists


def _net_text(network: IPv4Network) -> str:
    # iproute2 writes host routes without "/32"; so do we, to match what people see.
    return str(network.network_address) if network.prefixlen == 32 else str(network)


# ---------------------------------------------------------------------------
# Small parsing helpers
# ---------------------------------------------------------------------------


def _ipv4(text: object) -> IPv4Address | None:
    """An IPv4 address, or None for anything else (IPv6 included)."""
    if not isinstance(text, str):
        return None
    try:
        return IPv4Address(text.strip())
    except ValueError:
        return None


def _ipv4_net(text: object) -> IPv4Network | None:
    """"default", "a.b.c.d" (a /32) or "a.b.c.d/n"; None for anything else."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if text == "default":
        return DEFAULT_ROUTE
    try:
        return IPv4Network(text, strict=False)
    except ValueError:
        return None


# Route types other than unicast change iproute2's default scope (iproute.c).
_ROUTE_TYPES = frozenset(
    {"unicast", "local", "broadcast", "multicast", "throw", "unreachable", "prohibit", "blackhole", "nat", "anycast"}
)
_HOST_SCOPE_TYPES = frozenset({"local", "nat"})
_LINK_SCOPE_TYPES = frozenset({"broadcast", "multicast", "anycast"})
_SCOPE_NAMES = {"universe": "global", "0": "global", "200": "site", "253": "link", "254": "host", "255": "nowhere"}
_MAIN_TABLES = frozenset({"main", "254"})


def _default_scope(route_type: str, gateway: IPv4Address | None, dest: IPv4Network) -> str:
    """The scope iproute2 gives a route added without one.

    A unicast route without a gateway is link-scope (that is how `ip route add
    172.16.0.0/12 dev eth0` behaves); one with a gateway is global.
    """
    if route_type in _HOST_SCOPE_TYPES:
        return "host"
    if route_type in _LINK_SCOPE_TYPES:
        return "link"
    if route_type == "unicast" and gateway is None and dest.prefixlen != 0:
        return "link"
    return "global"


def _scope_name(value: object) -> str | None:
    if value is None:
        return None
    name = str(value).strip().lower()
    return _SCOPE_NAMES.get(name, name) or None


# ---------------------------------------------------------------------------
# Parsers: each skips what it cannot read, and ignores IPv6
# ---------------------------------------------------------------------------


def _json_value(text: str) -> object:
    """The JSON document in text, tolerating a banner or warning around it."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    start = text.find("[")
    if start < 0:
        return None
    try:
        value, _end = json.JSONDecoder().raw_decode(text, start)
    except ValueError:
        return None
    return value


def _json_entries(text: str) -> list[dict]:
    value = _json_value(text)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return []
    return [entry for entry in value if isinstance(entry, dict)]


def _json_gateway(entry: dict) -> tuple[IPv4Address | None, str | None, bool]:
    """(gateway, dev from a nexthop, usable): usable is False for an IPv6 gateway."""
    if "gateway" in entry:
        gateway = _ipv4(entry["gateway"])
        return gateway, None, gateway is not None
    via = entry.get("via")
    if isinstance(via, dict):  # RFC 5549: an IPv4 route through an IPv6 next hop
        gateway = _ipv4(via.get("host"))
        return gateway, None, gateway is not None
    hops = entry.get("nexthops")
    if isinstance(hops, list) and hops and isinstance(hops[0], dict):
        # Multipath: the first next hop stands for the route.
        gateway, _dev, usable = _json_gateway(hops[0])
        dev = hops[0].get("dev")
        return gateway, dev if isinstance(dev, str) else None, usable
    return None, None, True


def _route_from_json(entry: dict) -> Route | None:
    dest = _ipv4_net(entry.get("dst"))
    if dest is None:
        return None
    table = entry.get("table")
    if table is not None and str(table) not in _MAIN_TABLES:
        return None  # dockerd reads the main table only
    gateway, hop_dev, usable = _json_gateway(entry)
    if not usable:
        return None
    route_type = str(entry.get("type", "unicast"))
    scope = _scope_name(entry.get("scope")) or _default_scope(route_type, gateway, dest)
    dev = entry.get("dev") if isinstance(entry.get("dev"), str) else hop_dev
    proto = entry.get("protocol")
    return Route(dest, gateway, dev, scope, str(proto) if proto is not None else None)


def parse_ip_json_routes(text: str) -> list[Route]:
    """Routes from `ip -j route` (or `ip -j -4 route`)."""
    routes = (_route_from_json(entry) for entry in _json_entries(text))
    return [route for route in routes if route is not None]


def _route_lines(text: str) -> Iterator[list[str]]:
    """Token lists, one per route; a multipath route's first "nexthop" joins its line."""
    pending: list[str] | None = None
    for line in text.splitlines():
        tokens = line.split()
        if not tokens:
            continue
        if tokens[0] == "nexthop":
            if pending is not None and "via" not in pending:
                pending.extend(tokens[1:])
            continue
        if pending is not None:
            yield pending
        pending = tokens
    if pending is not None:
        yield pending


# `ip route` keywords followed by a value; everything else is a lone flag.
_VALUE_KEYWORDS = frozenset(
    {"via", "dev", "proto", "scope", "src", "metric", "table", "mtu", "weight", "realm", "realms", "expires",
     "pref", "advmss", "window", "rtt", "rttvar", "initcwnd", "initrwnd", "hoplimit", "features", "quickack",
     "congctl", "nhid", "encap", "tos", "dsfield", "from", "cwnd", "ssthresh", "reordering", "rto_min",
     "fastopen_no_cookie", "ttl-propagate"}
)


def _route_keywords(tokens: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    index = 0
    while index < len(tokens):
        word = tokens[index]
        if word in _VALUE_KEYWORDS and index + 1 < len(tokens):
            value = tokens[index + 1]
            index += 2
            if word == "via" and value in ("inet", "inet6") and index < len(tokens):
                value = tokens[index]  # "via inet6 fe80::1": the family comes first
                index += 1
            values.setdefault(word, value)
        else:
            index += 1
    return values


def _route_from_tokens(tokens: list[str]) -> Route | None:
    route_type = "unicast"
    if tokens[0] in _ROUTE_TYPES:
        route_type, tokens = tokens[0], tokens[1:]
    if not tokens:
        return None
    dest = _ipv4_net(tokens[0])
    if dest is None:
        return None
    values = _route_keywords(tokens[1:])
    if values.get("table", "main") not in _MAIN_TABLES:
        return None
    gateway = _ipv4(values.get("via"))
    if "via" in values and gateway is None:
        return None  # an IPv6 next hop: out of this model
    scope = _scope_name(values.get("scope")) or _default_scope(route_type, gateway, dest)
    return Route(dest, gateway, values.get("dev"), scope, values.get("proto"))


def parse_ip_routes(text: str) -> list[Route]:
    """Routes from plain `ip route` / `ip -4 route` output."""
    routes = (_route_from_tokens(tokens) for tokens in _route_lines(text))
    return [route for route in routes if route is not None]


_ROUTE_FLAGS = re.compile(r"[A-Za-z!]+")


def _route_from_route_n(fields: list[str]) -> Route | None:
    if len(fields) < 4 or not _ROUTE_FLAGS.fullmatch(fields[3]):
        return None
    dest_address = IPv4Address(0) if fields[0] == "default" else _ipv4(fields[0])
    mask = _ipv4(fields[2])
    if dest_address is None or mask is None:
        return None
    try:
        dest = IPv4Network(f"{dest_address}/{mask}", strict=False)
    except ValueError:
        return None  # a non-contiguous mask
    flags = fields[3]
    gateway = _ipv4(fields[1]) if "G" in flags else None
    if gateway is not None and int(gateway) == 0:
        gateway = None
    device = fields[-1] if len(fields) >= 5 else None
    if "G" in flags or "!" in flags:
        # Through a gateway (`route` without -n may name it "_gateway"), or a reject
        # route: either way not on the link.
        return Route(dest, gateway, device, "global")
    return Route(dest, None, device, _default_scope("unicast", None, dest))


def parse_route_n(text: str) -> list[Route]:
    """Routes from net-tools' `route -n` (also `netstat -rn`): gateway 0.0.0.0 means on the link."""
    routes = (_route_from_route_n(line.split()) for line in text.splitlines())
    return [route for route in routes if route is not None]


def _addresses_of(entry: dict) -> Iterator[InterfaceAddress]:
    device = entry.get("ifname")
    infos = entry.get("addr_info")
    if not isinstance(device, str) or not isinstance(infos, list):
        return
    for info in infos:
        if not isinstance(info, dict) or info.get("family", "inet") != "inet":
            continue
        try:
            yield InterfaceAddress(device, IPv4Interface(f"{info['local']}/{int(info['prefixlen'])}"))
        except (KeyError, TypeError, ValueError):
            continue


def parse_ip_json_addresses(text: str) -> list[InterfaceAddress]:
    """IPv4 addresses from `ip -j addr` / `ip -j -4 addr` (empty {} entries of old iproute2 are skipped)."""
    return [address for entry in _json_entries(text) for address in _addresses_of(entry)]


def parse_resolv_conf(text: str) -> list[IPv4Address]:
    """The IPv4 "nameserver" entries of resolv.conf, in order."""
    servers: list[IPv4Address] = []
    for line in text.splitlines():
        tokens = line.split()
        if len(tokens) >= 2 and tokens[0] == "nameserver":
            server = _ipv4(tokens[1])
            if server is not None:
                servers.append(server)
    return servers


# ---------------------------------------------------------------------------
# Daemon options: daemon.json and the command line
# ---------------------------------------------------------------------------

# A flag's name when it differs from its daemon.json key (dockerd's config struct tags).
_FLAG_TO_KEY = {
    "insecure-registry": "insecure-registries",
    "registry-mirror": "registry-mirrors",
    "label": "labels",
    "default-address-pool": "default-address-pools",
    "dns": "dns",
    "dns-opt": "dns-opts",
    "exec-opt": "exec-opts",
    "storage-opt": "storage-opts",
    "log-opt": "log-opts",
    "host": "hosts",
    "authorization-plugin": "authorization-plugins",
    "add-runtime": "runtimes",
    "cluster-store-opt": "cluster-store-opts",
    "node-generic-resource": "node-generic-resources",
    "default-ulimit": "default-ulimits",
    "cdi-spec-dir": "cdi-spec-dirs",
    "feature": "features",
}
# dockerd's one-letter flags, by their long names.
_SHORT_FLAGS = {
    "H": "host", "b": "bridge", "D": "debug", "l": "log-level", "G": "group",
    "p": "pidfile", "g": "graph", "s": "storage-driver", "d": "daemon", "e": "exec-driver",
}
# Flags that take no value, so the word after them is not theirs.
_BOOLEAN_FLAGS = frozenset(
    {"daemon", "debug", "live-restore", "iptables", "ip6tables", "ip-forward", "ip-masq", "icc", "ipv6",
     "experimental", "selinux-enabled", "userland-proxy", "no-new-privileges", "tls", "tlsverify", "init",
     "raw-logs", "validate", "version", "help", "rootless", "disable-legacy-registry"}
)
_TOKEN = re.compile(r"""(?:[^\s"']+|"[^"]*"|'[^']*')+""")


def _command_tokens(command_line: str) -> list[str]:
    """Shell-like words: quotes group and are dropped, a lone backslash (line continuation) is skipped."""
    words = (re.sub(r"""["']""", "", token) for token in _TOKEN.findall(command_line))
    return [word for word in words if word != "\\"]


def _flag_name(token: str) -> str | None:
    if not token.startswith("-") or token in ("-", "--"):
        return None
    name = token.lstrip("-").partition("=")[0]
    if not name:
        return None
    # "-H" is short; "-bip" is Docker 1.x's deprecated single-dash long form.
    return _SHORT_FLAGS.get(name, name) if len(name) == 1 else name


def _flag_items(flags: str | None) -> list[tuple[str, str | None]]:
    """(long flag name, value) in command-line order; a value is None for a boolean flag."""
    tokens = _command_tokens(flags or "")
    items: list[tuple[str, str | None]] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        name = _flag_name(token)
        if name is None:
            continue
        _, has_value, value = token.partition("=")
        if has_value:
            items.append((name, value))
        elif name not in _BOOLEAN_FLAGS and index < len(tokens) and not tokens[index].startswith("-"):
            items.append((name, tokens[index]))
            index += 1
        else:
            items.append((name, None))
    return items


def _flag_key(name: str) -> str:
    return _FLAG_TO_KEY.get(name, name)


def _load_daemon_json(daemon_json: str | None) -> dict:
    """daemon.json as a dict; an empty or missing file is an empty dict."""
    if daemon_json is None or not daemon_json.strip():
        return {}
    try:
        value = json.loads(daemon_json)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"/etc/docker/daemon.json is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "dockerd will refuse to start until it is fixed"
        ) from exc
    if not isinstance(value, dict):
        raise ValueError(f"/etc/docker/daemon.json must hold a JSON object, not {type(value).__name__}")
    return value


def _parse_bip(text: object, origin: str) -> IPv4Interface:
    try:
        return IPv4Interface(str(text).strip())
    except ValueError as exc:
        raise ValueError(
            f'{origin} "bip" must be an IPv4 address with prefix such as 10.200.0.1/24, not {text!r}'
        ) from exc


def _parse_network(text: object, origin: str, option: str) -> IPv4Network:
    try:
        return IPv4Network(str(text).strip(), strict=False)
    except ValueError as exc:
        raise ValueError(f'{origin} "{option}" must be an IPv4 network such as 10.201.0.0/16, not {text!r}') from exc


def _pool(base: object, size: object, origin: str) -> tuple[IPv4Network, int] | None:
    """One default-address-pools entry; None for an IPv6 pool (out of this model)."""
    if isinstance(base, str) and ":" in base:
        return None
    network = _parse_network(base, origin, "default-address-pools base")
    try:
        prefix = int(str(size))
    except ValueError as exc:
        raise ValueError(f'{origin} "default-address-pools" size must be a number, not {size!r}') from exc
    if not network.prefixlen <= prefix <= 32:
        raise ValueError(f'{origin} "default-address-pools" size {prefix} does not fit base {network}')
    return network, prefix


def _pools_from_json(value: object) -> list[tuple[IPv4Network, int]]:
    if not isinstance(value, list):
        raise ValueError('daemon.json "default-address-pools" must be a list of {"base": ..., "size": ...}')
    pools = []
    for entry in value:
        if not isinstance(entry, dict):
            raise ValueError(f'daemon.json "default-address-pools" entry {entry!r} is not an object')
        pool = _pool(entry.get("base"), entry.get("size"), "daemon.json")
        if pool is not None:
            pools.append(pool)
    return pools


def _pool_from_flag(value: str) -> tuple[IPv4Network, int] | None:
    """"base=10.10.0.0/16,size=24" from --default-address-pool."""
    fields = dict(part.partition("=")[::2] for part in value.split(",") if part)
    return _pool(fields.get("base"), fields.get("size"), "--default-address-pool")


def parse_daemon_options(daemon_json: str | None, flags: str | None) -> DaemonNetworkOptions:
    """The network options dockerd will use, from daemon.json and its command line.

    A flag wins over daemon.json here; when both are set dockerd refuses to
    start at all (see conflicting_options). IPv6 pools are ignored.
    """
    file_values = _load_daemon_json(daemon_json)
    items = _flag_items(flags)
    flag_values = {name: value for name, value in items if value is not None}  # last one wins, like dockerd

    bip: IPv4Interface | None = None
    if "bip" in flag_values:
        bip = _parse_bip(flag_values["bip"], "--bip")
    elif file_values.get("bip"):
        bip = _parse_bip(file_values["bip"], "daemon.json")

    flag_pools = [_pool_from_flag(value) for name, value in items if name == "default-address-pool" and value]
    if flag_pools:
        pools = [pool for pool in flag_pools if pool is not None]
    else:
        pools = _pools_from_json(file_values.get("default-address-pools", []))

    fixed_cidr: IPv4Network | None = None
    if "fixed-cidr" in flag_values:
        fixed_cidr = _parse_network(flag_values["fixed-cidr"], "--fixed-cidr", "fixed-cidr")
    elif file_values.get("fixed-cidr"):
        fixed_cidr = _parse_network(file_values["fixed-cidr"], "daemon.json", "fixed-cidr")
    return DaemonNetworkOptions(bip=bip, default_address_pools=tuple(pools), fixed_cidr=fixed_cidr)


def conflicting_options(daemon_json: str | None, flags: str | None) -> list[str]:
    """daemon.json keys that are also set as flags (sorted): dockerd refuses to start then (docker/for-linux#327)."""
    keys = set(_load_daemon_json(daemon_json))
    flagged = {_flag_key(name) for name, _value in _flag_items(flags)}
    return sorted(keys & flagged)


# ---------------------------------------------------------------------------
# local-kv.db: the subnet dockerd remembers
# ---------------------------------------------------------------------------


def _json_objects(text: str) -> Iterator[dict]:
    """Every JSON object embedded in text (bolt pages pack keys and values with no separator)."""
    decoder = json.JSONDecoder()
    index = text.find("{")
    while index >= 0:
        try:
            value, end = decoder.raw_decode(text, index)
        except ValueError:
            index = text.find("{", index + 1)
            continue
        if isinstance(value, dict):
            yield value
        index = text.find("{", end)


def _bridge_driver_subnet(obj: dict) -> IPv4Network | None:
    """The bridge driver's own record: {"BridgeName":"docker0","AddressIPv4":"172.18.0.1/16",...}."""
    if obj.get("BridgeName") != "docker0":
        return None
    return _ipv4_net(obj.get("AddressIPv4")) if obj.get("AddressIPv4") else None


def _bridge_network_subnet(obj: dict) -> IPv4Network | None:
    """The network record named "bridge": its ipamV4Config is JSON text inside the JSON."""
    if obj.get("name") != "bridge":
        return None
    config = obj.get("ipamV4Config")
    try:
        entries = json.loads(config) if isinstance(config, str) else config
    except ValueError:
        return None
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("PreferredPool"):
            return _ipv4_net(entry["PreferredPool"])
    return None


# Last resort for a damaged file: a flat object naming docker0 and an address.
_FLAT_OBJECT = re.compile(r"\{[^{}]*\}")
_ADDRESS_IPV4 = re.compile(r'\\?"AddressIPv4\\?"\s*:\s*\\?"([0-9./]+)')
_PREFERRED_POOL = re.compile(r'\\?"PreferredPool\\?"\s*:\s*\\?"([0-9./]+)')


def _regex_subnet(text: str) -> IPv4Network | None:
    for match in _FLAT_OBJECT.finditer(text):
        chunk = match.group(0)
        if "docker0" in chunk:
            found = _ADDRESS_IPV4.search(chunk) or _PREFERRED_POOL.search(chunk)
            if found and _ipv4_net(found.group(1)):
                return _ipv4_net(found.group(1))
    return None


def remembered_subnet_from_local_kv(data: bytes) -> IPv4Network | None:
    """The default bridge's subnet stored in /var/lib/docker/network/files/local-kv.db, if any.

    The bridge driver's record (it recreates docker0 from it at start-up) wins
    over the "bridge" network record; None when neither is there.
    """
    text = data.decode("utf-8", errors="ignore")
    objects = list(_json_objects(text))
    for finder in (_bridge_driver_subnet, _bridge_network_subnet):
        for obj in objects:
            subnet = finder(obj)
            if subnet is not None:
                return subnet
    return _regex_subnet(text)


# ---------------------------------------------------------------------------
# Pools and reserved ranges
# ---------------------------------------------------------------------------

# libnetwork's PredefinedLocalScopeDefaultNetworks, in its order.
DEFAULT_POOLS: tuple[IPv4Network, ...] = tuple(
    [IPv4Network(f"172.{second}.0.0/16") for second in range(17, 32)]
    + [IPv4Network(f"192.168.{16 * step}.0/20") for step in range(16)]
)

CLOUD_RESERVED: tuple[tuple[IPv4Network, str], ...] = (
    (IPv4Network("0.0.0.0/8"), "this network"),
    (IPv4Network("100.64.0.0/10"), "carrier-grade NAT / Aliyun services (metadata 100.100.100.200)"),
    (IPv4Network("127.0.0.0/8"), "loopback"),
    (IPv4Network("169.254.0.0/16"), "link-local / cloud metadata"),
    (IPv4Network("224.0.0.0/4"), "multicast"),
    (IPv4Network("240.0.0.0/4"), "reserved"),
)


def _iter_pools(options: DaemonNetworkOptions) -> Iterator[IPv4Network]:
    if not options.default_address_pools:
        yield from DEFAULT_POOLS
        return
    for base, size in options.default_address_pools:
        if base.prefixlen <= size <= 32:  # dockerd rejects the rest at start-up
            yield from base.subnets(new_prefix=size)


def candidate_pools(options: DaemonNetworkOptions) -> list[IPv4Network]:
    """The subnets dockerd tries for the default bridge, in its order."""
    return list(_iter_pools(options))


def docker_major_minor(version: str) -> tuple[int, int]:
    """(major, minor) from "Docker version 20.10.24+dfsg1, build 297e128", "1.6.2", "24.0.7"..."""
    match = re.search(r"(\d+)\.(\d+)", version)
    if match is None:
        raise ValueError(f"no Docker version number in {version!r}")
    return int(match.group(1)), int(match.group(2))


# ---------------------------------------------------------------------------
# Which subnet docker0 gets
# ---------------------------------------------------------------------------

# From this major version on, the model counts only link-scope routes when
# electing a pool: Debian's 20.10.24 does so (REFERENCE.md, and the testbed's
# ecs_gateway_routes test proves it on every run). Upstream moby made that
# change in v23.0 (moby/moby#42598), so a stock docker-ce 17.x-20.10 may still
# count gateway routes; unverified here, as no such build can be had offline.
LINK_SCOPE_ONLY_SINCE_MAJOR = 17


@dataclass(frozen=True)
class BridgePrediction:
    subnet: IPv4Network | None  # what docker0 will get; None => daemon fails
    source: str  # one of "bip", "docker0-exists", "remembered", "pool", "none"
    message: str  # one sentence for a person
    error: str | None  # the daemon's own error text when subnet is None
    blamed_routes: tuple[Route, ...]  # every route that excluded at least one pool
    blamed_nameservers: tuple[IPv4Address, ...]
    skipped: tuple[tuple[IPv4Network, str], ...]  # each pool tried and why it was skipped
    # Which routes this daemon counts (True: link-scope only), so a picture can
    # judge the pools it did not try the same way.
    link_scope_only: bool = True


def _route_counts(route: Route, link_scope_only: bool) -> bool:
    if route.dev == "docker0":
        return False  # docker0's own route: dockerd rebuilds docker0 before it looks
    if link_scope_only:
        # moby's queryOnLinkRoutes: link scope, and a destination other than 0.0.0.0/x.
        return route.is_link_scope and int(route.dest.network_address) != 0
    return not route.is_default  # the old check: every route with a destination


def _pool_blockers(
    pool: IPv4Network, net: HostNetwork, link_scope_only: bool
) -> tuple[list[Route], list[IPv4Address]]:
    """The nameservers and counted routes that make dockerd skip a pool."""
    servers = [server for server in net.nameservers if server in pool]
    routes = [r for r in net.routes if _route_counts(r, link_scope_only) and r.dest.overlaps(pool)]
    return routes, servers


def _skip_reason(routes: list[Route], servers: list[IPv4Address]) -> str:
    # dockerd checks nameservers first, then routes: keep that order.
    return "; ".join([f"nameserver {server}" for server in servers] + [route.describe() for route in routes])


def _old_daemon_error() -> str:
    return (
        "Could not find a free IP address range for interface 'docker0'. "
        "Please configure its address manually and run 'docker -b docker0'"
    )


def _new_daemon_error(pools: list[IPv4Network]) -> str:
    listed = " ".join(str(pool) for pool in pools)
    return (
        "Error initializing network controller: list bridge addresses failed: "
        f"PredefinedLocalScopeDefaultNetworks List: [{listed}]: no available network"
    )


def _given_subnet(
    subnet: IPv4Network, source: str, message: str, net: HostNetwork, link_scope_only: bool
) -> BridgePrediction:
    """A subnet dockerd takes without checking it; say what it overlaps, if anything."""
    routes, servers = _pool_blockers(subnet, net, link_scope_only=True)
    if routes or servers:
        message += f"; it overlaps {_skip_reason(routes, servers)}, which becomes unreachable from this server"
    return BridgePrediction(subnet, source, message, None, (), (), (), link_scope_only)


def _elect_pool(net: HostNetwork, options: DaemonNetworkOptions, link_scope_only: bool) -> BridgePrediction:
    kind = "configured" if options.default_address_pools else "default"
    counted = "link route" if link_scope_only else "route"
    skipped: list[tuple[IPv4Network, str]] = []
    blamed_routes: dict[Route, None] = {}  # dicts keep first-seen order without duplicates
    blamed_servers: dict[IPv4Address, None] = {}
    for pool in _iter_pools(options):
        routes, servers = _pool_blockers(pool, net, link_scope_only)
        if not routes and not servers:
            after = f", after skipping {len(skipped)}" if skipped else ""
            message = (
                f"docker0 will take {pool} (the first {kind} pool that overlaps no {counted} or nameserver{after})"
            )
            return BridgePrediction(
                pool, "pool", message, None,
                tuple(blamed_routes), tuple(blamed_servers), tuple(skipped), link_scope_only,
            )
        skipped.append((pool, _skip_reason(routes, servers)))
        blamed_routes.update(dict.fromkeys(routes))
        blamed_servers.update(dict.fromkeys(servers))
    tried = [pool for pool, _reason in skipped]
    error = _new_daemon_error(tried) if link_scope_only else _old_daemon_error()
    message = f"dockerd will not start: every {kind} pool overlaps a {counted} or a nameserver"
    return BridgePrediction(
        None, "none", message, error, tuple(blamed_routes), tuple(blamed_servers), tuple(skipped), link_scope_only
    )


def predict_bridge(net: HostNetwork, options: DaemonNetworkOptions, docker_version: str) -> BridgePrediction:
    """Which subnet dockerd gives docker0 at its next start, or why it will not start.

    Rules, first match wins:

    1. ``options.bip`` is set: its network (source "bip"), whatever it overlaps.
    2. ``options.remembered_subnet`` is set: dockerd reuses the subnet stored in
       local-kv.db even if routes changed (source "remembered").
    3. ``net.docker0`` has an address: dockerd keeps it (source "docker0-exists").
       Rules 2 and 3 do not apply when default-address-pools are configured:
       dockerd then deletes docker0 at start-up and elects again
       (moby daemon/daemon_unix.go, configureNetworking).
    4. The first pool of ``candidate_pools(options)`` that contains no nameserver
       and overlaps no route that counts (source "pool"). Daemons from
       ``LINK_SCOPE_ONLY_SINCE_MAJOR`` on count only link-scope routes with a
       destination (interface routes are link-scope, so they count); older ones
       (the Docker 1.x era) count every non-default route.
    5. No pool left: subnet None (source "none") with dockerd's own error text.

    Raises ValueError when docker_version holds no version number.
    """
    major, _minor = docker_major_minor(docker_version)
    link_scope_only = major >= LINK_SCOPE_ONLY_SINCE_MAJOR
    if options.bip is not None:
        bip = options.bip
        message = f'docker0 will take {bip.network} (set by "bip" {bip})'
        return _given_subnet(bip.network, "bip", message, net, link_scope_only)
    if not options.default_address_pools:
        if options.remembered_subnet is not None:
            subnet = options.remembered_subnet
            message = f"docker0 will take {subnet} again (remembered in local-kv.db from an earlier start)"
            return _given_subnet(subnet, "remembered", message, net, link_scope_only)
        if net.docker0 is not None:
            message = f"docker0 will keep {net.docker0.network} (the interface already has {net.docker0})"
            return _given_subnet(net.docker0.network, "docker0-exists", message, net, link_scope_only)
    return _elect_pool(net, options, link_scope_only)


# ---------------------------------------------------------------------------
# Routed networks that Docker hides
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Shadowing:
    docker_subnet: IPv4Network
    owner: str  # "docker0" or the docker network's name
    route: Route
    message: str


def _routed(route: Route) -> bool:
    """A route through a gateway (or a reject route): not the link, not the host, not the default."""
    return not route.is_default and route.scope not in ("link", "host")


def _shadow_message(owner: str, subnet: IPv4Network, route: Route) -> str:
    if route.dest.supernet_of(subnet):
        return (
            f"{owner} ({subnet}) lies inside {route.describe()}: hosts of that routed network in {subnet} "
            "become unreachable from this server"
        )
    # The route is the more specific one, so it wins for its part of the subnet.
    return (
        f"{route.describe()} lies inside {owner} ({subnet}): containers given addresses in "
        f"{route.dest} become unreachable from this server"
    )


def find_shadowing(net: HostNetwork, bridge: IPv4Network | None) -> list[Shadowing]:
    """Every gateway route that overlaps docker0's subnet or an existing docker network.

    dockerd starts fine then (modern daemons ignore such routes), but the
    overlap hides part of the routed network: the silent Aliyun VPC conflict.
    """
    owned: list[tuple[str, IPv4Network]] = [("docker0", bridge)] if bridge is not None else []
    # The "bridge" network is docker0 itself: with a bridge given it is about to be replaced.
    owned += [(name, subnet) for name, subnet in net.docker_networks if bridge is None or name != "bridge"]
    return [
        Shadowing(subnet, owner, route, _shadow_message(owner, subnet, route))
        for owner, subnet in owned
        for route in net.routes
        if _routed(route) and route.dest.overlaps(subnet)
    ]


# ---------------------------------------------------------------------------
# Planning safe addresses
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressPlan:
    bip: IPv4Interface  # gateway address with prefix, e.g. 10.200.0.1/24 (NOT the network address: moby/moby#22638)
    pool_base: IPv4Network  # e.g. 10.201.0.0/16
    pool_size: int  # 24

    def daemon_json_values(self) -> dict[str, object]:
        """The daemon.json keys that apply this plan."""
        return {
            "bip": str(self.bip),
            "default-address-pools": [{"base": str(self.pool_base), "size": self.pool_size}],
        }


PLAN_POOL_SIZE = 24


def _plan_blocks() -> Iterator[IPv4Network]:
    """Blocks to try, best first: 10.200, 10.201, the rest of 10/8, 172.16/12, then 192.168/16 in /20s."""
    for second in [200, 201, *range(202, 256), *range(0, 200)]:
        yield IPv4Network(f"10.{second}.0.0/16")
    for second in range(16, 32):
        yield IPv4Network(f"172.{second}.0.0/16")
    # 192.168/16 holds no two /16s: fall back to /20s (still room for 16 /24 networks).
    yield from IPv4Network("192.168.0.0/16").subnets(new_prefix=20)


def _is_docker0_own(dev: str | None) -> bool:
    # docker0's own routes and address are what the plan replaces: ignoring them
    # makes planning again after the plan was applied give the same answer.
    return dev == "docker0"


def _taken_ranges(net: HostNetwork, avoid: Iterable[IPv4Network]) -> list[IPv4Network]:
    taken = [r.dest for r in net.routes if not r.is_default and not _is_docker0_own(r.dev)]
    taken += [a.interface.network for a in net.addresses if not _is_docker0_own(a.dev)]
    taken += [IPv4Network(server) for server in net.nameservers]
    taken += [subnet for name, subnet in net.docker_networks if name != "bridge"]
    taken += [network for network, _why in CLOUD_RESERVED]
    taken += list(avoid)
    return taken


def plan_addresses(net: HostNetwork, avoid: Iterable[IPv4Network] = ()) -> AddressPlan:
    """A bip and a default-address-pool that overlap nothing this host uses.

    The first free block gives the bip (its first /24, gateway .1), the second
    free block is the pool (size 24). A block is free when it overlaps no
    route (any scope; the default route aside), interface network, nameserver,
    docker network other than "bridge", CLOUD_RESERVED range or ``avoid``.
    docker0's own routes and address do not count: the plan replaces them.
    """
    taken = _taken_ranges(net, avoid)
    free = (block for block in _plan_blocks() if not any(block.overlaps(used) for used in taken))
    first, second = next(free, None), next(free, None)
    if first is None or second is None:
        raise ValueError(
            "no two free address blocks left in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16: routes, "
            "addresses or nameservers cover them; choose bip and default-address-pools by hand"
        )
    bip = IPv4Interface(f"{first.network_address + 1}/{PLAN_POOL_SIZE}")
    return AddressPlan(bip=bip, pool_base=second, pool_size=PLAN_POOL_SIZE)


# ---------------------------------------------------------------------------
# A plain-text picture of the address ranges
# ---------------------------------------------------------------------------

ROW_LABELS = (
    "routes (link)",
    "routes (via gw)",
    "interfaces",
    "nameservers",
    "docker networks",
    "docker pools",
    "docker0 (predicted)",
)
_HEX = "0123456789abcdef"
_LABEL_WIDTH = max(map(len, ROW_LABELS)) + 2
_MAX_TEN_WINDOWS = 2


@dataclass(frozen=True)
class _Block:
    area: IPv4Network
    cells: tuple[IPv4Network, ...]
    labels: tuple[str, ...]  # two characters at most, for wide cells
    wide_note: str  # how to read the wide labels
    narrow_note: str  # how to read the hex digits of narrow cells


def _fixed_blocks() -> list[_Block]:
    private172 = IPv4Network("172.16.0.0/12")
    private192 = IPv4Network("192.168.0.0/16")
    return [
        _Block(private172, tuple(private172.subnets(new_prefix=16)), tuple(str(16 + n) for n in range(16)),
               "a cell per /16, 172.16 .. 172.31", "cell n = 172.(16+n).0.0/16"),
        _Block(private192, tuple(private192.subnets(new_prefix=20)), tuple(_HEX),
               "cell n = 192.168.(16*n).0/20", "cell n = 192.168.(16*n).0/20"),
    ]


def _ten_windows(items: list[IPv4Network]) -> list[_Block]:
    """The /12s of 10.0.0.0/8 where something is, in the order of items (docker's own first)."""
    ten = IPv4Network("10.0.0.0/8")
    windows: list[IPv4Network] = []
    for item in items:
        if item.overlaps(ten):
            start = max(item.network_address, ten.network_address)
            window = IPv4Network(f"{start}/12", strict=False)
            if window not in windows:
                windows.append(window)
    blocks = []
    for window in windows[:_MAX_TEN_WINDOWS]:
        first = window.network_address.packed[1]
        note = f"cell n = 10.({first}+n).0.0/16"
        blocks.append(_Block(window, tuple(window.subnets(new_prefix=16)), tuple(_HEX), note, note))
    return blocks


def _wrap(words: list[str], width: int, indent: str = "   ") -> list[str]:
    """Words joined by two spaces into lines of at most width characters."""
    lines: list[str] = []
    line = ""
    for word in words:
        if line and len(line) + 2 + len(word) > width:
            lines.append(line)
            line = indent + word
        else:
            line = f"{line}  {word}" if line else word
    return lines + [line] if line else lines


def _row_items(net: HostNetwork, prediction: BridgePrediction) -> dict[str, list[IPv4Network]]:
    return {
        "routes (link)": [r.dest for r in net.routes if r.is_link_scope and not r.is_default],
        "routes (via gw)": [r.dest for r in net.routes if _routed(r)],
        "interfaces": [a.interface.network for a in net.addresses],
        "nameservers": [IPv4Network(server) for server in net.nameservers],
        "docker networks": [subnet for _name, subnet in net.docker_networks],
        "docker0 (predicted)": [prediction.subnet] if prediction.subnet is not None else [],
    }


def _cover_mark(cell: IPv4Network, items: list[IPv4Network]) -> str:
    if any(cell.subnet_of(item) for item in items):
        return "#"
    return "+" if any(cell.overlaps(item) for item in items) else "."


def _pool_mark(cell: IPv4Network, pools: list[IPv4Network], net: HostNetwork, prediction: BridgePrediction) -> str:
    inside = [pool for pool in pools if pool.overlaps(cell)]
    if not inside:
        return "."
    if prediction.source == "pool" and prediction.subnet in inside:
        return "*"
    free = any(not any(_pool_blockers(pool, net, prediction.link_scope_only)) for pool in inside)
    return "o" if free else "x"


def _cells_text(marks: Iterable[str], cell_width: int) -> str:
    # Wide cells hold two-character labels ("16") and a space; narrow ones one character.
    if cell_width == 1:
        return "".join(marks)
    return "".join(mark.rjust(cell_width - 1) + " " for mark in marks)


def _block_lines(
    block: _Block, rows: dict[str, list[IPv4Network]], pool_row: list[str], cell_width: int, width: int
) -> list[str]:
    wide = cell_width > 1
    labels = block.labels if wide else tuple(_HEX)
    title = [f"{block.area}:", block.wide_note if wide else block.narrow_note]
    lines = _wrap(title, width) + [" " * _LABEL_WIDTH + _cells_text(labels, cell_width)]
    for label in ROW_LABELS:
        marks = pool_row if label == "docker pools" else [_cover_mark(cell, rows[label]) for cell in block.cells]
        lines.append(label.ljust(_LABEL_WIDTH) + _cells_text(marks, cell_width))
    return lines


def _legend(width: int) -> list[str]:
    words = ["legend:", "'#' covered", "'+' partly covered", "'.' nothing",
             "pools: 'x' skipped (overlap)", "'o' free", "'*' docker0's pick"]
    return _wrap(words, width)


def render_picture(
    net: HostNetwork, options: DaemonNetworkOptions, prediction: BridgePrediction, width: int = 72
) -> list[str]:
    """The address ranges side by side as plain text lines (each at most width characters).

    Blocks for 172.16.0.0/12 (a cell per /16) and 192.168.0.0/16 (a cell per
    /20), plus 10.0.0.0/8 windows (a cell per /16) when something lies there.
    Rows are ROW_LABELS; the pools row marks each candidate pool skipped ('x'),
    free ('o') or taken by docker0 ('*').
    """
    rows = _row_items(net, prediction)
    pools = candidate_pools(options)
    ten_items = [*rows["docker0 (predicted)"], *([options.bip.network] if options.bip else []), *pools[:1]]
    ten_items += [item for label, items in rows.items() for item in items if label != "docker0 (predicted)"]
    cell_width = 3 if _LABEL_WIDTH + 16 * 3 <= width else 1
    lines: list[str] = []
    for block in _fixed_blocks() + _ten_windows(ten_items):
        nearby = [pool for pool in pools if pool.overlaps(block.area)]  # configured pools can number thousands
        pool_row = [_pool_mark(cell, nearby, net, prediction) for cell in block.cells]
        if lines:
            lines.append("")
        lines += _block_lines(block, rows, pool_row, cell_width, width)
    lines += [""] + _legend(width)
    return [line.rstrip()[:width] for line in lines]
