"""Which subnet docker0 gets at dockerd's next start, or why dockerd will not start.

The rules come from app.netmodel.rules (by full version); this module applies
them in dockerd's order of choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from app.i18n import _
from app.netmodel.model import DaemonNetworkOptions, HostNetwork, Route
from app.netmodel.rules import (
    BridgeRules,
    daemon_nameservers,
    iter_pools,
    pool_failure_text,
    route_blocks,
    rules_for,
    user_networks,
)

# Sources that mean dockerd will not start.
FAILING_SOURCES = frozenset({"none", "refused"})


@dataclass(frozen=True)
class BridgePrediction:
    subnet: IPv4Network | None  # what docker0 will get; None: no docker0 (see source)
    # "bip", "remembered", "docker0-exists", "fixed-cidr", "pool": docker0 gets subnet;
    # "none": no pool is free; "refused": dockerd refuses its options; "no-bridge" (-b none);
    # "user-bridge" (-b NAME: the user's own bridge, not predicted).
    source: str
    message: str  # one sentence for a person
    # The line this version would log, rebuilt from moby's source. A prediction, never the
    # daemon's own words: show it only as such.
    expected_error: str | None
    blamed_routes: tuple[Route, ...]  # every route that excluded at least one pool
    blamed_nameservers: tuple[IPv4Address, ...]
    skipped: tuple[tuple[IPv4Network, str], ...]  # each pool tried and why it was skipped
    # Which routes this daemon counts (True: link-scope only), kept for callers that only need that.
    link_scope_only: bool = True
    rules: BridgeRules = field(default_factory=lambda: rules_for("20.10.24"))
    blamed_networks: tuple[tuple[str, IPv4Network], ...] = ()  # existing docker networks in the way

    @property
    def fails(self) -> bool:
        return self.source in FAILING_SOURCES


def _pool_blockers(
    pool: IPv4Network, net: HostNetwork, rules: BridgeRules
) -> tuple[list[Route], list[IPv4Address], list[tuple[str, IPv4Network]]]:
    """The counted routes, nameservers and existing docker networks that make dockerd skip a pool."""
    servers = [server for server in daemon_nameservers(net, rules) if server in pool]
    routes = [r for r in net.routes if route_blocks(r, rules) and r.dest.overlaps(pool)]
    networks = [(name, subnet) for name, subnet in user_networks(net) if subnet.overlaps(pool)]
    return routes, servers, networks


def pool_is_free(pool: IPv4Network, net: HostNetwork, rules: BridgeRules) -> bool:
    return not any(_pool_blockers(pool, net, rules))


def _skip_reason(routes: list[Route], servers: list[IPv4Address], networks: list[tuple[str, IPv4Network]]) -> str:
    # dockerd checks nameservers first, then routes: keep that order.
    return "; ".join([_("nameserver {server}").format(server=server) for server in servers]
                     + [route.describe() for route in routes]
                     + [_("docker network {name} ({subnet})").format(name=name, subnet=subnet)
                        for name, subnet in networks])


def _result(rules: BridgeRules, subnet: IPv4Network | None, source: str, message: str,
            expected_error: str | None = None) -> BridgePrediction:
    return BridgePrediction(subnet, source, message, expected_error, (), (), (), rules.link_scope_only, rules)


def _refused(rules: BridgeRules, message: str, expected_error: str) -> BridgePrediction:
    return _result(rules, None, "refused", _("dockerd {version} will not start: {reason}").format(
        version=rules.version, reason=message), expected_error)


def _given_subnet(subnet: IPv4Network, source: str, message: str, net: HostNetwork,
                  rules: BridgeRules) -> BridgePrediction:
    """A subnet dockerd takes without checking it; say what it overlaps, if anything."""
    routes = [r for r in net.routes if r.is_link_scope and r.dev != "docker0" and r.dest.overlaps(subnet)]
    servers = [server for server in daemon_nameservers(net, rules) if server in subnet]
    if routes or servers:
        message += _("; it overlaps {what}, which becomes unreachable from this server").format(
            what=_skip_reason(routes, servers, []))
    return _result(rules, subnet, source, message)


def _elect_pool(net: HostNetwork, options: DaemonNetworkOptions, rules: BridgeRules) -> BridgePrediction:
    configured = bool(options.default_address_pools) and rules.knows_address_pools
    kind = _("configured") if configured else _("default")
    if configured and rules.sorts_configured_pools and len(options.default_address_pools) > 1:
        kind = _("configured (sorted by address, as dockerd 27+ does)")
    counted = _("route") if rules.every_route_blocks else _("link route")
    skipped: list[tuple[IPv4Network, str]] = []
    blamed_routes: dict[Route, None] = {}  # dicts keep first-seen order without duplicates
    blamed_servers: dict[IPv4Address, None] = {}
    blamed_networks: dict[tuple[str, IPv4Network], None] = {}
    for pool in iter_pools(options, rules):
        routes, servers, networks = _pool_blockers(pool, net, rules)
        if not (routes or servers or networks):
            message = (_("docker0 will take {pool} (the first {kind} pool that overlaps no {counted}, "
                         "nameserver or docker network, after skipping {count})") if skipped else
                       _("docker0 will take {pool} (the first {kind} pool that overlaps no {counted}, "
                         "nameserver or docker network)")).format(pool=pool, kind=kind, counted=counted,
                                                                   count=len(skipped))
            return BridgePrediction(pool, "pool", message, None, tuple(blamed_routes), tuple(blamed_servers),
                                    tuple(skipped), rules.link_scope_only, rules, tuple(blamed_networks))
        skipped.append((pool, _skip_reason(routes, servers, networks)))
        blamed_routes.update(dict.fromkeys(routes))
        blamed_servers.update(dict.fromkeys(servers))
        blamed_networks.update(dict.fromkeys(networks))
    tried = [pool for pool, _reason in skipped]
    message = _("dockerd {version} will not start: every {kind} pool overlaps a {counted}, "
                "a nameserver or a docker network").format(version=rules.version, kind=kind, counted=counted)
    return BridgePrediction(None, "none", message, pool_failure_text(rules, tried), tuple(blamed_routes),
                            tuple(blamed_servers), tuple(skipped), rules.link_scope_only, rules,
                            tuple(blamed_networks))


def _refusal(options: DaemonNetworkOptions, rules: BridgeRules) -> BridgePrediction | None:
    """Options this daemon refuses before it looks at any address."""
    if options.bridge and options.bip is not None:
        return _refused(rules, _('"bridge" (-b) and "bip" are both set'),
                        "You specified -b & --bip, mutually exclusive options. Please specify only one")
    if options.pools_configured and not rules.knows_address_pools:
        return _refused(rules, _("default-address-pools is unknown before Docker 18.06"),
                        "the following directives don't match any configuration option: default-address-pools")
    if options.ipv6 and not options.fixed_cidr_v6 and rules.ipv6_needs_fixed_cidr_v6:
        return _refused(rules, _('"ipv6": true without "fixed-cidr-v6"'),
                        "IPv6 is enabled for the default bridge, but no subnet is configured. "
                        "Specify an IPv6 subnet using --fixed-cidr-v6")
    return None


def _with_bip(bip: IPv4Interface, net: HostNetwork, options: DaemonNetworkOptions,
              rules: BridgeRules) -> BridgePrediction:
    if rules.bip_needs_free_pool and _known_address(net, options, rules) is None:
        # Before 23.0.4 the election runs first, bip or not: with no pool free dockerd stops there.
        elected = _elect_pool(net, options, rules)
        if elected.fails:
            return replace(elected, message=elected.message + _(
                ' ("bip" {bip} does not help: dockerd {version} looks for a free pool before it reads "bip" '
                'when docker0 has no address)').format(bip=bip, version=rules.version))
    for name, subnet in user_networks(net):
        if subnet.overlaps(bip.network):
            return _refused(rules, _('"bip" {bip} overlaps the docker network {name} ({subnet})').format(
                                bip=bip, name=name, subnet=subnet),
                            "Pool overlaps with other one on this address space")
    if rules.bip_must_match_docker0 and net.docker0 is not None and net.docker0.ip != bip.ip:
        return _refused(rules, _('"bip" {bip} does not match docker0\'s address {address}').format(
                            bip=bip, address=net.docker0),
                        f"Bridge ip ({net.docker0.ip}) does not match existing bridge configuration {bip.ip}")
    return _given_subnet(bip.network, "bip", _('docker0 will take {subnet} (set by "bip" {bip})').format(
        subnet=bip.network, bip=bip), net, rules)


def _known_address(net: HostNetwork, options: DaemonNetworkOptions,
                   rules: BridgeRules) -> tuple[IPv4Interface, str, str] | None:
    """docker0's address as dockerd finds it: (address, source, why), or None."""
    # dockerd deletes docker0 when the "bridge" record exists, pools are set and live-restore is off
    # (v20.10.24 and v28.5.2 daemon/daemon_unix.go initNetworkController, "Clear stale bridge network").
    wiped = (options.remembered_subnet is not None and bool(options.default_address_pools)
             and rules.knows_address_pools and not options.live_restore)
    if wiped:
        return None
    if options.remembered_subnet is not None:
        subnet = options.remembered_subnet
        return IPv4Interface((int(subnet.network_address) + 1, subnet.prefixlen)), "remembered", \
            _("remembered in local-kv.db from an earlier start")
    if net.docker0 is not None:
        return net.docker0, "docker0-exists", _("the interface already has {address}").format(address=net.docker0)
    return None


