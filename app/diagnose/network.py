"""The route/bridge conflict: read the host's network, predict what dockerd will do.

On Aliyun ECS, routes over 172.16.0.0/12 (and 192.168.0.0/16) can leave dockerd
no free default pool ("no available network"), or, as gateway routes, let
docker0 silently shadow part of the VPC. See REFERENCE.md.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import shlex

from app import netmodel
from app.diagnose.base import Check, CheckResult, DiagnosisContext
# The facts and constants live in network_facts, which the fixes import too: no import cycle.
from app.diagnose.network_facts import DAEMON_JSON, DOCKER_DEVICES, LOCAL_KV, MODERN_DOCKER, NetworkFacts
from app.diagnose.network_fixes import DaemonNetworkFix, RouteDeleteFix
from app.dockerd import FailureCause, explain_failure
from app.events import ScopedEmitter
from app.facts import DockerState, docker_service, docker_state, known, read_in_one, remember
from app.i18n import N_, _
from app.remote_files import RemoteFiles
from app.steps import Status
from app.transport import Command, Transport

__all__ = ["DAEMON_JSON", "DOCKER_DEVICES", "LOCAL_KV", "MODERN_DOCKER", "NetworkCheck", "NetworkFacts"]


def without_docker(net: netmodel.HostNetwork) -> netmodel.HostNetwork:
    return netmodel.HostNetwork(
        routes=tuple(r for r in net.routes if not (r.dev and DOCKER_DEVICES.match(r.dev))),
        addresses=tuple(a for a in net.addresses if not DOCKER_DEVICES.match(a.dev)),
        nameservers=net.nameservers,
        docker_networks=(),
        docker0=None,
        resolved_nameservers=net.resolved_nameservers,
        stub_resolver_only=net.stub_resolver_only,
    )


def logged_failure(ctx: DiagnosisContext) -> FailureCause | None:
    """The failure the daemon itself logged, from the log the Docker check read (None if it read none)."""
    state = known(ctx.transport, DockerState)
    if state is None or state.running:
        return None  # a running daemon's log was not read, and any old failure is over
    return explain_failure(state.log) if state.log else None


def _nameserver_note(facts: NetworkFacts, rules: netmodel.BridgeRules) -> str | None:
    net = facts.net
    if not net.stub_resolver_only:
        return None
    if rules.reads_resolved_file:
        found = ", ".join(str(n) for n in net.resolved_nameservers or ()) or _("none")
        return _("/etc/resolv.conf names only {stub}: dockerd {version} checks the nameservers of {file} "
                 "instead ({found})").format(stub=netmodel.RESOLVED_STUB, version=rules.version,
                                             file=netmodel.RESOLVED_RESOLV_CONF, found=found)
    return _("/etc/resolv.conf names only {stub}: dockerd {version} reads it as is").format(
        stub=netmodel.RESOLVED_STUB, version=rules.version)


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


BOOT2DOCKER_PROFILE = "/var/lib/boot2docker/profile"
SHOW_EXEC_START = ("systemctl", "show", "docker", "-p", "ExecStart", "--no-pager")
#: Where a SysV/upstart or RHEL init script takes dockerd's flags from, and the variable, in the order read.
FLAG_FILES = {"/etc/default/docker": "DOCKER_OPTS", "/etc/sysconfig/docker": "OPTIONS"}


async def daemon_flags(transport: Transport, files: RemoteFiles, init: str,
                       exec_start: str | None = None) -> tuple[str, str]:
    """The daemon's command-line options, and the file or unit they come from.

    ``exec_start``: what `systemctl show docker -p ExecStart` printed, when the caller read it already.
    """
    if init == "boot2docker":
        text = await files.read(BOOT2DOCKER_PROFILE) or ""
        return _env_value(text, "EXTRA_ARGS"), f"{BOOT2DOCKER_PROFILE} EXTRA_ARGS"
    if init == "systemd":
        if exec_start is None:
            exec_start = (await transport.run(Command(*SHOW_EXEC_START))).stdout
        match = re.search(r"argv\[\]=(\S+)\s+([^;]*);", exec_start)
        return (match.group(2).strip() if match else ""), "docker.service ExecStart"
    for path, name in FLAG_FILES.items():
        found = await files.read(path)
        if found is not None:
            return _env_value(found, name), f"{path} {name}"
    return "", "none"


async def gather(ctx: DiagnosisContext, emit: ScopedEmitter) -> NetworkFacts:
    t = ctx.transport
    docker = await docker_state(t, emit)  # the Docker check's, when it ran on this connection
    files = RemoteFiles(t, emit)
    init = (await docker_service(t)).init
    # One round trip (as root: local-kv.db is root's): the routes, addresses, resolv.conf, the unit's
    # flags, the files the prediction reads (the flag files only where no unit holds the flags), and a
    # running daemon's networks. `ip -j` prints JSON or nothing.
    wanted = [DAEMON_JSON, LOCAL_KV] + {
        "boot2docker": [BOOT2DOCKER_PROFILE], "systemd": []}.get(init, list(FLAG_FILES))
    reads = ["ip -j -4 route", "ip -j -4 addr", "cat /etc/resolv.conf", files.read_snippet(wanted),
             "docker network inspect $(docker network ls -q)" if docker.running else "true"]
    if init == "systemd":
        reads.append(shlex.join(SHOW_EXEC_START))
    replies = await read_in_one(t, reads, emit, sudo=True)
    routes_json, addrs_json, resolv_text = (reply.text for reply in replies[:3])
    file_reply, networks = replies[3], replies[4]
    exec_start = replies[5].text if init == "systemd" else ""
    routes: list[netmodel.Route] = []
    if routes_json.strip().startswith("["):
        routes = netmodel.parse_ip_json_routes(routes_json)
    else:
        plain = await t.run(Command("ip", "-4", "route"), emit=emit)
        if plain.ok:
            routes = netmodel.parse_ip_routes(plain.stdout)
        else:
            routes = netmodel.parse_route_n((await t.run(Command("route", "-n"), emit=emit)).stdout)
    addresses = netmodel.parse_ip_json_addresses(addrs_json) if addrs_json.strip().startswith("[") else []
    nameservers = netmodel.parse_resolv_conf(resolv_text)
    # With only systemd-resolved's stub listed, dockerd 19.03+ reads the resolved file instead
    # (moby v19.03.0 libnetwork/resolvconf Path()): read it then (a command of its own: resolv.conf
    # says whether it is needed), so the prediction can use the nameservers the installed version
    # really checks; a missing file means none.
    stub_only = netmodel.names_only_resolved_stub(resolv_text)
    async with files.prefetched(wanted, read=file_reply):
        daemon_json = await files.read(DAEMON_JSON)
        kv = await files.read_bytes(LOCAL_KV)
        flags, flag_source = await daemon_flags(t, files, init, exec_start if init == "systemd" else None)
    resolved_text = await files.read(netmodel.RESOLVED_RESOLV_CONF) if stub_only else None
    resolved: tuple[ipaddress.IPv4Address, ...] | None = None
    if stub_only:
        resolved = tuple(netmodel.parse_resolv_conf(resolved_text or ""))
    docker_networks: list[tuple[str, ipaddress.IPv4Network]] = []
    if docker.running and networks.ok:
        for network in json.loads(networks.text or "[]"):
            for cfg in (network.get("IPAM") or {}).get("Config") or []:
                subnet = cfg.get("Subnet", "")
                if subnet and ":" not in subnet:
                    docker_networks.append((network.get("Name", "?"), ipaddress.IPv4Network(subnet)))
    docker0 = next((a.interface for a in addresses if a.dev == "docker0"), None)
    net = netmodel.HostNetwork(tuple(routes), tuple(addresses), tuple(nameservers),
                               tuple(docker_networks), docker0, resolved, stub_only)
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
            # Keep every other option: live-restore, -b, ipv6 and whether pools were set decide too.
            options = dataclasses.replace(options, remembered_subnet=remembered)
    version = docker.version or MODERN_DOCKER
    return NetworkFacts(net, without_docker(net), options, daemon_json, flags, flag_source, version,
                        options_error, local_kv_present=kv is not None)


class NetworkCheck(Check):
    check_id = "network"
    reads_docker_service = True
    title = N_("Route conflict")
    needs = ("docker",)  # the Docker check's DockerState (its version, whether the daemon runs)

    async def run(self, ctx: DiagnosisContext, emit: ScopedEmitter) -> CheckResult:
        facts = await gather(ctx, emit)
        remember(ctx.transport, facts)  # what the fixes were planned from, for the caller to read
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
                return self.result(Status.FAILURE, _("{file} is not valid JSON ({error})").format(
                                       file=DAEMON_JSON, error=exc),
                                   evidence=[_("dockerd refuses to start with it: fix its syntax first; "
                                               "regwiz will not edit a file it cannot read")], data=data)
        if facts.options_error:
            return self.result(Status.FAILURE, _("the daemon's network options are malformed: {error}").format(
                                   error=facts.options_error),
                               evidence=[_("flags from {source}: {flags}").format(source=facts.flag_source,
                                                                                   flags=facts.flags),
                                         _("dockerd refuses to start with them: correct them first")], data=data)
        conflicts = netmodel.conflicting_options(facts.daemon_json, facts.flags)
        if conflicts:
            data["conflicting_options"] = conflicts
            return self.result(Status.FAILURE, _("set both in {file} and as a flag: {options}").format(
                                   file=DAEMON_JSON, options=", ".join(conflicts)),
                               evidence=[_("flags from {source}: {flags}").format(source=facts.flag_source,
                                                                                   flags=facts.flags),
                                         _("dockerd refuses to start when an option is given both ways "
                                           "(docker/for-linux#327): keep one")], data=data)
        # Predict from everything the daemon sees: existing networks and their br-* routes block
        # pools too (docker0's own route is left out by the rules: it is rebuilt with docker0).
        prediction = netmodel.predict_bridge(facts.net, facts.options, facts.docker_version)
        logged = logged_failure(ctx)
        shadowing = netmodel.find_shadowing(
            netmodel.HostNetwork(facts.host_net.routes, facts.host_net.addresses, facts.net.nameservers,
                                 facts.net.docker_networks, facts.net.docker0),
            prediction.subnet)
        note = _nameserver_note(facts, prediction.rules)
        picture = netmodel.render_picture(facts.net, facts.options, prediction)
        data.update(predicted_subnet=str(prediction.subnet) if prediction.subnet else None,
                    prediction_source=prediction.source,
                    blamed_routes=[r.describe() for r in prediction.blamed_routes],
                    shadowing=[s.message for s in shadowing],
                    rules_version=str(prediction.rules.version),
                    daemon_logged=logged.evidence if logged else None)
        evidence.append(prediction.message)
        if note:
            evidence.append(note)
        for pool, why in prediction.skipped[:3]:
            evidence.append(_("pool {pool} skipped: {why}").format(pool=pool, why=why))
        if len(prediction.skipped) > 3:
            more = len(prediction.skipped) - 3
            evidence.append(_("… and {count} more pools skipped (see the picture)").format(count=more))
        network_fix = DaemonNetworkFix(facts)
        if prediction.source == "none":
            blamed = ", ".join(r.describe() for r in prediction.blamed_routes) or _("none")
            evidence.insert(0, _("routes to blame: {routes}").format(routes=blamed))
            evidence += _failure_words(prediction, logged, "address-pools",
                                       _("dockerd will fail to find a free address pool"))
            seen = logged is not None and logged.kind == "address-pools"
            summary = (_("dockerd found no available network for docker0 (its log says so)") if seen else
                       _("dockerd will find no available network for docker0 (predicted)"))
            # Routes of Docker's own bridges are no host routes to delete.
            host_routes = [r for r in prediction.blamed_routes if not (r.dev and DOCKER_DEVICES.match(r.dev))]
            fixes = [network_fix] + [RouteDeleteFix(route, facts) for route in host_routes]
            return self.result(Status.FAILURE, summary, evidence=evidence, fixes=fixes, picture=picture, data=data)
        if prediction.source == "refused":
            evidence += _failure_words(prediction, logged, "other", _("dockerd will refuse these options"))
            return self.result(Status.FAILURE, prediction.message, evidence=evidence, picture=picture, data=data)
        if logged is not None and logged.kind == "address-pools":
            evidence.append(_("its log holds an earlier failure, in dockerd's own words: {words} "
                              "(the settings read now predict a start)").format(words=logged.evidence))
        if prediction.subnet is None:  # -b none, or a bridge of the user's: nothing of docker0 to check
            return self.result(Status.OK, prediction.message, evidence=evidence, picture=picture, data=data)
        if shadowing:
            evidence = [s.message for s in shadowing] + evidence
            return self.result(Status.WARNING, _("Docker's {subnet} shadows part of {dest}, routed via {gateway}")
                               .format(subnet=shadowing[0].docker_subnet, dest=shadowing[0].route.dest,
                                       gateway=shadowing[0].route.gateway),
                               evidence=evidence, fixes=[network_fix], picture=picture, data=data)
        summary = (_("docker0 will take {subnet}; no route conflict") if prediction.source == "pool"
                   else _("docker0 has {subnet}; no route conflict")).format(subnet=prediction.subnet)
        return self.result(Status.OK, summary, evidence=evidence, picture=picture, data=data)


def _failure_words(prediction: netmodel.BridgePrediction, logged: FailureCause | None, kind: str,
                   predicted: str) -> list[str]:
    """Evidence for a failure: the daemon's own line when its log holds one, else a plain prediction."""
    if logged is not None and logged.kind == kind:
        return [_("dockerd's own words (from its log): {words}").format(words=logged.evidence)]
    lines = [_("predicted: {prediction} (not seen in its log)").format(prediction=predicted)]
    if prediction.expected_error:
        lines.append(_("dockerd {version} reports this as \"{error}\" (wording taken from moby's source, "
                       "not from this host's log)").format(version=prediction.rules.version,
                                                            error=prediction.expected_error))
    return lines
