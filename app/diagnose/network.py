"""The route/bridge conflict: read the host's network, predict what dockerd will do.

On Aliyun ECS, routes over 172.16.0.0/12 (and 192.168.0.0/16) can leave dockerd
no free default pool ("no available network"), or, as gateway routes, let
docker0 silently shadow part of the VPC. See REFERENCE.md.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from dataclasses import dataclass

from app import netmodel
from app.diagnose.base import Check, CheckResult, DiagnosisContext
from app.events import ScopedEmitter
from app.remote_files import RemoteFiles
from app.steps import Status
from app.transport import Command, Transport

DAEMON_JSON = "/etc/docker/daemon.json"
LOCAL_KV = "/var/lib/docker/network/files/local-kv.db"
# Interfaces Docker itself makes: they describe Docker's state, not the host's.
DOCKER_DEVICES = re.compile(r"^(docker\d+|br-[0-9a-f]+|veth.*)$")
MODERN_DOCKER = "Docker version 20.10.0 (assumed: no docker installed yet)"


@dataclass
class NetworkFacts:
    net: netmodel.HostNetwork  # as the kernel has it, Docker's own devices included
    host_net: netmodel.HostNetwork  # without Docker's own devices and routes
    options: netmodel.DaemonNetworkOptions
    daemon_json: str | None
    flags: str
    flag_source: str
    docker_version: str
    options_error: str | None = None


def without_docker(net: netmodel.HostNetwork) -> netmodel.HostNetwork:
    return netmodel.HostNetwork(
        routes=tuple(r for r in net.routes if not (r.dev and DOCKER_DEVICES.match(r.dev))),
        addresses=tuple(a for a in net.addresses if not DOCKER_DEVICES.match(a.dev)),
        nameservers=net.nameservers,
        docker_networks=(),
        docker0=None,
    )


def _env_value(text: str, name: str) -> str:
    """The value of NAME=... in a shell-style defaults file, without running it."""
    value = ""
    for line in text.splitlines():
        match = re.match(rf"^\s*(?:export\s+)?{name}=(.*)$", line)
        if match:
            try:
                parts = shlex.split(match.group(1), comments=True)
            except ValueError:
                parts = [match.group(1)]
            value = " ".join(parts)
    return value


async def daemon_flags(transport: Transport, files: RemoteFiles, init: str) -> tuple[str, str]:
    """The daemon's command-line options, and the file or unit they come from."""
    if init == "boot2docker":
        text = await files.read("/var/lib/boot2docker/profile") or ""
        return _env_value(text, "EXTRA_ARGS"), "/var/lib/boot2docker/profile EXTRA_ARGS"
    if init == "systemd":
        shown = await transport.run(Command("systemctl", "show", "docker", "-p", "ExecStart", "--no-pager"))
        match = re.search(r"argv\[\]=(\S+)\s+([^;]*);", shown.stdout)
        return (match.group(2).strip() if match else ""), "docker.service ExecStart"
    for path, name in (("/etc/default/docker", "DOCKER_OPTS"), ("/etc/sysconfig/docker", "OPTIONS")):
        text = await files.read(path)
        if text is not None:
            return _env_value(text, name), f"{path} {name}"
    return "", "none"


async def gather(ctx: DiagnosisContext, emit: ScopedEmitter) -> NetworkFacts:
    t = ctx.transport
    files = RemoteFiles(t, emit)
    routes_json = await t.run(Command("ip", "-j", "-4", "route"), emit=emit)
    routes: list[netmodel.Route] = []
    if routes_json.ok and routes_json.stdout.strip().startswith("["):
        routes = netmodel.parse_ip_json_routes(routes_json.stdout)
    else:
        plain = await t.run(Command("ip", "-4", "route"), emit=emit)
        if plain.ok:
            routes = netmodel.parse_ip_routes(plain.stdout)
        else:
            routes = netmodel.parse_route_n((await t.run(Command("route", "-n"), emit=emit)).stdout)
    addrs = await t.run(Command("ip", "-j", "-4", "addr"), emit=emit)
    addresses = netmodel.parse_ip_json_addresses(addrs.stdout) if addrs.ok else []
    resolv = await t.run(Command("cat", "/etc/resolv.conf"), emit=emit)
    nameservers = netmodel.parse_resolv_conf(resolv.stdout)
    docker_networks: list[tuple[str, ipaddress.IPv4Network]] = []
    if ctx.facts.get("docker_running"):
        listing = await t.run(Command("sh", "-c", "docker network inspect $(docker network ls -q)"),
                              sudo=True, emit=emit)
        if listing.ok:
            for network in json.loads(listing.stdout or "[]"):
                for cfg in (network.get("IPAM") or {}).get("Config") or []:
                    subnet = cfg.get("Subnet", "")
                    if subnet and ":" not in subnet:
                        docker_networks.append((network.get("Name", "?"), ipaddress.ip_network(subnet)))
    docker0 = next((a.interface for a in addresses if a.dev == "docker0"), None)
    net = netmodel.HostNetwork(tuple(routes), tuple(addresses), tuple(nameservers),
                               tuple(docker_networks), docker0)
    daemon_json = await files.read(DAEMON_JSON)
    flags, flag_source = await daemon_flags(t, files, ctx.facts.get("init", "none"))
    kv = await files.read_bytes(LOCAL_KV)
    options_error: str | None = None
    try:
        options = netmodel.parse_daemon_options(daemon_json, flags)
    except ValueError as exc:
        # Reported by the check; predict from what can be read.
        options_error = str(exc)
        options = netmodel.DaemonNetworkOptions()
    if kv:
        remembered = netmodel.remembered_subnet_from_local_kv(kv)
        if remembered is not None:
            options = netmodel.DaemonNetworkOptions(options.bip, options.default_address_pools,
                                                    remembered, options.fixed_cidr)
    version = ctx.facts.get("docker_version") or MODERN_DOCKER
    return NetworkFacts(net, without_docker(net), options, daemon_json, flags, flag_source, version,
                        options_error)


