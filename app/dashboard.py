"""Re-checking a deployed set-up from its profile: every row in parallel, each with its fix.

Rows: the host reachable, Docker healthy, no bridge conflict, the registry up,
its TLS certificate valid (and days to expiry), auth working, and each saved
client trusting the registry and able to pull.

The profile holds no secret, only the names of the variables that hold them.
``needed_secrets`` says which secrets the rows need (and which variable, if
any, would hold each); ``missing_secrets`` which of them the environment does
not give; ``check_health`` takes the ones the user typed. A row whose secret is
missing ends as skipped, saying which variable to set; the others still run.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable, Mapping

from app import facts
from app.clients.configure import login, prove_pull
from app.clients.detect import detect_kind
from app.clients.model import RegistryTarget
from app.i18n import N_, _
from app.diagnose import DiagnosisContext
from app.diagnose.network import NetworkCheck
from app.dockerd import DockerService
from app.events import EventBus
from app.profiles import ClientProfile, Profile, RegistryUser, ServerProfile, secret_from_env
from app.redact import Redactor, Secret
from app.registry.deploy import DeployChoices
from app.registry.client import RegistryClient, RegistryError, RegistryTLSError
from app.registry.health import explain_registry_down
from app.session import SetupError, client_kind
from app.steps import Status
from app.targets import HostForm
from app.transport import TransportError

if TYPE_CHECKING:
    from app.registry.ops import RegistrySource

# What fixes a failing row: the wizard step to open (the TUI) or the command to run.
FIX_DIAGNOSE, FIX_DEPLOY, FIX_CLIENTS = "diagnose", "deploy", "clients"
# What a row offers whatever its status: the registry screen (storage), a new certificate (TLS).
ACTION_REGISTRY, ACTION_RENEW = "registry", "renew"
#: The storage row warns below this share of the disk free and this many bytes (a big disk's 10% is plenty).
LOW_FREE, LOW_FREE_BYTES = 0.10, 2_000_000_000

SKIPPED_PREFIX = "skipped: "
REGISTRY_PASSWORD = "registry.password"


@dataclass
class HealthRow:
    key: str
    title: str
    status: Status = Status.PENDING
    detail: str = ""
    fix: str | None = None  # FIX_* when failing
    action: str | None = None  # ACTION_*: offered whatever the status


OnRow = Callable[[HealthRow], None]


@dataclass(frozen=True)
class NeededSecret:
    """A secret some rows need: what it is for, and the variable the profile names for it (if any)."""

    key: str  # e.g. "server.password", "registry.password", "client:root@host.password"
    label: str  # e.g. "SSH password of root@203.0.113.10"
    env: str | None = None  # the variable that would hold it
    noun: str = "password"  # password | passphrase | sudo password
    field: str = "password_env"  # the profile key that names its variable
    section: str = "[server]"
    optional: bool = False  # may stay empty: the SSH agent's keys are tried instead

    def skipped(self) -> str:
        """What a row that needed it says when it was not given."""
        how = _("set {variable}").format(variable=self.env) if self.env else \
            _("name its variable with {field} in {section}").format(field=self.field, section=self.section)
        return _("skipped: no {secret} given ({how} or re-check and enter it)").format(secret=_(self.noun), how=how)


def _who(entry: ServerProfile | ClientProfile) -> str:
    port = f":{entry.port}" if entry.port != 22 else ""
    return f"{entry.user}@{entry.host}{port}"


def _is_local(entry: ServerProfile | ClientProfile) -> bool:
    return bool(getattr(entry, "local", False)) or getattr(entry, "kind", "") == "local"


def _client_name(entry: ClientProfile) -> str:
    return "this machine" if _is_local(entry) else _who(entry)


def _host_secrets(entry: ServerProfile | ClientProfile, prefix: str, section: str) -> list[NeededSecret]:
    """The SSH password (password login: no key file), the key's passphrase, the sudo password."""
    who = _("this machine") if _is_local(entry) else _who(entry)
    needed = []
    if not _is_local(entry):
        if entry.identity_file:
            if entry.passphrase_env:
                needed.append(NeededSecret(f"{prefix}.passphrase",
                                           _("passphrase of the key {path}").format(path=entry.identity_file),
                                           entry.passphrase_env, N_("passphrase"), "passphrase_env", section))
        else:
            # No key file: the wizard logged in by password (or the agent, when it is left empty).
            needed.append(NeededSecret(f"{prefix}.password", _("SSH password of {who}").format(who=who),
                                       entry.password_env, N_("password"), "password_env", section,
                                       optional=not entry.password_env))
    if entry.sudo_password_env:
        needed.append(NeededSecret(f"{prefix}.sudo", _("sudo password of {who}").format(who=who),
                                   entry.sudo_password_env, N_("sudo password"), "sudo_password_env", section))
    return needed


