"""Parsers for what a host shows: routes, addresses, resolv.conf, daemon options, local-kv.db.

Each parser skips what it cannot read and ignores IPv6, so junk never raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from app.netmodel.model import DEFAULT_ROUTE, DaemonNetworkOptions, InterfaceAddress, Route

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


RESOLVED_STUB = "127.0.0.53"
RESOLVED_RESOLV_CONF = "/run/systemd/resolve/resolv.conf"


def names_only_resolved_stub(text: str) -> bool:
    """True when resolv.conf's one nameserver (IPv6 ones counted) is systemd-resolved's stub.

    moby v19.03.0 libnetwork/resolvconf/resolvconf.go Path(): then dockerd reads
    /run/systemd/resolve/resolv.conf instead of /etc/resolv.conf.
    """
    servers = [line.split()[1] for line in text.splitlines()
               if len(line.split()) >= 2 and line.split()[0] == "nameserver"]
    return servers == [RESOLVED_STUB]


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
    flag_names = {name for name, _value in items}
    bridge = flag_values.get("bridge") or _text_or_none(file_values.get("bridge"))
    fixed_cidr_v6 = flag_values.get("fixed-cidr-v6") or _text_or_none(file_values.get("fixed-cidr-v6"))
    return DaemonNetworkOptions(
        bip=bip, default_address_pools=tuple(pools), fixed_cidr=fixed_cidr, bridge=bridge,
        ipv6=_boolean(items, "ipv6", file_values), fixed_cidr_v6=fixed_cidr_v6,
        live_restore=_boolean(items, "live-restore", file_values),
        pools_configured="default-address-pool" in flag_names or "default-address-pools" in file_values,
    )


def _text_or_none(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _boolean(items: list[tuple[str, str | None]], name: str, file_values: dict) -> bool:
    """A boolean option: the last flag (`--ipv6`, `--ipv6=false`) wins over daemon.json."""
    for flag, value in reversed(items):
        if flag == name:
            return value is None or value.strip().lower() not in ("false", "0")
    return file_values.get(name) is True


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