def predict_bridge(net: HostNetwork, options: DaemonNetworkOptions, docker_version: str) -> BridgePrediction:
    """Which subnet dockerd gives docker0 at its next start, or why it will not start.

    In dockerd's order: options it refuses; -b; ``bip``; the subnet remembered in
    local-kv.db; docker0's existing address (both forgotten when pools are
    configured, the record exists and live-restore is off); ``fixed-cidr``
    (23.0.5+); else the first candidate pool that no counted route, nameserver
    (as this version reads them) or existing docker network overlaps.

    Raises ValueError when docker_version holds no version number.
    """
    rules = rules_for(docker_version)
    refusal = _refusal(options, rules)
    if refusal is not None:
        return refusal
    if options.bridge == "none":
        return _result(rules, None, "no-bridge", _('dockerd will make no default bridge ("bridge": "none")'))
    if options.bridge and options.bridge != "docker0":
        return _result(rules, None, "user-bridge",
                       _("dockerd will use the bridge {bridge} as is; regwiz does not predict its address").format(
                           bridge=options.bridge))
    if options.bip is not None:
        return _with_bip(options.bip, net, options, rules)
    known = _known_address(net, options, rules)
    fixed = options.fixed_cidr
    if known is not None:
        address, source, why = known
        subnet = address.network
        if fixed is not None and rules.select_bip:
            if fixed.network_address not in subnet:
                known = None  # selectBIP ignores an address outside fixed-cidr: fixed-cidr is the subnet
            elif fixed.prefixlen < subnet.prefixlen:
                subnet = IPv4Network((int(address.ip), fixed.prefixlen), strict=False)
                why += _(', widened to "fixed-cidr" {fixed}').format(fixed=fixed)
        if known is not None:
            if source == "docker0-exists":
                sentence = _("docker0 will keep {subnet} ({why})")
            elif source == "remembered":
                sentence = _("docker0 will take {subnet} again ({why})")
            else:
                sentence = _("docker0 will take {subnet} ({why})")
            return _given_subnet(subnet, source, sentence.format(subnet=subnet, why=why), net, rules)
    if fixed is not None and rules.fixed_cidr_fails:
        return _refused(rules, _('"fixed-cidr" without "bip" and without a docker0 address'),
                        "Invalid Address SubPool")
    if fixed is not None and rules.fixed_cidr_is_subnet:
        return _given_subnet(fixed, "fixed-cidr", _('docker0 will take {subnet} (from "fixed-cidr")').format(
            subnet=fixed), net, rules)
    return _elect_pool(net, options, rules)
