"""Making a Docker daemon trust the registry, by the way its init system wants it.

With TLS: the CA in /etc/docker/certs.d/HOST:PORT/ca.crt, read on each pull:
no restart. Only for an insecure registry: `insecure-registries` in daemon.json
(reloaded by SIGHUP), or `--insecure-registry` in DOCKER_OPTS (SysV, upstart),
OPTIONS (RHEL's /etc/sysconfig/docker) or EXTRA_ARGS (boot2docker), which need a
restart. Never the same option both as a flag and in daemon.json: dockerd
refuses to start then (docker/for-linux#327).

Docker 29.10 on: an explicit `insecure-registries` list no longer makes loopback
insecure-allowed for free (moby#53868). Where regwiz writes that list for such a
daemon, in daemon.json or as --insecure-registry flags, it also lists 127.0.0.0/8
and ::1/128, so a localhost tunnel keeps working (older daemons add them
themselves: no entry, no diff).
"""

from __future__ import annotations

import asyncio
import enum
import json
import re
from dataclasses import dataclass

from app import dockerd, facts
from app.clients import edits
from app.clients.kinds.docker import DockerKind
from app.clients.model import RegistryTarget
from app.clients.runtimes import DockerStore
from app.dockerd import DockerService, explain_failure
from app.i18n import N_, _
from app.remote_files import FileChange, RemoteFiles
from app.steps import Plan, Step, StepContext, service_down
from app.transport import Command, shell

# What dockerd itself appended before moby#53868: daemon/pkg/registry/config.go
# loadInsecureRegistries at docker-v29.7.2 (and master b985e2313a): `registries = append(registries,
# "::1/128", "127.0.0.0/8")`; the entries go through netip.ParsePrefix there, so CIDRs are accepted.
# Commit 06ea9cd3bf removes that line (in 29.10, not yet on master in the mirror read here).
LOOPBACK_INSECURE = ("127.0.0.0/8", "::1/128")