def _client_prefix(index: int) -> str:
    return f"client{index}"


def needed_secrets(profile: Profile) -> list[NeededSecret]:
    """Every secret the dashboard's rows need, in the order they are asked for."""
    needed = _host_secrets(profile.server, "server", "[server]")
    user = _registry_user(profile)
    if user is not None:
        needed.append(NeededSecret(REGISTRY_PASSWORD, _("password of registry user {user}").format(user=user.name),
                                   user.password_env, section="[[registry.users]]"))
    for index, entry in enumerate(profile.clients):
        needed += _host_secrets(entry, _client_prefix(index), _("the [[clients]] entry of {client}").format(
            client=_("this machine") if _is_local(entry) else _who(entry)))
    return needed


def missing_secrets(profile: Profile, environ: Mapping[str, str] = os.environ) -> list[NeededSecret]:
    """The needed secrets the environment does not give (none named, unset or empty)."""
    return [n for n in needed_secrets(profile) if secret_from_env(n.env, environ) is None]


def resolve_secrets(profile: Profile, given: Mapping[str, Secret | str] | None = None,
                    redactor: Redactor | None = None,
                    environ: Mapping[str, str] = os.environ) -> dict[str, Secret]:
    """Each needed secret from its variable, else from ``given`` (what the user typed); empty ones are left out."""
    found: dict[str, Secret] = {}
    for needed in needed_secrets(profile):
        value = secret_from_env(needed.env, environ) or (given or {}).get(needed.key)
        secret = Secret(value) if isinstance(value, str) else value
        if secret:
            found[needed.key] = secret
            if redactor is not None:
                redactor.add(secret)
    return found


def _registry_user(profile: Profile) -> RegistryUser | None:
    """The user the checks log in as: the first of [[registry.users]] (as the clients step does)."""
    reg = profile.registry
    return reg.users[0] if reg.auth == "htpasswd" and reg.users else None


def registry_target_for(profile: Profile, secrets: Mapping[str, Secret]) -> RegistryTarget:
    """The registry as clients see it (as ``session.registry_target``), its password from ``secrets``."""
    from app import pki

    reg = profile.registry
    user = _registry_user(profile)
    return RegistryTarget(
        host="127.0.0.1" if profile.server.local else profile.server.host, port=reg.port, tls=reg.tls != "none",
        ca_pem=pki.load_or_create_ca().cert_pem if reg.tls == "own-ca" else None,
        username=user.name if user else None, password=secrets.get(REGISTRY_PASSWORD) if user else None,
        cache=reg.mode == "cache")


def registry_source_for(profile: Profile, secrets: Mapping[str, Secret]) -> "RegistrySource":
    """What the registry screen and the storage row need: the client, and the storage on the host."""
    from app.registry.ops import RegistrySource

    target = registry_target_for(profile, secrets)
    reg = profile.registry
    return RegistrySource(RegistryClient(target.endpoint()), None if reg.oss is not None else reg.storage,
                          reg.port, reg.tls != "none", target.url)


