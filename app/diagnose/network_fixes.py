"""Fixes for the route conflict.

- ``DaemonNetworkFix`` (recommended): give dockerd address ranges that overlap
  nothing, in /etc/docker/daemon.json; no route is touched.
- ``RouteDeleteFix`` (the seed's way): delete a conflicting route and the line
  that restores it at boot. Refused for a route that carries the SSH session.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from dataclasses import dataclass

from app import facts, netmodel
from app.diagnose.network_facts import DAEMON_JSON, LOCAL_KV, NetworkFacts
from app.dockerd import DockerService, explain_failure
from app.i18n import N_, _
from app.remote_files import FileChange
from app.steps import Plan, Step, StepContext
from app.transport import Command, shell
from app.transport.local import LocalTransport


DOCKER0_ADDRESSES = ("ip", "-j", "-4", "addr", "show", "docker0")


def _forget_what_changes(ctx: StepContext) -> None:
    """The network and dockerd's state the diagnosis gathered no longer hold once a fix starts."""
    facts.forget(ctx.transport, NetworkFacts)
    facts.forget(ctx.transport, facts.DockerState)


def _configured_ranges_are_clean(facts: NetworkFacts) -> bool:
    """daemon.json already sets bip and pools, and they overlap nothing of the host's."""
    options = facts.options
    if options.bip is None or not options.default_address_pools:
        return False
    taken = [r.dest for r in facts.host_net.routes if not r.is_default]
    taken += [a.interface.network for a in facts.host_net.addresses]
    taken += [ipaddress.IPv4Network(f"{n}/32") for n in facts.host_net.nameservers]
    taken += [net for net, _why in netmodel.CLOUD_RESERVED]
    ranges = [options.bip.network] + [base for base, _size in options.default_address_pools]
    return not any(r.overlaps(t) for r in ranges for t in taken)


@dataclass(frozen=True)
class DaemonNetworkDecision:
    address_plan: netmodel.AddressPlan  # docker0's bip and the pool new networks come from
    service: DockerService
    clear_kv: bool  # move local-kv.db aside: it remembers another subnet, which dockerd would reuse
    was_running: bool
    was_enabled: bool | None  # None: not systemd
    had_docker0: bool
    #: local-kv.db was not there when planned (dockerd never started): nothing to back up, and its
    #: absence is checked in the command that writes daemon.json. False in plans saved before it.
    kv_absent: bool = False


