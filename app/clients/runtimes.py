"""containerd and podman/CRI-O: their own trust files, edited with tomlkit.

containerd: /etc/containerd/certs.d/HOST:PORT/hosts.toml, enabled by
config_path in the CRI registry table of config.toml, in the layout of the
file's own version (comments and other settings kept):

- ``version = 2`` (containerd 1.x; 2.x reads it too):
  ``[plugins."io.containerd.grpc.v1.cri".registry] config_path``
- ``version = 3`` (containerd 2.x): ``[plugins.'io.containerd.cri.v1.images'.registry] config_path``

A table of the other layout is not an error to containerd: 2.1.9 logs
"Ignoring unknown key in TOML for plugin" and goes on without it (REFERENCE.md,
seen here). So after the restart the step checks ``containerd config dump``
for the path, and the daemon's log for that line, and rolls back on either.
The proof is a real pull with ``ctr`` through the hosts dir (prove_pull_ctr).

Docker with the containerd image store (DockerStoreHostsStep): that store takes
its registry hosts from hosts.toml files under /etc/docker/certs.d, not from
/etc/containerd/certs.d (moby v28.5.2 daemon/hosts.go RegistryHosts:
``HostDir: hostconfig.HostDirFromRoot(registry.CertsDir())``, CertsDir being
/etc/docker/certs.d, registry/config_unix.go); ``insecure-registries`` reaches it
only in part (docker/cli#6748, moby#51080; see the step).

podman, CRI-O: a registries.conf.d drop-in and the CA in /etc/containers/certs.d/HOST:PORT/.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shlex
import tomllib
from dataclasses import dataclass
from typing import AsyncIterator, Sequence

import tomlkit

from app.clients.model import RegistryTarget
from app.events import ScopedEmitter
from app.i18n import _
from app.remote_files import FileChange
from app.steps import Plan, Step, StepContext
from app.transport import Command, Transport, TransportError, shell

CONTAINERD_CONFIG = "/etc/containerd/config.toml"
CERTS_D = "/etc/containerd/certs.d"
DOCKER_CERTS_D = "/etc/docker/certs.d"
#: What containerd logs for a table it does not know in the file's layout (2.1.9, seen here).
IGNORED_KEY = "Ignoring unknown key in TOML for plugin"


def hosts_toml(registry: RegistryTarget, certs_dir: str = CERTS_D) -> str:
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"Written by regwiz for the registry at {registry.address}"))
    doc["server"] = registry.url
    host = tomlkit.table()
    host["capabilities"] = ["pull", "resolve", "push"]
    if registry.tls and registry.ca_pem:
        host["ca"] = f"{certs_dir}/{registry.address}/ca.crt"
    if registry.insecure:
        host["skip_verify"] = True
    hosts = tomlkit.table(is_super_table=True)
    hosts[registry.url] = host
    doc["host"] = hosts
    return tomlkit.dumps(doc)


# -- containerd's config.toml, by the file's own version ----------------------------------

#: The table that holds the CRI registry settings, per config version.
REGISTRY_TABLE = {
    1: ("cri", "registry"),  # containerd 1.x files without a version key
    2: ("io.containerd.grpc.v1.cri", "registry"),
    3: ("io.containerd.cri.v1.images", "registry"),
}


class ConfigRefused(ValueError):
    """config.toml cannot be given config_path safely; the message says why and what to do."""


def containerd_major(version_output: str) -> int | None:
    """2 from "containerd github.com/containerd/containerd/v2 2.1.9+ds1 ..." (1.x likewise)."""
    match = re.search(r"\s[v]?(\d+)\.(\d+)\.\d+", version_output)
    return int(match.group(1)) if match else None


def config_version(text: str | None, major: int | None) -> int:
    """The layout version of config.toml as containerd reads it (a new file: the daemon's own)."""
    if not text or not text.strip():
        return 3 if (major or 1) >= 2 else 2
    version = tomllib.loads(text).get("version")
    if version is None:
        if (major or 1) >= 2:
            # containerd 2 no longer reads version 1 files (its migration starts at 2).
            raise ConfigRefused(_("{path} has no `version` key, which containerd 2 does not read: write "
                                  "`containerd config default` there first, then run regwiz again").format(
                                      path=CONTAINERD_CONFIG))
        return 1
    if version not in REGISTRY_TABLE:
        raise ConfigRefused(_("{path} says version = {version}, which regwiz does not know").format(
            path=CONTAINERD_CONFIG, version=repr(version)))
    return int(version)


def existing_config_path(text: str | None, major: int | None) -> str | None:
    """config_path already set in the table of the file's version, or None."""
    if not text or not text.strip():
        return None
    plugin, table = REGISTRY_TABLE[config_version(text, major)]
    value = tomllib.loads(text).get("plugins", {}).get(plugin, {}).get(table, {}).get("config_path")
    return value or None


def certs_dir_for(text: str | None, major: int | None) -> str:
    """Where hosts.toml goes: the first directory of an existing config_path, else CERTS_D."""
    existing = existing_config_path(text, major)
    return existing.split(":")[0] if existing else CERTS_D


def containerd_config_with_path(text: str | None, major: int | None = 1) -> str:
    """config.toml with config_path set in the CRI registry table of the file's own version."""
    version = config_version(text, major)
    doc = tomlkit.parse(text) if text and text.strip() else tomlkit.document()
    if not text or not text.strip():
        doc.add(tomlkit.comment("Written by regwiz: only the registry hosts directory is set here"))
        doc["version"] = version
    plugin, table = REGISTRY_TABLE[version]
    plugins = doc.setdefault("plugins", tomlkit.table(is_super_table=True))
    cri = plugins.setdefault(plugin, tomlkit.table(is_super_table=True))
    registry = cri.setdefault(table, tomlkit.table())
    if not isinstance(registry, dict):
        raise ConfigRefused(_("{path}: {table} is not a table").format(path=CONTAINERD_CONFIG,
                                                                      table=f"plugins.{plugin}.{table}"))
    # (the default config of 1.7 has both as empty tables: those are fine)
    legacy = [key for key in ("mirrors", "configs") if registry.get(key)]
    if legacy:
        # CRI refuses config_path beside the deprecated inline settings.
        raise ConfigRefused(_("{path} sets registry {keys} inline (deprecated); containerd will not take "
                              "config_path beside them: move them to hosts.toml files under {folder} first").format(
                                  path=CONTAINERD_CONFIG, keys=_(" and ").join(legacy), folder=CERTS_D))
    existing = registry.get("config_path")
    if not existing:
        registry["config_path"] = CERTS_D
    return tomlkit.dumps(doc)


def dumped_config_path(dump: str, major: int | None) -> str | None:
    """config_path of the CRI images plugin in `containerd config dump` (always the daemon's own layout)."""
    try:
        doc = tomllib.loads(dump)
    except tomllib.TOMLDecodeError:
        return None
    version = doc.get("version") or (3 if (major or 1) >= 2 else 2)
    plugin, table = REGISTRY_TABLE.get(int(version), REGISTRY_TABLE[2])
    return doc.get("plugins", {}).get(plugin, {}).get(table, {}).get("config_path") or None


# -- services: systemd where it is PID 1, else the SysV script --------------------------

_IS_SYSTEMD = "[ -d /run/systemd/system ]"


async def service_action(transport: Transport, service: str, action: str, emit: ScopedEmitter | None = None,
                         check: bool = False) -> bool:
    """`systemctl ACTION SERVICE` under systemd, else `/etc/init.d/SERVICE ACTION`."""
    script = (f'if {_IS_SYSTEMD}; then exec systemctl "$2" "$1"; '
              'elif [ -x "/etc/init.d/$1" ]; then exec "/etc/init.d/$1" "$2"; '
              'else echo "no systemd and no /etc/init.d/$1 to $2 it with" >&2; exit 3; fi')
    result = await transport.run(shell(script, service, action), sudo=True, emit=emit, check=check)
    return result.ok


async def service_active(transport: Transport, service: str) -> bool:
    script = (f'if {_IS_SYSTEMD}; then systemctl is-active --quiet "$1"; '
              'elif [ -x "/etc/init.d/$1" ]; then "/etc/init.d/$1" status >/dev/null 2>&1; '
              'else exit 3; fi')
    return (await transport.run(shell(script, service), sudo=True)).ok


# containerd's log since a mark: the journal under systemd, else the file its SysV script writes.
_LOG_MARK = 'date +%s; wc -c < /var/log/containerd.log 2>/dev/null || echo 0'
_LOG_SINCE = (f'if {_IS_SYSTEMD}; then journalctl -u containerd --no-pager -q --since "@$1" 2>/dev/null; '
              'else tail -c "+$(($2 + 1))" /var/log/containerd.log 2>/dev/null; fi')


@dataclass(frozen=True)
class FilesDecision:
    """Which service, if any, is restarted once the files are written."""

    service: str = ""  # "" none; "containerd", "crio"
    restart: bool = False
    #: containerd only: its major version (None: not installed) and the hosts directory it reads.
    major: int | None = None
    certs_dir: str = CERTS_D


class _FilesStep(Step):
    writes_first = True  # apply writes its files before anything else
    service = ""

    def __init__(self, registry: RegistryTarget) -> None:
        self.registry = registry

    async def wanted(self, ctx: StepContext) -> tuple[list[FileChange], FilesDecision]:
        raise NotImplementedError

    def restart_needed(self, changes: list[FileChange]) -> bool:
        return any(c.changes_anything for c in changes)

    async def restarted_by(self, ctx: StepContext) -> str:
        """The service whose restart applies the files ("" none)."""
        return self.service

    async def plan(self, ctx: StepContext) -> Plan:
        try:
            changes, decision = await self.wanted(ctx)
        except ConfigRefused as exc:
            return Plan(self.title, refused=str(exc))
        except Exception as exc:  # tomlkit raises several parse error types
            return Plan(self.title, refused=_("an existing configuration file could not be read: {error}").format(
                error=exc))
        service = await self.restarted_by(ctx)
        active = await service_active(ctx.transport, service) if service else False
        restart = active and self.restart_needed(changes)
        decision = dataclasses.replace(decision, service=service, restart=restart)
        actions = [_("restart {service}").format(service=service)] if restart else []
        return Plan(self.title, changes=changes, actions=actions, decision=decision)

    def _decision(self) -> FilesDecision:
        assert self.applied is not None and isinstance(self.applied.decision, FilesDecision)
        return self.applied.decision

    async def apply(self, ctx: StepContext, plan: Plan) -> None:
        assert isinstance(plan.decision, FilesDecision)
        for change in plan.changes:
            if change.changes_anything:
                await ctx.files.write(change)
        if plan.decision.restart:
            await service_action(ctx.transport, plan.decision.service, "restart", ctx.emit, check=True)

    async def verify(self, ctx: StepContext) -> str | None:
        decision = self._decision()
        if decision.restart and not await service_active(ctx.transport, decision.service):
            return _("{service} did not come back").format(service=decision.service)
        return None

    async def rollback(self, ctx: StepContext) -> None:
        decision = self._decision()
        await ctx.files.restore_all()
        if decision.restart:
            await service_action(ctx.transport, decision.service, "restart", ctx.emit)

    async def verify_rollback(self, ctx: StepContext, plan: Plan) -> str | None:
        """The files are the backups again, and the daemon the step restarted runs again (it ran before)."""
        files = await super().verify_rollback(ctx, plan)
        assert isinstance(plan.decision, FilesDecision)
        service = plan.decision.service
        if files or not plan.decision.restart or await service_active(ctx.transport, service):
            return files
        log = _("{journal} (or {file} without systemd)").format(journal=f"`journalctl -u {service}`",
                                                              file=f"/var/log/{service}.log")
        return _("rolled back the files, but {service} does not run with them either: it is down on "
                 "{host}; see {log}, fix what it says, then start it ({systemctl}, or {initd})").format(
                     service=service, host=ctx.transport.label, log=log,
                     systemctl=f"`sudo systemctl start {service}`", initd=f"`sudo /etc/init.d/{service} start`")


class ContainerdTrustStep(_FilesStep):
    service = "containerd"

    def __init__(self, registry: RegistryTarget) -> None:
        super().__init__(registry)
        self.title = _("containerd: trust {address}").format(address=registry.address)
        self._log_mark: tuple[str, str] = ("0", "0")

    async def wanted(self, ctx: StepContext) -> tuple[list[FileChange], FilesDecision]:
        r = self.registry
        version = await ctx.transport.run(Command("containerd", "--version"))
        major = containerd_major(version.stdout)
        config = await ctx.files.read(CONTAINERD_CONFIG)
        new_config = containerd_config_with_path(config, major)
        certs_dir = certs_dir_for(new_config, major)
        base = f"{certs_dir}/{r.address}"
        changes = [FileChange(f"{base}/hosts.toml", await ctx.files.read(f"{base}/hosts.toml"),
                              hosts_toml(r, certs_dir))]
        if r.tls and r.ca_pem:
            changes.append(FileChange(f"{base}/ca.crt", await ctx.files.read(f"{base}/ca.crt"), r.ca_pem.decode()))
        changes.append(FileChange(CONTAINERD_CONFIG, config, new_config))
        return changes, FilesDecision(major=major, certs_dir=certs_dir)

    def restart_needed(self, changes: list[FileChange]) -> bool:
        # hosts.toml and ca.crt are read on each pull; only config.toml needs a restart.
        return any(c.changes_anything for c in changes if c.path == CONTAINERD_CONFIG)

    async def apply(self, ctx: StepContext, plan: Plan) -> None:
        assert isinstance(plan.decision, FilesDecision)
        if plan.decision.restart:
            mark = (await ctx.transport.run(shell(_LOG_MARK), sudo=True)).stdout.split()
            self._log_mark = (mark[0], mark[1]) if len(mark) == 2 else ("0", "0")
        await super().apply(ctx, plan)

    async def verify(self, ctx: StepContext) -> str | None:
        problem = await super().verify(ctx)
        if problem:
            return problem
        decision = self._decision()
        if decision.major is None:
            ctx.emit.warning(_("containerd is not installed here: its files are written for it, not verified"))
            return None
        # containerd's own words first: its log says which key it ignored, the dump only that it is unset.
        ignored: list[str] = []
        if decision.restart:
            log = await ctx.transport.run(shell(_LOG_SINCE, *self._log_mark), sudo=True)
            ignored = [line.strip() for line in log.stdout.splitlines() if IGNORED_KEY in line]
        dump = await ctx.transport.run(Command("containerd", "config", "dump"), sudo=True)
        found = dumped_config_path(dump.stdout, decision.major)
        if ignored:
            return _("containerd ignored a setting: {line}").format(line=ignored[0][-300:])
        if not dump.ok or not found or decision.certs_dir not in found.split(":"):
            return _("{command} does not show config_path = {wanted} for the CRI images plugin (it shows "
                     "{found}): containerd did not take the setting").format(
                         command="`containerd config dump`", wanted=repr(decision.certs_dir), found=repr(found or ""))
        if decision.restart:
            for _attempt in range(25):  # the restarted daemon answers before a pull is tried
                if (await ctx.transport.run(Command("ctr", "version"), sudo=True)).ok:
                    return None
                await asyncio.sleep(0.2)
            return _("containerd did not answer after its restart")
        return None


# -- proving a containerd client: a real pull with ctr ----------------------------------

#: Inside a pty made by util-linux `script`: echo off and raw input first, then a marker line; the
#: password is written only after the marker, so it is never echoed, never in argv.
_CTR_PULL = ('stty raw -echo && echo regwiz-ready && '
             'exec ctr images pull --hosts-dir "$1" --user "$2" "$3"')
_READY = "regwiz-ready"


async def prove_pull_ctr(transport: Transport, registry: RegistryTarget, emit: ScopedEmitter,
                         certs_dir: str = CERTS_D) -> float:
    """`ctr images pull --hosts-dir ...` of the test image; return the seconds it took.

    ctr takes a password only inside `--user USER:PASS` (argv) or from a terminal
    prompt when `--user` has no ':' (containerd cmd/ctr/commands/resolver.go,
    passwordPrompt: console.Current(), echo disabled, one line read). So with
    credentials the pull runs in a pty (`script`) and the password is typed into it.
    """
    ref = registry.image_ref()
    await transport.run(Command("ctr", "images", "rm", ref), sudo=True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    if registry.username and registry.password is not None:
        secret = registry.password.reveal()
        if "\n" in secret or "\r" in secret:
            raise TransportError(_("the registry password holds a line break, which ctr's password prompt "
                                   "cannot take: prove this client with another registry user"))
        if not (await transport.run(shell("command -v script"))).ok:
            raise TransportError(_("proving a containerd client needs util-linux's `script` (ctr reads a "
                                   "password only from a terminal): install util-linux, or pull by hand"))
        ready = asyncio.Event()

        def on_lines(stream: str, lines: Sequence[str]) -> None:
            if any(line.strip() == _READY for line in lines):
                ready.set()

        async def typed() -> AsyncIterator[bytes]:
            try:
                await asyncio.wait_for(ready.wait(), 15)
            except asyncio.TimeoutError:
                return  # the pty never came up: the command fails on its own
            yield (secret + "\n").encode()

        inner = shlex.join(["sh", "-c", _CTR_PULL, "regwiz", certs_dir, registry.username, ref])
        result = await transport.run(Command("script", "-qec", inner, "/dev/null"), sudo=True, stdin=typed(),
                                     emit=emit, on_lines=on_lines, timeout=600)
    else:
        result = await transport.run(Command("ctr", "images", "pull", "--hosts-dir", certs_dir, ref),
                                     sudo=True, emit=emit, timeout=600)
    seconds = loop.time() - started
    if not result.ok:
        from app.clients.errors import explain_pull_error

        text = result.stderr + result.stdout
        why = explain_pull_error(text, registry.address)
        detail = _("{cause}; fix: {fix}").format(cause=why.cause, fix=why.fix) if why \
            else (text.strip().splitlines() or [_("no output")])[-1]
        raise TransportError(_("the pull with ctr failed: {detail}").format(detail=detail))
    return seconds


# -- Docker with the containerd image store -------------------------------------------

@dataclass(frozen=True)
class DockerStore:
    """Which image store a dockerd uses, from `docker version` and `docker info`."""

    version: tuple[int, int, int] | None
    containerd: bool  # the containerd image store (snapshotters), not a graph driver

    @classmethod
    def parse(cls, server_version: str, driver_status: str) -> "DockerStore":
        match = re.match(r"(\d+)\.(\d+)\.(\d+)", server_version.strip())
        version = (int(match[1]), int(match[2]), int(match[3])) if match else None
        # `docker info`: DriverStatus [["driver-type" "io.containerd.snapshotter.v1"]] with the
        # containerd store (moby daemon/info.go fillDriverInfo, v28.5.2).
        return cls(version, "io.containerd.snapshotter" in driver_status)

    @property
    def loopback_insecure_only_by_default(self) -> bool:
        """Docker 29.10 on: an explicit insecure-registries list no longer holds loopback for free.

        moby#53868 (commit 06ea9cd3bf, daemon/pkg/registry/config.go
        loadInsecureRegistries: the line appending "::1/128", "127.0.0.0/8" removed);
        docker-v29.7.2 still appends them.
        """
        return self.version is not None and self.version >= (29, 10, 0)

    @property
    def store_by_default(self) -> bool:
        """Fresh Docker 29 installs use the containerd store unless told otherwise (REFERENCE.md)."""
        return self.version is not None and self.version >= (29, 0, 0)


async def docker_store(transport: Transport) -> DockerStore:
    result = await transport.run(shell(
        "docker version --format '{{.Server.Version}}' 2>/dev/null; echo; "
        "docker info --format '{{json .DriverStatus}}' 2>/dev/null"), sudo=True)
    lines = result.stdout.splitlines()
    return DockerStore.parse(lines[0] if lines else "", "\n".join(lines[1:]))


class DockerStoreHostsStep(Step):
    """An insecure registry for Docker's containerd store: hosts.toml under /etc/docker/certs.d.

    That store reads containerd hosts files from Docker's certs.d (moby v28.5.2
    daemon/hosts.go), on each pull, so no restart. `insecure-registries` is
    merged in only when no such file exists and one host results
    (mergeLegacyConfig): a pull from an HTTP registry with it alone worked on
    sid's 28.5.2 here, but pushes and other paths are reported to ignore it
    (docker/cli#6748, moby#51080), so the hosts file says it for every path.
    A TLS registry needs nothing more: the same lookup takes ca.crt from there.
    """

    writes_first = True  # apply writes its files before anything else

    def __init__(self, registry: RegistryTarget) -> None:
        self.registry = registry
        self.title = _("Docker's containerd image store: trust {address}").format(address=registry.address)

    async def plan(self, ctx: StepContext) -> Plan:
        store = await docker_store(ctx.transport)
        if not store.containerd or not self.registry.insecure:
            return Plan(self.title)
        path = f"{DOCKER_CERTS_D}/{self.registry.address}/hosts.toml"
        change = FileChange(path, await ctx.files.read(path), hosts_toml(self.registry, DOCKER_CERTS_D))
        return Plan(self.title, changes=[change])

    async def apply(self, ctx: StepContext, plan: Plan) -> None:
        for change in plan.changes:
            if change.changes_anything:
                await ctx.files.write(change)

    async def verify(self, ctx: StepContext) -> str | None:
        return None  # read on each pull: the pull that follows is the proof

    async def rollback(self, ctx: StepContext) -> None:
        await ctx.files.restore_all()


def registries_conf(registry: RegistryTarget) -> str:
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"Written by regwiz for the registry at {registry.address}"))
    entry = tomlkit.table()
    entry["location"] = registry.address
    entry["insecure"] = registry.insecure
    aot = tomlkit.aot()
    aot.append(entry)
    doc["registry"] = aot
    return tomlkit.dumps(doc)


class PodmanTrustStep(_FilesStep):
    service = ""  # podman has no daemon; CRI-O re-reads registries on restart

    def __init__(self, registry: RegistryTarget) -> None:
        super().__init__(registry)
        self.title = _("podman/CRI-O: trust {address}").format(address=registry.address)

    async def wanted(self, ctx: StepContext) -> tuple[list[FileChange], FilesDecision]:
        r = self.registry
        name = r.address.replace(":", "-")
        conf = f"/etc/containers/registries.conf.d/50-regwiz-{name}.conf"
        changes = [FileChange(conf, await ctx.files.read(conf), registries_conf(r))]
        if r.tls and r.ca_pem:
            ca = f"/etc/containers/certs.d/{r.address}/ca.crt"
            changes.append(FileChange(ca, await ctx.files.read(ca), r.ca_pem.decode()))
        return changes, FilesDecision()

    async def restarted_by(self, ctx: StepContext) -> str:
        crio = await ctx.transport.run(shell("systemctl is-active crio 2>/dev/null"))
        return "crio" if crio.stdout.strip() == "active" else ""