def deploy_choices_for(profile: Profile, secrets: Mapping[str, Secret], redactor: Redactor | None) -> DeployChoices:
    """The deploy step's choices (as ``session.deploy_choices``), the checked user's password from ``secrets``."""
    from copy import deepcopy

    from app.session import deploy_choices

    user = _registry_user(profile)
    if user is None:
        return deploy_choices(profile, redactor)
    if REGISTRY_PASSWORD not in secrets:
        how = _("set {variable}").format(variable=user.password_env) if user.password_env \
            else _("press r and enter it")
        raise SetupError(_("deploying again needs the password of registry user {user}: {how}").format(
            user=user.name, how=how))
    others = [u for u in profile.registry.users[1:] if u.name != user.name]
    bare = deepcopy(profile)
    bare.registry.users = others  # (their passwords still come from their variables)
    choices = deploy_choices(bare, redactor)
    choices.users = {user.name: secrets[REGISTRY_PASSWORD], **choices.users}
    return choices


def host_form_for(entry: ServerProfile | ClientProfile, prefix: str, secrets: Mapping[str, Secret]) -> HostForm:
    """How to reach a host (as ``session.host_form``), its secrets from ``secrets``."""
    sudo = secrets.get(f"{prefix}.sudo")
    if _is_local(entry):
        return HostForm(local=True, sudo_password=sudo)
    password = secrets.get(f"{prefix}.password")
    auth = "key" if entry.identity_file else "password" if password else "agent"
    return HostForm(host=entry.host, port=entry.port, user=entry.user, auth=auth, password=password,
                    identity_file=entry.identity_file or "", passphrase=secrets.get(f"{prefix}.passphrase"),
                    sudo_password=sudo or (password if entry.user != "root" else None))


class _Skipped(Exception):
    """A row that cannot run: a secret it needs was not given, or the row it depends on failed."""


def _missing_for(needed: list[NeededSecret], secrets: Mapping[str, Secret]) -> str | None:
    """The skip message of the first needed secret that is missing (optional ones fall back, never skip)."""
    for n in needed:
        if not n.optional and n.key not in secrets:
            return n.skipped()
    return None


def _explain_login(exc: TransportError, form: HostForm, needed: list[NeededSecret]) -> TransportError:
    """A refused login with no password given says so, instead of "check the password"."""
    from app.transport.base import AuthenticationFailed, LoginRefused

    if isinstance(exc, AuthenticationFailed) and form.auth == "agent":
        what = next((n for n in needed if n.key.endswith(".password")), None)
        how = _("set {variable}").format(variable=what.env) if what and what.env \
            else _("name identity_file or password_env in the profile")
        return LoginRefused(_("{user}@{host} refused the login: no SSH password was given and the SSH agent "
                                      "has no key it accepts (re-check and enter the password, or {how})").format(
                                          user=form.user, host=form.host, how=how))
    return exc


async def _row(row: HealthRow, on_row: OnRow, work: Callable[[], Awaitable[tuple[Status, str]]],
               fix: str) -> HealthRow:
    row.status, row.detail = Status.RUNNING, _("checking…")
    on_row(row)
    try:
        row.status, row.detail = await work()
    except _Skipped as exc:
        row.status, row.detail = Status.SKIPPED, str(exc)
    except (TransportError, RegistryError, SetupError, OSError, asyncio.TimeoutError) as exc:
        row.status, row.detail = Status.FAILURE, str(exc) or exc.__class__.__name__
    except Exception as exc:  # noqa: BLE001 - a row must end, whatever its check raised
        row.status, row.detail = Status.FAILURE, _("the check itself failed: {error}").format(
            error=f"{exc.__class__.__name__}: {exc}")
    # A skipped row has no fix of its own: the secret, or the row it depends on, is what to see to.
    row.fix = fix if row.status in (Status.FAILURE, Status.WARNING) else None
    on_row(row)
    return row