class DaemonNetworkFix(Step):
    writes_first = True  # apply writes its files before anything else
    title = N_("Give Docker free address ranges (daemon.json bip and default-address-pools)")
    #: It rewrites daemon.json and restarts dockerd: the checks that can answer otherwise after it.
    rechecks = ("docker", "network")

    def __init__(self, facts: NetworkFacts) -> None:
        self.facts = facts
        self._answered = False  # apply's restart saw dockerd answer
        self._docker0: str | None = None  # what DOCKER0_ADDRESSES printed then (None: not read then)

    def _decision(self) -> DaemonNetworkDecision:
        assert self.applied is not None and isinstance(self.applied.decision, DaemonNetworkDecision)
        return self.applied.decision

    @property
    def address_plan(self) -> netmodel.AddressPlan | None:
        """The ranges of the plan applied (None before one is)."""
        return self._decision().address_plan if self.applied is not None else None

    async def plan(self, ctx: StepContext) -> Plan:
        # daemon.json and dockerd's state (whether it answers, whether it starts at boot) in one command.
        service = await facts.docker_service(ctx.transport)
        file_reply, *state = await facts.read_in_one(
            ctx.transport, [ctx.files.read_snippet([DAEMON_JSON]), *service.state_reads()], sudo=True, timeout=20)
        async with ctx.files.prefetched([DAEMON_JSON], read=file_reply):
            current = await ctx.files.read(DAEMON_JSON)
        try:
            config = json.loads(current) if current and current.strip() else {}
        except ValueError as exc:
            return Plan(_(self.title), refused=_("{file} is not valid JSON ({error}); fix it first, "
                                                 "regwiz will not rewrite a file it cannot read").format(
                                                     file=DAEMON_JSON, error=exc))
        if not isinstance(config, dict):
            return Plan(_(self.title), refused=_("{file} does not hold a JSON object").format(file=DAEMON_JSON))
        flag_options = netmodel.parse_daemon_options(None, self.facts.flags)
        if flag_options.bip or flag_options.default_address_pools:
            return Plan(_(self.title), refused=_(
                "the daemon's flags ({source}) already set bip or default-address-pools; "
                "setting them in {file} too would stop dockerd (docker/for-linux#327). "
                "Change them there instead.").format(source=self.facts.flag_source, file=DAEMON_JSON))
        was_running, was_enabled = service.state_of(state)
        actions = []
        if _configured_ranges_are_clean(self.facts):
            new_text = current
            options = self.facts.options
            assert options.bip is not None
            address_plan = netmodel.AddressPlan(options.bip, *options.default_address_pools[0])
        else:
            address_plan = netmodel.plan_addresses(self.facts.host_net)
            merged = dict(config)
            merged.update(address_plan.daemon_json_values())
            new_text = json.dumps(merged, indent=2) + "\n"
        remembered = self.facts.options.remembered_subnet
        bip_net = address_plan.bip.network
        clear_kv = remembered is not None and remembered != bip_net
        if clear_kv:
            actions.append(_("move {file} aside (it remembers {subnet}; dockerd would reuse it)").format(
                file=LOCAL_KV, subnet=remembered))
        docker0 = self.facts.net.docker0
        healthy = was_running and docker0 is not None and docker0.network == bip_net
        if new_text != current or clear_kv or not healthy:
            actions.append(_("restart docker") if was_running else _("start docker"))
        if was_enabled is False:
            actions.append(_("start docker at boot ({command})").format(command="systemctl enable docker"))
        change = FileChange(DAEMON_JSON, current, new_text, mode=0o644)
        summary = _("docker0 gets {bip}; new networks come from {base} in /{size}s").format(
            bip=address_plan.bip, base=address_plan.pool_base, size=address_plan.pool_size)
        decision = DaemonNetworkDecision(address_plan, service, clear_kv, was_running, was_enabled,
                                         docker0 is not None, kv_absent=not self.facts.local_kv_present)
        return Plan(summary, changes=[change], actions=actions, decision=decision)

    async def apply(self, ctx: StepContext, plan: Plan) -> None:
        assert isinstance(plan.decision, DaemonNetworkDecision)
        decision, service = plan.decision, plan.decision.service
        _forget_what_changes(ctx)
        writes = [change for change in plan.changes if change.changes_anything]
        # The first start writes the bridge's subnet into local-kv.db, where later starts take it from: a
        # rollback must take that back too. Planned absent, it is checked absent in the write's own command
        # (it holds the user's networks: a rollback must never remove one dockerd wrote meanwhile).
        first_start = not decision.clear_kv and not decision.was_running
        if first_start and decision.kv_absent and writes:
            await ctx.files.write_all(writes, absent=[LOCAL_KV])
        else:
            for change in writes:
                await ctx.files.write(change)
            if first_start:
                await ctx.files.backup(LOCAL_KV)
        if decision.clear_kv:
            await service.stop(ctx.transport, ctx.emit)
            await ctx.files.backup(LOCAL_KV)
            await ctx.transport.run(Command("rm", "-f", LOCAL_KV), sudo=True, emit=ctx.emit, check=True)
        # docker0's addresses, which verify checks, read in the restart's own command.
        self._answered, self._docker0 = await service.restart_reading(
            ctx.transport, ctx.emit, read=shlex.join(DOCKER0_ADDRESSES), enable=decision.was_enabled is False)

    async def verify(self, ctx: StepContext) -> str | None:
        decision = self._decision()
        service = decision.service
        # The restart waited until dockerd answered: asking again at once would repeat that check.
        if not self._answered and not await service.answers(ctx.transport):
            cause = explain_failure(await service.recent_log(ctx.transport, ctx.emit))
            return _("docker did not come back: {cause}").format(cause=cause.said_cause) if cause else \
                _("docker did not come back")
        printed = self._docker0 if self._answered else None
        if printed is None:
            shown = await ctx.transport.run(Command(*DOCKER0_ADDRESSES), emit=ctx.emit)
            printed = shown.stdout if shown.ok else ""
        addresses = netmodel.parse_ip_json_addresses(printed) if printed.strip().startswith("[") else []
        want = decision.address_plan.bip.network
        if not any(a.interface.network == want for a in addresses):
            got = ", ".join(str(a.interface) for a in addresses) or _("no address")
            return _("docker0 has {found}, not {wanted}").format(found=got, wanted=want)
        return None

    async def rollback(self, ctx: StepContext) -> None:
        decision = self._decision()
        service = decision.service
        await service.stop(ctx.transport, ctx.emit)
        await ctx.files.restore_all()
        if decision.was_enabled is False:
            await ctx.transport.run(Command("systemctl", "disable", "docker"), sudo=True, emit=ctx.emit)
        if decision.was_running and not await service.restart(ctx.transport, ctx.emit):
            ctx.emit.error(_("docker did not come back after the rollback either: see its log above"))
        if not decision.was_running and not decision.had_docker0:
            # A dockerd that started during the step left its bridge behind; with
            # it, the next dockerd would take its address and hide the conflict.
            await ctx.transport.run(shell('! ip link show docker0 >/dev/null 2>&1 || ip link delete docker0'),
                                    sudo=True, emit=ctx.emit)


def persistent_route_lines(text: str, dest: ipaddress.IPv4Network) -> list[str]:
    """Lines of a network configuration file that add this route at boot.

    Matches ifupdown's `up route add -net A netmask M ...` and `up ip route add
    A/N ...`, and RHEL route-* files (`A/N via ...` or ADDRESSn=/NETMASKn=).
    """
    network = str(dest.network_address)
    forms = [
        rf"\broute\s+add\s+-net\s+{re.escape(network)}\s+netmask\s+{re.escape(str(dest.netmask))}\b",
        rf"\broute\s+add\s+-net\s+{re.escape(str(dest))}(\s|$)",
        rf"\bip\s+(-4\s+)?route\s+add\s+{re.escape(str(dest))}(\s|$)",
        rf"^\s*{re.escape(str(dest))}\s+(via|dev)\s",
    ]
    return [line for line in text.splitlines() if any(re.search(f, line) for f in forms)]


