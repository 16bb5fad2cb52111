"""Fixes for the Docker check: start (and enable) the daemon, or install Docker."""

from __future__ import annotations

from dataclasses import dataclass

from app import facts
from app.dockerd import DockerService, explain_failure
from app.i18n import N_, _
from app.steps import Plan, Step, StepContext
from app.transport import Command, shell

# Distribution id -> the package manager command that installs Docker from the
# distribution's own repositories (reachable from Aliyun's mirrors in China).
INSTALLERS: dict[str, tuple[str, str]] = {
    "apt": ("apt-get", "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io"),
    "dnf": ("dnf", "dnf install -y docker"),
    "yum": ("yum", "yum install -y docker"),
    "apk": ("apk", "apk add docker"),
    "zypper": ("zypper", "zypper --non-interactive install docker"),
}
# Run before apt: a run cut off earlier (a dropped session) may still hold the
# lock, or may have left dpkg half-way; wait for the one and finish the other.
APT_RECOVER = ("n=0; while pgrep -x 'apt-get|apt|dpkg' >/dev/null && [ $n -lt 600 ]; do "
               "[ $n = 0 ] && echo 'waiting for another apt or dpkg run to finish'; n=$((n+1)); sleep 1; done; "
               "DEBIAN_FRONTEND=noninteractive dpkg --configure -a && ")
PREPARE = {"apt": APT_RECOVER}


@dataclass(frozen=True)
class EnableDockerDecision:
    enable: bool  # systemd said "not enabled": enable it (and disable it again on rollback)


@dataclass(frozen=True)
class InstallDockerDecision:
    manager: str  # a key of INSTALLERS
    command: str


class EnableDockerFix(Step):
    title = N_("Start Docker and start it at boot")
    #: The checks a started dockerd can answer otherwise (docker0 appears): run again after it.
    rechecks = ("docker", "network")

    def __init__(self, service: DockerService) -> None:
        self.service = service
        self._answered = False  # apply's restart saw dockerd answer

    async def plan(self, ctx: StepContext) -> Plan:
        actions = []
        running, enabled = await self.service.running_and_enabled(ctx.transport)
        enable = enabled is False
        if enable:
            actions.append(_("enable docker.service at boot ({command})").format(command="systemctl enable docker"))
        if not running:
            actions.append(_("start the Docker daemon"))
        return Plan(_("Start the Docker daemon"), actions=actions, decision=EnableDockerDecision(enable))

    async def apply(self, ctx: StepContext, plan: Plan) -> None:
        assert isinstance(plan.decision, EnableDockerDecision)
        facts.forget(ctx.transport, facts.DockerState)  # what the diagnosis saw is about to change
        self._answered = await self.service.restart(ctx.transport, ctx.emit, enable=plan.decision.enable)

    async def verify(self, ctx: StepContext) -> str | None:
        # The restart waited until dockerd answered: asking again at once would repeat that check.
        if self._answered or await self.service.answers(ctx.transport):
            return None
        cause = explain_failure(await self.service.recent_log(ctx.transport, ctx.emit))
        return _("the daemon did not start: {cause}").format(cause=cause.said_cause) if cause else \
            _("the daemon did not start")

    async def rollback(self, ctx: StepContext) -> None:
        await self.service.stop(ctx.transport, ctx.emit)
        decision = self.applied.decision if self.applied is not None else None
        if isinstance(decision, EnableDockerDecision) and decision.enable and self.service.init == "systemd":
            await ctx.transport.run(Command("systemctl", "disable", "docker"), sudo=True, emit=ctx.emit)


class InstallDockerFix(Step):
    title = N_("Install Docker with the distribution's package manager")

    def __init__(self, os_release: dict[str, str]) -> None:
        self.os_release = os_release

    async def plan(self, ctx: StepContext) -> Plan:
        for manager, (binary, command) in INSTALLERS.items():
            if (await ctx.transport.run(Command("sh", "-c", f"command -v {binary}"))).ok:
                return Plan(_("Install Docker with {manager}").format(manager=manager),
                            actions=[command, _("start Docker and start it at boot")],
                            decision=InstallDockerDecision(manager, command))
        name = self.os_release.get("PRETTY_NAME", _("this system"))
        return Plan(_("Install Docker"), refused=_(
            "regwiz knows no package manager on {name} (looked for apt-get, dnf, yum, apk, zypper). "
            "Install Docker by hand (docs.docker.com/engine/install), then run the diagnosis again.").format(
                name=name))

    async def apply(self, ctx: StepContext, plan: Plan) -> None:
        assert isinstance(plan.decision, InstallDockerDecision)
        decision = plan.decision
        facts.forget(ctx.transport, facts.DockerState)  # what the diagnosis saw is about to change
        await ctx.transport.run(shell(PREPARE.get(decision.manager, "") + decision.command), sudo=True,
                                emit=ctx.emit, timeout=900, check=True)
        facts.forget(ctx.transport, DockerService)  # its init may be found only now
        service = await facts.docker_service(ctx.transport)
        await service.enable(ctx.transport, ctx.emit)
        await service.restart(ctx.transport, ctx.emit)

    async def verify(self, ctx: StepContext) -> str | None:
        service = await facts.docker_service(ctx.transport)
        return None if await service.answers(ctx.transport) else \
            _("Docker was installed but its daemon does not answer")

    async def rollback(self, ctx: StepContext) -> None:
        # An installed package is left in place: removing it could take away
        # what the user had. The message says what happened instead.
        ctx.emit.warning(_("Docker stays installed; see the log above for why its daemon did not start"))

    async def verify_rollback(self, ctx: StepContext, plan: Plan) -> str | None:
        # The package stays: once it is there, the host is not "as it was before" (it had no Docker).
        if (await ctx.transport.run(shell("command -v dockerd || command -v docker"))).ok:
            return _("Docker stays installed (the package is left in place), but its daemon does not answer: "
                     "see its log above, then run the diagnosis again")
        return None
