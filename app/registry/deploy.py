"""The deploy step: registry:2 as a container named `registry`, the safe way.

Host layout (``HOST_DIR``, root only): config.yml (0600: it may hold cloud
keys), certs/server.crt and server.key (0600), auth/htpasswd (0600). The
certs and auth folders are mounted, not single files, so a replaced htpasswd
(written atomically: a new inode) is seen by the running registry, which
re-reads it: adding a user needs no restart.

Idempotent: the container carries a label with a digest of everything that
needs a restart to change; the same choices again plan nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from app import dockerd, facts, htpasswd, pki
from app.diagnose.resources import parse_ss_listeners
from app.registry import config as regconfig
from app.registry.image import HubProbe, ImageSource, Progress, StagedImage, ensure_image, image_present
from app.redact import Secret
from app.remote_files import FileChange
from app.steps import Plan, Step, StepContext
from app.events import ScopedEmitter
from app.i18n import N_, _
from app.transport import Command, Transport, shell

HOST_DIR = "/etc/regwiz/registry"
CONTAINER = "registry"
PREVIOUS = "registry-regwiz-previous"
LABEL = "io.regwiz.config"
#: $1's restart count, printed; when it is 0, $2 (the container kept aside) is removed.
SETTLED = ('c=$(docker inspect --format "{{.RestartCount}}" "$1") || exit 1; printf "%s\\n" "$c"; '
           'if [ "$c" = 0 ]; then docker rm -f "$2" >/dev/null 2>&1 || true; fi')


@dataclass
class DeployChoices:
    settings: regconfig.RegistrySettings = field(default_factory=regconfig.RegistrySettings)
    #: Addresses and names clients use to reach the registry: the certificate's SANs.
    names: list[str] = field(default_factory=list)
    users: dict[str, Secret] = field(default_factory=dict)
    image: ImageSource = field(default_factory=ImageSource)
    provided_cert: Path | None = None
    provided_key: Path | None = None
    #: Add the host's own addresses to the certificate (clients inside its VPC use them).
    discover_addresses: bool = True
    #: Whether the host reaches Docker Hub, asked early (see HubProbe.start).
    hub_probe: HubProbe = field(default_factory=HubProbe, repr=False, compare=False)
    #: Set once the new registry first answers (before the verify's settle wait): `setup` pushes the
    #: clients' test image then, instead of after the deploy.
    answering: asyncio.Event = field(default_factory=asyncio.Event, repr=False, compare=False)
    #: The image staged on the host while dockerd restarted (`--yes` only; StagedImage), or None.
    staged: StagedImage | None = field(default=None, repr=False, compare=False)

    @property
    def address(self) -> str:
        return f"{self.names[0]}:{self.settings.port}" if self.names else f"?:{self.settings.port}"

    def problems(self, names: list[str] | None = None) -> list[str]:
        """What is wrong with these choices (``names``: the certificate's names, these by default)."""
        names = self.names if names is None else names
        found = list(self.settings.validate())
        if not names:
            found.append(_("the registry needs the address clients reach it by"))
        from app.targets import validate_host

        for name in names:
            if validate_host(name):
                found.append(_("{name} is not an address or host name a certificate can hold").format(
                    name=repr(name)))
        if self.settings.auth == "htpasswd":
            if not self.users:
                found.append(_("add at least one registry user (or choose no authentication)"))
            for name, password in self.users.items():
                for check, value in ((htpasswd.validate_username, name),
                                     (htpasswd.validate_password, password.reveal())):
                    try:
                        check(value)
                    except htpasswd.HtpasswdError as exc:
                        found.append(str(exc))
        if self.settings.tls == "provided" and not (self.provided_cert and self.provided_key):
            found.append(_("give the certificate and key files to use"))
        return found


@dataclass
class ContainerState:
    exists: bool
    running: bool = False
    restarting: bool = False
    label: str = ""
    image: str = ""
    restart_count: int = 0
    status: str = ""  # docker's word: running, restarting, exited, created, ...
    exit_code: int = 0
    error: str = ""


async def container_state(transport: Transport, emit: ScopedEmitter | None = None,
                          name: str = CONTAINER) -> ContainerState:
    result = await transport.run(Command("docker", "inspect", name), sudo=True, emit=emit)
    return parse_container_state(result.ok, result.stdout)


def parse_container_state(ok: bool, inspected: str) -> ContainerState:
    """The container's state from `docker inspect NAME` (``ok``: it exited 0, the container exists)."""
    if not ok:
        return ContainerState(False)
    info = json.loads(inspected)[0]
    state = info.get("State", {})
    return ContainerState(True, bool(state.get("Running")), bool(state.get("Restarting")),
                          (info.get("Config", {}).get("Labels") or {}).get(LABEL, ""),
                          info.get("Config", {}).get("Image", ""), int(info.get("RestartCount", 0)),
                          str(state.get("Status", "")), int(state.get("ExitCode", 0)), str(state.get("Error", "")))


async def last_log_lines(transport: Transport, name: str = CONTAINER, lines: int = 8) -> str:
    """The container's last log lines, on one line: what a crash says about itself."""
    logs = await transport.run(Command("docker", "logs", "--tail", "15", name), sudo=True)
    return " | ".join((logs.stdout + "\n" + logs.stderr).strip().splitlines()[-lines:])


@dataclass(frozen=True)
class DeployHostReads:
    """What the deploy's plan read off the host (DeployRegistryStep._host_reads)."""

    addresses: list[str]  # its own global addresses, Docker's devices left out (none when not asked)
    docker_answers: bool
    container: ContainerState
    listing: str  # `ss -ltnpH` (or netstat) output
    has_image: bool
    files: facts.Reply | None  # the step's files (RemoteFiles.read_snippet), for RemoteFiles.prefetched


@dataclass(frozen=True)
class DeployDecision:
    #: The certificate's names: the choices' names, then the host's own addresses found at plan time.
    names: tuple[str, ...]
    label: str  # the container's label: a digest of everything that needs a restart to change
    recreate: bool  # (re)create the container
    had_container: bool  # a container named `registry` existed: kept aside until the new one answers
    #: The plan found the image missing: apply gets it without asking again (were it loaded meanwhile,
    #: loading it once more changes nothing). False (an older plan file too): apply asks first.
    image_missing: bool = False


def adopt_names(choices: DeployChoices, plan: Plan | None) -> None:
    """After the deploy: the names its certificate holds become the choices' (the caller's record)."""
    if plan is not None and isinstance(plan.decision, DeployDecision):
        choices.names[:] = list(plan.decision.names)


class DeployRegistryStep(Step):
    title = N_("Deploy the registry")

    def __init__(self, choices: DeployChoices, progress: Progress | None = None) -> None:
        self.choices = choices
        self.progress = progress
        self.image_note = ""  # what apply did to get the image (for the log)

    def _decision(self) -> DeployDecision:
        assert self.applied is not None and isinstance(self.applied.decision, DeployDecision)
        return self.applied.decision

    # -- what the host should hold ------------------------------------------------
    async def _certificate_files(self, ctx: StepContext, names: list[str]) -> list[FileChange]:
        settings = self.choices.settings
        cert_path, key_path = f"{HOST_DIR}/certs/server.crt", f"{HOST_DIR}/certs/server.key"
        if settings.tls == "none":
            return []
        old_cert = await ctx.files.read(cert_path)
        old_key = await ctx.files.read(key_path)
        if settings.tls == "provided":
            assert self.choices.provided_cert and self.choices.provided_key
            cert_pem, key_pem = pki.load_pem_pair(self.choices.provided_cert, self.choices.provided_key)
        else:
            ca = pki.load_or_create_ca()
            if old_cert and old_key and pki.certificate_matches(old_cert.encode(), old_key.encode(), ca, names):
                cert_pem, key_pem = old_cert.encode(), old_key.encode()
            else:
                issued = pki.issue_server_certificate(ca, names)
                cert_pem, key_pem = issued.cert_pem, issued.key_pem
        return [FileChange(cert_path, old_cert, cert_pem.decode(), mode=0o644),
                FileChange(key_path, old_key, key_pem.decode(), mode=0o600, sensitive=True)]

    async def _htpasswd_file(self, ctx: StepContext) -> list[FileChange]:
        if self.choices.settings.auth != "htpasswd":
            return []
        path = f"{HOST_DIR}/auth/htpasswd"
        old = await ctx.files.read(path)
        wanted = {name: secret.reveal() for name, secret in self.choices.users.items()}
        new = htpasswd.reconcile(old, wanted)
        return [FileChange(path, old, new, mode=0o600, sensitive=True)]

    def _file_paths(self) -> list[str]:
        """The files the plan reads and may write: config.yml, the certificate and key, htpasswd."""
        paths = [f"{HOST_DIR}/config.yml"]
        if self.choices.settings.tls != "none":
            paths += [f"{HOST_DIR}/certs/server.crt", f"{HOST_DIR}/certs/server.key"]
        if self.choices.settings.auth == "htpasswd":
            paths.append(f"{HOST_DIR}/auth/htpasswd")
        return paths

    def _storage_path(self) -> str | None:
        storage = self.choices.settings.storage
        return storage.host_path if isinstance(storage, regconfig.FilesystemStorage) else None

    def _run_command(self, label: str) -> Command:
        port = self.choices.settings.port
        args = ["docker", "run", "-d", "--name", CONTAINER, "--restart=always",
                "-p", f"{port}:5000",
                "-v", f"{HOST_DIR}/config.yml:{regconfig.CONTAINER_CONFIG_PATH}:ro",
                "-v", f"{HOST_DIR}/certs:/etc/regwiz/certs:ro",
                "-v", f"{HOST_DIR}/auth:/etc/regwiz/auth:ro",
                "--label", f"{LABEL}={label}", "--label", "io.regwiz.managed=1"]
        storage = self._storage_path()
        if storage:
            args += ["-v", f"{storage}:{regconfig.CONTAINER_DATA}"]
        return Command(*args, self.choices.image.image)

    # -- the step ------------------------------------------------------------------
    async def _host_reads(self, ctx: StepContext) -> "DeployHostReads":
        """What the plan asks the host, in one command (one round trip): its addresses (when the
        certificate takes them), whether dockerd answers, the container's state, the listeners, whether
        the image is there, the files it writes. All reads; the decisions are made from them after, in
        the same order."""
        from app import netmodel
        from app.diagnose.network import DOCKER_DEVICES

        want_addresses = self.choices.discover_addresses and self.choices.settings.tls == "own-ca"
        reads = [shlex.join(dockerd.ANSWERS), shlex.join(("docker", "inspect", CONTAINER)),
                 "ss -ltnpH 2>/dev/null || netstat -ltnp", image_present(self.choices.image.image).line()]
        # Every file this step writes, read in the same command (RemoteFiles.prefetched takes the reply),
        # where the files are root's as the command is.
        with_files = ctx.files.sudo
        reads.append(ctx.files.read_snippet(self._file_paths()) if with_files else "true")
        if want_addresses:
            reads.append(shlex.join(("ip", "-j", "-4", "addr")))
        # dockerd.answers' bound: a daemon that hangs makes the read fail, not wait for ever.
        answers, inspected, listing, image, files, *shown = await facts.read_in_one(
            ctx.transport, reads, ctx.emit, sudo=True, timeout=20)
        addresses = []
        if shown and shown[0].ok:
            addresses = [str(a.interface.ip) for a in netmodel.parse_ip_json_addresses(shown[0].text)
                         if not DOCKER_DEVICES.match(a.dev) and not a.interface.ip.is_loopback
                         and not a.interface.ip.is_link_local]
        return DeployHostReads(addresses, dockerd.daemon_answered(answers.ok, answers.text),
                               parse_container_state(inspected.ok, inspected.text), listing.text, image.ok,
                               files if with_files else None)

    async def plan(self, ctx: StepContext) -> Plan:
        host = await self._host_reads(ctx)
        names = list(self.choices.names)  # the choices are left as they are: planning changes nothing
        for address in host.addresses:
            if address not in names:
                names.append(address)
        problems = self.choices.problems(names)
        if problems:
            return Plan(_(self.title), refused="; ".join(problems))
        if not host.docker_answers:
            return Plan(_(self.title), refused=_("Docker does not run on the host: run the diagnosis and apply "
                                              "its fixes first"))
        state = host.container
        port = self.choices.settings.port
        holders = parse_ss_listeners(host.listing, port)
        ours = state.running and state.label and await self._publishes(ctx, port)
        if holders and not ours:
            return Plan(_(self.title), refused=_("port {port} is taken by {holders}: stop it, or choose another "
                                              "port").format(port=port, holders=", ".join(sorted(set(holders)))))
        config_text = regconfig.render_config(self.choices.settings)
        async with ctx.files.prefetched(self._file_paths(), read=host.files):  # read with the rest above
            old_config = await ctx.files.read(f"{HOST_DIR}/config.yml")
            files = [FileChange(f"{HOST_DIR}/config.yml", old_config, config_text, mode=0o600,
                                sensitive=isinstance(self.choices.settings.storage, regconfig.OSSStorage)
                                or self.choices.settings.proxy_password is not None)]
            files += await self._certificate_files(ctx, names)
            files += await self._htpasswd_file(ctx)
        cert = next((f.new for f in files if f.path.endswith("server.crt")), "") or ""
        label = hashlib.sha256("\0".join([
            config_text, cert, str(port), self._storage_path() or "", self.choices.image.image,
        ]).encode()).hexdigest()[:24]
        recreate = not (state.exists and state.running and not state.restarting and state.label == label)
        decision = DeployDecision(tuple(names), label, recreate, state.exists, image_missing=not host.has_image)
        actions = []
        if not host.has_image:
            actions.append(_("get {image} onto the host ({how})").format(image=self.choices.image.image,
                                                                         how=self.choices.image.kind))
        if recreate:
            storage = self._storage_path()
            keep = storage if storage and state.exists else ""
            container = f"`{CONTAINER}`"
            if state.exists:
                actions.append(_("recreate the container {container} on port {port}, keeping the data in {storage}")
                               .format(container=container, port=port, storage=keep) if keep else
                               _("recreate the container {container} on port {port}").format(
                                   container=container, port=port))
            else:
                actions.append(_("create the container {container} on port {port}").format(
                    container=container, port=port))
        summary = _("registry at {address}: TLS {tls}, auth {auth}, {mode} mode").format(
            address=self.choices.address, tls=self.choices.settings.tls, auth=self.choices.settings.auth,
            mode=self.choices.settings.mode)
        if self.choices.settings.tls == "none":
            summary += _(". WARNING: without TLS, Docker clients refuse it ({error}) until each daemon gets "
                         "--insecure-registry").format(error="\"http: server gave HTTP response to HTTPS client\"")
        if self.choices.settings.auth == "none":
            summary += _(". WARNING: without auth, anyone who reaches the port can pull and push")
        return Plan(summary, changes=files, actions=actions, decision=decision)

    async def _publishes(self, ctx: StepContext, port: int) -> bool:
        result = await ctx.transport.run(Command("docker", "port", CONTAINER, "5000/tcp"), sudo=True)
        return any(line.rstrip().endswith(f":{port}") for line in result.stdout.splitlines())

    async def apply(self, ctx: StepContext, plan: Plan) -> None:
        assert isinstance(plan.decision, DeployDecision)
        decision = plan.decision
        t = ctx.transport
        storage = self._storage_path()
        folders = (f"mkdir -p {shlex.quote(HOST_DIR + '/certs')} {shlex.quote(HOST_DIR + '/auth')} && "
                   f"chmod 700 {shlex.quote(HOST_DIR)}")
        if storage:
            folders += f" && mkdir -p -- {shlex.quote(storage)}"
        # The folders and every file in one command (one round trip, not one per file).
        await ctx.files.write_all(plan.changes, prelude=folders)
        self.image_note = await ensure_image(t, self.choices.image, ctx.emit, self.progress,
                                             probe=self.choices.hub_probe, missing=decision.image_missing,
                                             staged=self.choices.staged)
        ctx.emit.info(f"{self.choices.image.image}: {self.image_note}")
        if not decision.recreate:
            return
        if decision.had_container:
            await t.run(Command("docker", "rm", "-f", PREVIOUS), sudo=True)
            await t.run(Command("docker", "stop", CONTAINER), sudo=True, emit=ctx.emit, check=True)
            await t.run(Command("docker", "rename", CONTAINER, PREVIOUS), sudo=True, emit=ctx.emit, check=True)
        await t.run(self._run_command(decision.label), sudo=True, emit=ctx.emit, check=True)

    async def verify(self, ctx: StepContext) -> str | None:
        t = ctx.transport
        scheme = "http" if self.choices.settings.tls == "none" else "https"
        url = f"{scheme}://127.0.0.1:{self.choices.settings.port}/v2/"
        # Up, answering HTTP, and never restarted meanwhile: a crash loop (a bad
        # config, a missing file) shows as a restart within the first second.
        last_answer = "none"
        # The container's state and its answer over HTTP in one command each time (the answer counts
        # only while the state says it runs).
        reads = [Command("docker", "inspect", CONTAINER).line(),
                 f'curl -sk -o /dev/null -m 3 -w "%{{http_code}}" {shlex.quote(url)}']
        for _attempt in range(100):
            inspected, answer = await facts.read_in_one(t, reads, ctx.emit, sudo=True)
            state = parse_container_state(inspected.ok, inspected.text)
            if state.restart_count > 0 or (state.exists and not state.running and not state.restarting):
                return _("the registry container does not stay up; its last log lines: {lines}").format(
                    lines=await last_log_lines(ctx.transport))
            if state.running and not state.restarting:
                last_answer = answer.text.strip() or "none"
                if last_answer in ("200", "401"):
                    if not self.choices.answering.is_set():
                        # What waits for this (setup's proof and test image) reaches it by the plan's names.
                        adopt_names(self.choices, self.applied)
                        self.choices.answering.set()
                    await asyncio.sleep(0.5)
                    # Still never restarted: the container kept aside goes, in the same command.
                    settled = await t.run(shell(SETTLED, CONTAINER, PREVIOUS), sudo=True, emit=ctx.emit)
                    if settled.ok and settled.stdout.strip() == "0":
                        return None
                    return _("the registry container restarted right after answering; its last log lines: "
                             "{lines}").format(lines=await last_log_lines(ctx.transport))
            await asyncio.sleep(0.2)
        return _("the registry does not answer {url} (last answer: {answer}); its last log lines: {lines}").format(
            url=url, answer=last_answer, lines=await last_log_lines(ctx.transport))

    async def rollback(self, ctx: StepContext) -> None:
        t = ctx.transport
        decision = self._decision()
        if decision.recreate:
            await t.run(Command("docker", "rm", "-f", CONTAINER), sudo=True, emit=ctx.emit)
            if decision.had_container:
                await t.run(Command("docker", "rename", PREVIOUS, CONTAINER), sudo=True, emit=ctx.emit)
                await t.run(Command("docker", "start", CONTAINER), sudo=True, emit=ctx.emit)
        await ctx.files.restore_all()
