"""What the host is (OS, init, architecture) and how its Docker is doing."""

from __future__ import annotations

from app import facts
from app.facts import DockerState
from app.diagnose.base import Check, CheckResult, DiagnosisContext
from app.dockerd import explain_failure
from app.events import ScopedEmitter
from app.i18n import N_, _
from app.steps import Status


class SystemCheck(Check):
    check_id = "system"
    reads_docker_service = True
    title = N_("System")

    async def run(self, ctx: DiagnosisContext, emit: ScopedEmitter) -> CheckResult:
        t = ctx.transport
        system = await facts.host_system(t, emit)
        os_release, arch, pid1 = system.os_release, system.arch, system.pid1
        service = await facts.docker_service(t)
        init = {"systemd": "systemd", "openrc": "OpenRC", "boot2docker": _("boot2docker init"),
                "sysv": _("SysV/upstart init")}.get(service.init, pid1 or _("unknown"))
        name = system.name or _("unknown OS")
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
    reads_docker_service = True
    title = N_("Docker")

    async def run(self, ctx: DiagnosisContext, emit: ScopedEmitter) -> CheckResult:
        from app.diagnose.docker_fixes import EnableDockerFix, InstallDockerFix

        t = ctx.transport
        service = await facts.docker_service(t)
        # The check reads the host afresh (a re-check after a fix must see the fix), and keeps what it
        # read for the checks after it (the network check needs the version and whether it runs).
        state = await DockerState.gather(t, emit)
        facts.remember(t, state)
        if not state.installed:
            system = await facts.host_system(t, emit)
            return self.result(Status.FAILURE, _("Docker is not installed"),
                               evidence=[_("neither dockerd nor docker is on the PATH")],
                               fixes=[InstallDockerFix(dict(system.os_release))],
                               data={"installed": False})
        version = state.version or ""
        running = state.running
        enabled = state.enabled
        data = {"installed": True, "version": version, "running": running, "enabled": enabled,
                "init": service.init}
        if running:
            if enabled is False:
                return self.result(Status.WARNING, _("{version}: running, but not started at boot").format(
                                   version=version), evidence=["systemctl is-enabled docker: disabled"],
                                   fixes=[EnableDockerFix(service)], data=data)
            return self.result(Status.OK, _("{version}: running").format(version=version), data=data)
        log = state.log or ""
        cause = explain_failure(log)
        if cause is not None:
            data["cause"] = cause.cause
            return self.result(Status.FAILURE, _("{version}: the daemon fails to start: {cause}").format(
                                   version=version, cause=cause.said_cause),
                               evidence=[cause.evidence, _("fix: {fix}").format(fix=cause.said_fix)], data=data)
        failed = "fail" in log.lower() or "error" in log.lower()
        summary = (_("{version}: installed, not running") if failed
                   else _("{version}: installed, not running (never started)")).format(version=version)
        evidence = [line for line in log.splitlines()[-5:] if line.strip()] if failed else []
        return self.result(Status.WARNING, summary, evidence=evidence,
                           fixes=[EnableDockerFix(service)], data=data)