def docker_version(text: str) -> tuple[int, int, int] | None:
    """(29, 10, 0) from `docker version --format {{.Server.Version}}` ("29.10.0") or `dockerd --version`."""
    match = re.search(r"(?<![\d.])(\d+)\.(\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def loopback_entries(version: tuple[int, int, int] | None) -> tuple[str, ...]:
    """What an explicit insecure-registries list must also hold for a localhost tunnel on this Docker."""
    return LOOPBACK_INSECURE if DockerStore(version, False).loopback_insecure_only_by_default else ()


def with_insecure(daemon_json: str | None, address: str, version: tuple[int, int, int] | None) -> str:
    """daemon.json with ``address`` (and, on Docker 29.10+, loopback) in insecure-registries."""
    new = edits.add_to_json_list(daemon_json, "insecure-registries", address)
    for entry in loopback_entries(version):
        new = edits.add_to_json_list(new, "insecure-registries", entry)
    return new


def with_insecure_flags(text: str | None, var: str, address: str, version: tuple[int, int, int] | None) -> str:
    """A flag file (DOCKER_OPTS, OPTIONS, EXTRA_ARGS) with ``--insecure-registry address``, and loopback on 29.10+.

    The flag fills the same list as daemon.json's key (moby docker-v29.7.2 daemon/command/config.go
    installCommonConfigFlags: NewNamedListOptsRef("insecure-registries", &conf.InsecureRegistries,
    ValidateIndexName)), which loadInsecureRegistries reads: the 29.10 rule holds for flags alike.
    """
    new = edits.add_flag(text, var, "--insecure-registry", address)
    for entry in loopback_entries(version):
        new = edits.add_flag(new, var, "--insecure-registry", entry)
    return new


class DaemonAction(enum.Enum):
    """What dockerd needs after the files change, the strongest first."""

    RESTART = "restart"  # flags are read only at start
    RELOAD = "reload"  # daemon.json's insecure-registries and mirrors: SIGHUP
    DESKTOP = "desktop"  # Docker Desktop: the user restarts it from its menu
    NOTHING = "nothing"  # certs.d is read on each pull


_ACTIONS = {DaemonAction.RESTART: [N_("restart dockerd (flags are read only at start)")],
            DaemonAction.RELOAD: [N_("reload dockerd's configuration (SIGHUP, no restart)")],
            DaemonAction.DESKTOP: [N_("then restart Docker Desktop yourself (its menu: Restart) to apply daemon.json")],
            DaemonAction.NOTHING: []}


@dataclass(frozen=True)
class DockerTrustDecision:
    action: DaemonAction
    service: DockerService  # how this host's init runs dockerd


@dataclass
class _Change:
    file: FileChange
    needs: DaemonAction


class DockerTrustStep(Step):
    writes_first = True  # apply writes its files before anything else
    def __init__(self, kind: DockerKind, registry: RegistryTarget) -> None:
        self.kind = kind
        self.registry = registry
        self.title = _("Trust {address} ({kind})").format(address=registry.address, kind=kind.value)
        self._rollback_failure: str | None = None  # what the rollback's own restart found, for verify_rollback

    @property
    def _sudo(self) -> bool:
        return not self.kind.user_daemon  # Docker Desktop's ~/.docker is the user's own

    async def _docker_dir(self, ctx: StepContext) -> str:
        """/etc/docker, or ~/.docker for Docker Desktop (the user's own files: no sudo)."""
        if self._sudo:
            return "/etc/docker"
        home = (await ctx.transport.run(shell('printf %s "$HOME"'))).stdout.strip()
        return f"{home}/.docker"

    def _decision(self) -> DockerTrustDecision:
        assert self.applied is not None and isinstance(self.applied.decision, DockerTrustDecision)
        return self.applied.decision

    async def _docker_version(self, ctx: StepContext) -> tuple[int, int, int] | None:
        """The daemon's version; the installed dockerd's when the daemon does not answer."""
        result = await ctx.transport.run(shell(
            "docker version --format '{{.Server.Version}}' 2>/dev/null || dockerd --version 2>/dev/null"),
            sudo=self.kind.sudo)
        return docker_version(result.stdout)

    async def _changes(self, ctx: StepContext) -> list[_Change] | str:
        r = self.registry
        files = RemoteFiles(ctx.transport, ctx.emit, sudo=self._sudo)  # reads only: ctx.files is left as it is
        docker_dir = await self._docker_dir(ctx)
        daemon_path = f"{docker_dir}/daemon.json"
        ca_path = f"{docker_dir}/certs.d/{r.address}/ca.crt"
        wanted = [ca_path] if r.tls and r.ca_pem else []
        wanted += [daemon_path] + ([self.kind.flag_file[0]] if r.insecure and self.kind.flag_file else [])
        # The files this step may change in one read, with how the host runs dockerd when that is not
        # known yet (the plan's decision names it).
        known = facts.known(ctx.transport, DockerService)
        read, *probe = await facts.read_in_one(
            ctx.transport, [files.read_snippet(wanted)] + ([] if known else [dockerd.DETECT]), sudo=self._sudo)
        if probe and (found := DockerService.from_probe(probe[0].text)).init != "none":
            facts.remember(ctx.transport, found)  # as facts.docker_service keeps it
        async with files.prefetched(wanted, read=read):
            return await self._changes_of(ctx, files, docker_dir, daemon_path)

    async def _changes_of(self, ctx: StepContext, files: RemoteFiles, docker_dir: str,
                          daemon_path: str) -> list[_Change] | str:
        r = self.registry
        changes: list[_Change] = []
        reload = DaemonAction.RELOAD if self._sudo else DaemonAction.DESKTOP
        if r.tls and r.ca_pem:
            path = f"{docker_dir}/certs.d/{r.address}/ca.crt"
            changes.append(_Change(FileChange(path, await files.read(path), r.ca_pem.decode()), DaemonAction.NOTHING))
        daemon_json = await files.read(daemon_path)
        try:
            json_keys = json.loads(daemon_json) if daemon_json and daemon_json.strip() else {}
        except ValueError:
            return _("{path} is not valid JSON: fix it first (regwiz will not edit it)").format(path=daemon_path)
        if r.insecure:
            flag_file = self.kind.flag_file  # (file, variable) of the kind's init, or None
            if flag_file and "insecure-registries" not in json_keys:
                path, var = flag_file
                text = await files.read(path)
                new = with_insecure_flags(text, var, r.address, await self._docker_version(ctx))
                changes.append(_Change(FileChange(path, text, new), DaemonAction.RESTART))
            else:
                if flag_file:
                    text = await files.read(flag_file[0]) or ""
                    if edits.flag_values(text, flag_file[1], "--insecure-registry"):
                        return _("insecure registries are set both in {flags} and {path}: dockerd refuses that; "
                                 "keep one").format(flags=flag_file[0], path=daemon_path)
                new = with_insecure(daemon_json, r.address, await self._docker_version(ctx))
                changes.append(_Change(FileChange(daemon_path, daemon_json, new), reload))
        if r.cache:
            base = next((c.file.new for c in changes if c.file.path == daemon_path), daemon_json)
            new = edits.add_to_json_list(base, "registry-mirrors", r.url)
            changes = [c for c in changes if c.file.path != daemon_path]
            changes.append(_Change(FileChange(daemon_path, daemon_json, new), reload))
        return changes

    async def plan(self, ctx: StepContext) -> Plan:
        changes = await self._changes(ctx)
        if isinstance(changes, str):
            return Plan(self.title, refused=changes)
        needs = {c.needs for c in changes if c.file.changes_anything}
        action = next((a for a in DaemonAction if a in needs), DaemonAction.NOTHING)
        decision = DockerTrustDecision(action, await facts.docker_service(ctx.transport))
        return Plan(self.title, changes=[c.file for c in changes], actions=[_(a) for a in _ACTIONS[action]],
                    decision=decision, files_sudo=self._sudo)

    async def _apply_needs(self, ctx: StepContext, decision: DockerTrustDecision) -> None:
        if decision.action is DaemonAction.RESTART:
            await decision.service.restart(ctx.transport, ctx.emit)
        elif decision.action is DaemonAction.RELOAD:
            await ctx.transport.run(shell("kill -HUP $(pidof dockerd)"), sudo=True, emit=ctx.emit, check=True)

    async def apply(self, ctx: StepContext, plan: Plan) -> None:
        assert isinstance(plan.decision, DockerTrustDecision)
        for change in plan.changes:
            if change.changes_anything:
                await ctx.files.write(change)
        await self._apply_needs(ctx, plan.decision)

    async def verify(self, ctx: StepContext) -> str | None:
        decision = self._decision()
        service = decision.service
        if decision.action is DaemonAction.DESKTOP:
            ctx.emit.warning(_("restart Docker Desktop to apply the new daemon.json"))
            return None
        if decision.action is DaemonAction.NOTHING:
            # Only certs.d changed: dockerd was neither restarted nor reloaded, and reads the CA
            # on each pull. Asking it whether it answers (a docker CLI run, ~0.1 s of the
            # client's CPU) would prove nothing about this change; the pull that follows does.
            return None
        if not await service.wait_until_answering(ctx.transport, 30):
            cause = explain_failure(await service.recent_log(ctx.transport, ctx.emit))
            return _("dockerd did not come back: {cause}").format(cause=cause.said_cause) if cause \
                else _("dockerd did not come back")
        if self.registry.insecure or self.registry.cache:
            for _attempt in range(20):
                info = await ctx.transport.run(
                    Command("docker", "info", "--format", "{{json .RegistryConfig}}"), sudo=True)
                text = info.stdout
                if (not self.registry.insecure or self.registry.address in text) and \
                        (not self.registry.cache or self.registry.url in text):
                    return None
                await asyncio.sleep(0.5)
            return _("dockerd answers but does not show the new registry settings")
        return None

    async def rollback(self, ctx: StepContext) -> None:
        decision = self._decision()
        service = decision.service
        self._rollback_failure = None
        await ctx.files.restore_all()
        if decision.action is DaemonAction.RESTART:
            if not await service.restart(ctx.transport, ctx.emit):
                ctx.emit.error(_("dockerd did not come back with the old settings either: see its log"))
                cause = explain_failure(await service.recent_log(ctx.transport, ctx.emit))
                # Not "as it was before": run_step reports this as the state the host is left in.
                self._rollback_failure = service_down(service, ctx.transport.label,
                                                      cause.said_cause if cause else None,
                                                      cause.said_fix if cause else None)
        elif decision.action is DaemonAction.RELOAD:
            await ctx.transport.run(shell("kill -HUP $(pidof dockerd)"), sudo=True, emit=ctx.emit)

    async def verify_rollback(self, ctx: StepContext, plan: Plan) -> str | None:
        files = await super().verify_rollback(ctx, plan)
        return "; ".join(p for p in (files, self._rollback_failure) if p) or None

    def restarted_service(self) -> DockerService | None:
        """Only a restart or a reload touches dockerd: a CA-only change needs no check of it."""
        if self.applied is None:
            return None
        decision = self._decision()
        return decision.service if decision.action in (DaemonAction.RESTART, DaemonAction.RELOAD) else None

