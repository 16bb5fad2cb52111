"""What the host is (OS, init, architecture) and how its Docker is doing."""

from __future__ import annotations

from app import facts
from app.diagnose.base import Check, CheckResult, DiagnosisContext
from app.dockerd import explain_failure
from app.events import ScopedEmitter
from app.i18n import N_, _
from app.steps import Status
from app.transport import Command, shell


def parse_os_release(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _equals, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"')
    return values


class SystemCheck(Check):
    check_id = "system"
    title = N_("System")

    async def run(self, ctx: DiagnosisContext, emit: ScopedEmitter) -> CheckResult:
        t = ctx.transport
        os_release = parse_os_release((await t.run(Command("cat", "/etc/os-release"), emit=emit)).stdout)
        arch = (await t.run(Command("uname", "-m"), emit=emit)).stdout.strip()
        pid1 = (await t.run(Command("cat", "/proc/1/comm"), emit=emit)).stdout.strip()
        service = await facts.docker_service(t)
        init = {"systemd": "systemd", "openrc": "OpenRC", "boot2docker": _("boot2docker init"),
                "sysv": _("SysV/upstart init")}.get(service.init, pid1 or _("unknown"))
        ctx.facts.update(os=os_release, arch=arch, init=service.init, service=service)
        name = os_release.get("PRETTY_NAME") or os_release.get("NAME") or _("unknown OS")
        data = {"os": name, "id": os_release.get("ID", ""), "version": os_release.get("VERSION_ID", ""),
                "arch": arch, "init": service.init, "pid1": pid1}
        status = Status.OK if arch in ("x86_64", "aarch64", "arm64") else Status.WARNING
        summary = f"{name}, {arch}, {init}"
        evidence = [_("PID 1 is {name}").format(name=pid1)]
        if status is Status.WARNING:
            evidence.append(_("registry:2 images exist for amd64 and arm64; {arch} may have none").format(arch=arch))
        return self.result(status, summary, evidence=evidence, data=data)


class DockerCheck(Check):
    check_id = "docker"
    title = N_("Docker")

    async def run(self, ctx: DiagnosisContext, emit: ScopedEmitter) -> CheckResult:
        from app.diagnose.docker_fixes import EnableDockerFix, InstallDockerFix

        t = ctx.transport
        service = await facts.docker_service(t)
        ctx.facts["service"] = service
        found = await t.run(shell("command -v dockerd || command -v docker"), emit=emit)
        if not found.ok:
            ctx.facts["docker_version"] = None
            return self.result(Status.FAILURE, _("Docker is not installed"),
                               evidence=[_("neither dockerd nor docker is on the PATH")],
                               fixes=[InstallDockerFix(ctx.facts.get("os", {}))],
                               data={"installed": False})
        version_out = await t.run(shell("dockerd --version 2>/dev/null || docker --version"), emit=emit)
        version = version_out.stdout.strip()
        ctx.facts["docker_version"] = version
        running = await service.answers(t)
        enabled = await service.is_enabled(t)
        ctx.facts["docker_running"] = running
        data = {"installed": True, "version": version, "running": running, "enabled": enabled,
                "init": service.init}
        if running:
            if enabled is False:
                return self.result(Status.WARNING, _("{version}: running, but not started at boot").format(
                                   version=version), evidence=["systemctl is-enabled docker: disabled"],
                                   fixes=[EnableDockerFix(service)], data=data)
            return self.result(Status.OK, _("{version}: running").format(version=version), data=data)
        log = await service.recent_log(t, emit)
        cause = explain_failure(log)
        if cause is not None:
            data["cause"] = cause.cause
            return self.result(Status.FAILURE, _("{version}: the daemon fails to start: {cause}").format(
                                   version=version, cause=cause.cause),
                               evidence=[cause.evidence, _("fix: {fix}").format(fix=cause.fix)], data=data)
        failed = "fail" in log.lower() or "error" in log.lower()
        summary = (_("{version}: installed, not running") if failed
                   else _("{version}: installed, not running (never started)")).format(version=version)
        evidence = [line for line in log.splitlines()[-5:] if line.strip()] if failed else []
        return self.result(Status.WARNING, summary, evidence=evidence,
                           fixes=[EnableDockerFix(service)], data=data)