async def check_health(profile: Profile, bus: EventBus, on_row: OnRow,
                       secrets: Mapping[str, Secret | str] | None = None) -> list[HealthRow]:
    """Every row, in parallel. ``secrets``: what the user typed, by ``NeededSecret.key`` (variables come first)."""
    redactor = bus.redactor
    given = resolve_secrets(profile, secrets, redactor)
    needed = needed_secrets(profile)
    server_needs = [n for n in needed if n.key.startswith("server.")]
    registry_needs = [n for n in needed if n.key == REGISTRY_PASSWORD]
    server_name = profile.server.host or "this machine"
    shown_server = profile.server.host or _("this machine")
    rows = {key: HealthRow(key, title) for key, title in (
        ("host", _("{host} reachable").format(host=shown_server)), ("docker", _("Docker healthy")),
        ("bridge", _("No bridge conflict")), ("registry", _("Registry up")), ("tls", _("TLS certificate")),
        ("auth", _("Auth working")), ("storage", _("Registry storage")))}
    rows["storage"].action = ACTION_REGISTRY
    if profile.registry.tls == "own-ca":
        rows["tls"].action = ACTION_RENEW  # regwiz's CA issues the new one
    client_rows: list[tuple[HealthRow, ClientProfile, str]] = []
    for index, entry in enumerate(profile.clients):
        name = _client_name(entry)
        key = f"client:{name}" if f"client:{name}" not in rows else f"client:{name}#{index}"
        rows[key] = HealthRow(key, _("{client} pulls").format(client=_(name) if _is_local(entry) else name))
        client_rows.append((rows[key], entry, _client_prefix(index)))
    for row in rows.values():
        on_row(row)  # every row shows at once, before any check starts
    registry = registry_target_for(profile, given)
    client = RegistryClient(registry.endpoint())
    server_form = host_form_for(profile.server, "server", given)
    server_skip = _missing_for(server_needs, given)
    transport = server_form.transport()
    connected = asyncio.Event()
    host_down: list[str] = []  # why the host row could not connect: its dependants say so

    services: list[DockerService] = []  # detected once (a fact of the connection), by the host row

    async def host() -> tuple[Status, str]:
        try:
            if server_skip:
                host_down.append(server_skip)
                raise _Skipped(server_skip)
            try:
                await transport.connect()
            except TransportError as exc:
                host_down.append(_("not checked: {host} is out of reach (its row says why)").format(
                    host=shown_server))
                raise _explain_login(exc, server_form, server_needs) from None
            services.append(await facts.docker_service(transport))
        finally:
            connected.set()
        return Status.OK, _("connected to {host}").format(host=transport.label)

    async def on_host() -> DockerService:
        await connected.wait()
        if host_down:
            raise _Skipped(host_down[0])
        return services[0] if services else await facts.docker_service(transport)

    gathering: list[asyncio.Future[facts.DockerState]] = []

    async def docker_state() -> facts.DockerState:
        """Docker's version and whether the daemon answers (facts.docker_state), gathered once for the
        daemon row and the route row, which run at the same time."""
        await on_host()
        if not gathering:
            gathering.append(asyncio.ensure_future(facts.docker_state(transport)))
        return await gathering[0]

    async def docker() -> tuple[Status, str]:
        ok = (await docker_state()).running
        return (Status.OK, _("the daemon answers")) if ok else (Status.FAILURE, _("the daemon does not answer"))

    async def bridge() -> tuple[Status, str]:
        await docker_state()  # the route check predicts from its version, and asks a running daemon more
        ctx = DiagnosisContext(transport, bus, server_name)
        result = await NetworkCheck().run(ctx, bus.scoped(source="dashboard", host=server_name))
        return result.status, result.summary

    async def up() -> tuple[Status, str]:
        try:
            code = await asyncio.to_thread(client.ping, False)
        except RegistryTLSError:
            raise  # it answers: the TLS row explains
        except (RegistryError, OSError) as exc:
            await connected.wait()
            if not services:  # the host itself is out of reach (or skipped): only what this machine sees
                raise
            down = await explain_registry_down(transport, registry.port)
            raise RegistryError(_("{error}; {cause}. Fix: {fix}").format(error=exc, cause=down.cause,
                                                                         fix=down.fix)) from exc
        return Status.OK, _("{url} answers {code}").format(url=f"{registry.url}/v2/", code=code)

    async def tls() -> tuple[Status, str]:
        if not registry.tls:
            return Status.WARNING, _("no TLS: every client needs --insecure-registry")
        info = await asyncio.to_thread(client.tls_handshake)
        from datetime import datetime, timezone

        expires = datetime.fromisoformat(str(info["not_after"]).replace("Z", "+00:00"))
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
        days = (expires - datetime.now(timezone.utc)).days
        status = Status.OK if days > 30 else Status.WARNING if days > 0 else Status.FAILURE
        return status, _("valid, {days} days to expiry ({protocol})").format(days=days, protocol=info["protocol"])

    async def auth() -> tuple[Status, str]:
        if profile.registry.auth == "htpasswd" and not profile.registry.users:
            return Status.FAILURE, _("auth is htpasswd but the profile names no registry user: add a "
                                     "[[registry.users]] entry with its name")
        if not registry.username:
            return Status.WARNING, _("no authentication: anyone who reaches the port can pull and push")
        skip = _missing_for(registry_needs, given)
        if skip:
            raise _Skipped(skip)
        await asyncio.to_thread(client.login)
        anonymous = await asyncio.to_thread(client.ping, False)
        if anonymous != 401:
            return Status.FAILURE, _("the registry lets anonymous clients in")
        return Status.OK, _("{user} logs in; anonymous access refused").format(user=registry.username)

    async def storage() -> tuple[Status, str]:
        from app.registry.ops import DEFAULT_KEEP, human_size, storage_facts

        source = registry_source_for(profile, given)
        if source.storage is None:
            return Status.OK, _("OSS storage: not on the host (neither measured nor pruned here)")
        skip = _missing_for(registry_needs, given) if registry.username else None
        await on_host()
        if skip:
            raise _Skipped(skip)
        facts = await storage_facts(source, transport)
        total = facts.used + facts.free
        low_free = total and facts.free < LOW_FREE * total and facts.free < LOW_FREE_BYTES
        status = Status.WARNING if low_free else Status.OK
        low = _("; little room left: prune (press f)") if status is Status.WARNING else ""
        return status, _("{used} used, {free} free, {tags} tags; keeping the {keep} newest of each repository frees "
                         "{frees} ({deletes} tags)").format(
                             used=human_size(facts.used), free=human_size(facts.free), tags=facts.tags,
                             keep=DEFAULT_KEEP, frees=human_size(facts.default_frees),
                             deletes=facts.default_deletes) + low

    checks: list[tuple[HealthRow, Callable[[], Awaitable[tuple[Status, str]]], str]] = [
        (rows["host"], host, FIX_DIAGNOSE), (rows["docker"], docker, FIX_DIAGNOSE),
        (rows["bridge"], bridge, FIX_DIAGNOSE), (rows["registry"], up, FIX_DEPLOY),
        (rows["tls"], tls, FIX_DEPLOY), (rows["auth"], auth, FIX_DEPLOY),
        (rows["storage"], storage, ACTION_REGISTRY)]

    def pulls(row: HealthRow, entry: ClientProfile, prefix: str) -> Callable[[], Awaitable[tuple[Status, str]]]:
        form = host_form_for(entry, prefix, given)
        own = [n for n in needed if n.key.startswith(f"{prefix}.")]
        skip = _missing_for([*own, *(registry_needs if registry.username else [])], given)
        name = _client_name(entry)

        async def work() -> tuple[Status, str]:
            if skip:
                raise _Skipped(skip)
            t = form.transport()
            emit = bus.scoped(source=f"client.{name}", host=name)
            try:
                try:
                    await t.connect()
                except TransportError as exc:
                    raise _explain_login(exc, form, own) from None
                kind = client_kind(entry) or await detect_kind(t, emit)
                await login(t, kind, registry, emit)
                seconds = await prove_pull(t, kind, registry, emit)
                return Status.OK, _("{kind}: pulled in {seconds:.1f} s").format(kind=kind.value, seconds=seconds)
            finally:
                await t.close()

        return work

    checks += [(row, pulls(row, entry, prefix), FIX_CLIENTS) for row, entry, prefix in client_rows]
    try:
        done = await asyncio.gather(*(_row(r, on_row, w, f) for r, w, f in checks))
    finally:
        await transport.close()
    return list(done)