class NetworkCheck(Check):
    check_id = "network"
    title = "Route conflict"

    async def run(self, ctx: DiagnosisContext, emit: ScopedEmitter) -> CheckResult:
        from app.diagnose.network_fixes import DaemonNetworkFix, RouteDeleteFix

        facts = await gather(ctx, emit)
        ctx.facts["network"] = facts
        evidence: list[str] = []
        data: dict[str, object] = {
            "routes": [r.describe() for r in facts.net.routes],
            "nameservers": [str(n) for n in facts.net.nameservers],
            "daemon_flags": facts.flags, "flag_source": facts.flag_source,
        }
        if facts.daemon_json is not None:
            try:
                json.loads(facts.daemon_json)
            except ValueError as exc:
                return self.result(Status.FAILURE, f"{DAEMON_JSON} is not valid JSON ({exc})",
                                   evidence=["dockerd refuses to start with it: fix its syntax first; "
                                             "regwiz will not edit a file it cannot read"], data=data)
        if facts.options_error:
            return self.result(Status.FAILURE, f"the daemon's network options are malformed: {facts.options_error}",
                               evidence=[f"flags from {facts.flag_source}: {facts.flags}",
                                         "dockerd refuses to start with them: correct them first"], data=data)
        conflicts = netmodel.conflicting_options(facts.daemon_json, facts.flags)
        if conflicts:
            data["conflicting_options"] = conflicts
            return self.result(Status.FAILURE, f"set both in {DAEMON_JSON} and as a flag: {', '.join(conflicts)}",
                               evidence=[f"flags from {facts.flag_source}: {facts.flags}",
                                         "dockerd refuses to start when an option is given both ways "
                                         "(docker/for-linux#327): keep one"], data=data)
        # Predict from the host's own network: Docker's devices follow from its choice.
        prediction = netmodel.predict_bridge(
            netmodel.HostNetwork(facts.host_net.routes, facts.host_net.addresses, facts.net.nameservers,
                                 (), facts.net.docker0),
            facts.options, facts.docker_version)
        shadowing = netmodel.find_shadowing(
            netmodel.HostNetwork(facts.host_net.routes, facts.host_net.addresses, facts.net.nameservers,
                                 facts.net.docker_networks, facts.net.docker0),
            prediction.subnet)
        picture = netmodel.render_picture(facts.net, facts.options, prediction)
        data.update(predicted_subnet=str(prediction.subnet) if prediction.subnet else None,
                    prediction_source=prediction.source,
                    blamed_routes=[r.describe() for r in prediction.blamed_routes],
                    shadowing=[s.message for s in shadowing])
        evidence.append(prediction.message)
        for pool, why in prediction.skipped[:3]:
            evidence.append(f"pool {pool} skipped: {why}")
        if len(prediction.skipped) > 3:
            evidence.append(f"… and {len(prediction.skipped) - 3} more pools skipped (see the picture)")
        network_fix = DaemonNetworkFix(facts)
        if prediction.subnet is None:
            blamed = ", ".join(r.describe() for r in prediction.blamed_routes) or "none"
            evidence.insert(0, f"routes to blame: {blamed}")
            evidence.append(f"dockerd's own words: {prediction.error}")
            fixes = [network_fix] + [RouteDeleteFix(route, facts) for route in prediction.blamed_routes]
            return self.result(Status.FAILURE, "dockerd gets no address range: \"no available network\"",
                               evidence=evidence, fixes=fixes, picture=picture, data=data)
        if shadowing:
            evidence = [s.message for s in shadowing] + evidence
            return self.result(Status.WARNING, f"Docker's {shadowing[0].docker_subnet} shadows part of "
                               f"{shadowing[0].route.dest}, routed via {shadowing[0].route.gateway}",
                               evidence=evidence, fixes=[network_fix], picture=picture, data=data)
        return self.result(Status.OK, f"docker0 {'has' if prediction.source != 'pool' else 'will take'} "
                           f"{prediction.subnet}; no route conflict", evidence=evidence, picture=picture, data=data)