PERSISTENT_FILES = ("/etc/network/interfaces", "/etc/sysconfig/network-scripts/route-eth0",
                    "/etc/sysconfig/network-scripts/route-eth1")


@dataclass(frozen=True)
class RouteDeleteDecision:
    route_args: tuple[str, ...]  # `ip route del|add` arguments: the destination, its gateway and device
    service: DockerService | None  # dockerd, restarted after the delete (None: no dockerd here)


class RouteDeleteFix(Step):
    #: It deletes a route and restarts dockerd: the checks that can answer otherwise after it.
    rechecks = ("docker", "network")

    def __init__(self, route: netmodel.Route, facts: NetworkFacts) -> None:
        self.route = route
        self.facts = facts
        self.title = _("Delete the route {route} (the seed's way)").format(route=route.describe())
        self._deleted = False  # what apply did: the route is gone (rollback adds it back)

    def _decision(self) -> RouteDeleteDecision:
        assert self.applied is not None and isinstance(self.applied.decision, RouteDeleteDecision)
        return self.applied.decision

    async def _session_route(self, ctx: StepContext) -> netmodel.Route | None:
        """The route this host uses to reach us: deleting it would cut the session."""
        if isinstance(ctx.transport, LocalTransport):
            return None
        conn = await ctx.transport.run(shell('printf %s "$SSH_CONNECTION"'), emit=ctx.emit)
        fields = conn.stdout.split()
        if not fields:
            return None
        client = ipaddress.ip_address(fields[0])
        await ctx.transport.run(Command("ip", "route", "get", str(client)), emit=ctx.emit)
        candidates = [r for r in self.facts.net.routes if client in r.dest]
        return max(candidates, key=lambda r: r.dest.prefixlen, default=None)

    async def plan(self, ctx: StepContext) -> Plan:
        if self.route.is_default:
            return Plan(self.title, refused=_("the default route carries all outside traffic; "
                                              "regwiz never deletes it"))
        carrier = await self._session_route(ctx)
        if carrier is not None and carrier.dest == self.route.dest:
            return Plan(self.title, refused=_(
                "{route} carries this SSH session (the host reaches this machine through it): "
                "deleting it would cut you off. Use the recommended daemon.json fix instead.").format(
                    route=self.route.describe()))
        changes = []
        for path in PERSISTENT_FILES:
            text = await ctx.files.read(path)
            if text is None:
                continue
            lines = set(persistent_route_lines(text, self.route.dest))
            if lines:
                kept = "".join(line for line in text.splitlines(keepends=True) if line.rstrip("\n") not in lines)
                changes.append(FileChange(path, text, kept))
        actions = [f"ip route del {self.route.describe()}"]
        if not changes:
            actions.append(_("(no network configuration file re-adds this route at boot)"))
        service = None
        if (await ctx.transport.run(shell("command -v dockerd"))).ok:
            service = await facts.docker_service(ctx.transport)
            actions.append(_("restart docker so it picks a free range"))
        return Plan(
            _("Delete {route}: hosts in {dest} will no longer be reached through it").format(
                route=self.route.describe(), dest=self.route.dest),
            changes=changes, actions=actions, typed_confirmation=str(self.route.dest),
            decision=RouteDeleteDecision(tuple(self._route_args()), service))

    def _route_args(self) -> list[str]:
        args = [str(self.route.dest)]
        if self.route.gateway is not None:
            args += ["via", str(self.route.gateway)]
        if self.route.dev:
            args += ["dev", self.route.dev]
        return args

    async def apply(self, ctx: StepContext, plan: Plan) -> None:
        assert isinstance(plan.decision, RouteDeleteDecision)
        _forget_what_changes(ctx)
        self._deleted = False
        await ctx.transport.run(Command("ip", "route", "del", *plan.decision.route_args), sudo=True,
                                emit=ctx.emit, check=True)
        self._deleted = True
        for change in plan.changes:
            await ctx.files.write(change)
        if plan.decision.service is not None:
            await plan.decision.service.restart(ctx.transport, ctx.emit)

    async def verify(self, ctx: StepContext) -> str | None:
        shown = await ctx.transport.run(Command("ip", "-4", "route", "show", str(self.route.dest)), emit=ctx.emit)
        if shown.stdout.strip():
            return _("the route is still there: {route}").format(route=shown.stdout.strip())
        service = self._decision().service
        if service is not None and not await service.answers(ctx.transport):
            cause = explain_failure(await service.recent_log(ctx.transport, ctx.emit))
            return _("docker still does not start: {cause}").format(cause=cause.said_cause) if cause else \
                _("docker still does not start")
        return None

    async def rollback(self, ctx: StepContext) -> None:
        if self._deleted:
            await ctx.transport.run(Command("ip", "route", "add", *self._decision().route_args), sudo=True,
                                    emit=ctx.emit)
        await ctx.files.restore_all()

