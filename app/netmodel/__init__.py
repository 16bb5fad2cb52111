"""A Linux host's IPv4 network as Docker's daemon sees it.

The wizard reads a server's routes, addresses, resolv.conf and Docker
settings, and this package answers three questions without touching the
server: which subnet will docker0 get (or will dockerd refuse to start),
which routed networks does Docker hide from the host, and which ranges are
safe to give Docker instead. Pure standard library on purpose: the CLI, the
TUI and the tests all share it, and none of it may need textual.

- ``model``: the facts (routes, addresses, nameservers, daemon options);
- ``parsing``: reading them from `ip`, `route -n`, resolv.conf, daemon.json, local-kv.db;
- ``rules``: what each dockerd version does, by full version, with the moby source it comes from;
- ``predict``: docker0's subnet (or the failure) from facts and rules;
- ``layout``: shadowed routes, a safe address plan, the text picture.
"""

from app.netmodel.layout import AddressPlan, Shadowing, find_shadowing, plan_addresses, render_picture
from app.netmodel.layout import PLAN_POOL_SIZE, ROW_LABELS
from app.netmodel.model import DEFAULT_ROUTE, DaemonNetworkOptions, HostNetwork, InterfaceAddress, Route
from app.netmodel.parsing import (
    RESOLVED_RESOLV_CONF,
    RESOLVED_STUB,
    conflicting_options,
    names_only_resolved_stub,
    parse_daemon_options,
    parse_ip_json_addresses,
    parse_ip_json_routes,
    parse_ip_routes,
    parse_resolv_conf,
    parse_route_n,
    remembered_subnet_from_local_kv,
)
from app.netmodel.predict import BridgePrediction, pool_is_free, predict_bridge
from app.netmodel.rules import (
    CLOUD_RESERVED,
    DEFAULT_POOLS,
    POOLS_1_6,
    POOLS_1_8,
    BridgeRules,
    DockerVersion,
    candidate_pools,
    configured_pools,
    daemon_nameservers,
    default_pools,
    docker_major_minor,
    parse_docker_version,
    pool_failure_text,
    route_blocks,
    rules_for,
)

__all__ = [
    "CLOUD_RESERVED", "DEFAULT_POOLS", "DEFAULT_ROUTE", "PLAN_POOL_SIZE", "POOLS_1_6", "POOLS_1_8",
    "RESOLVED_RESOLV_CONF", "RESOLVED_STUB", "ROW_LABELS", "AddressPlan", "BridgePrediction", "BridgeRules",
    "DaemonNetworkOptions", "DockerVersion", "HostNetwork", "InterfaceAddress", "Route", "Shadowing",
    "candidate_pools", "configured_pools", "conflicting_options", "daemon_nameservers", "default_pools",
    "docker_major_minor", "find_shadowing", "names_only_resolved_stub", "parse_daemon_options",
    "parse_docker_version", "parse_ip_json_addresses", "parse_ip_json_routes", "parse_ip_routes",
    "parse_resolv_conf", "parse_route_n", "plan_addresses", "pool_failure_text", "pool_is_free",
    "predict_bridge", "remembered_subnet_from_local_kv", "render_picture", "route_blocks", "rules_for",
]
