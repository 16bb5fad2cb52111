"""The headless commands behind ``regwiz diagnose|deploy|clients|onboard|export-team-profile``."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path
from typing import Awaitable, Callable, Generic, TypeVar

from app import pki
from app.clients.configure import ClientSpec, Planned, configure_clients
from app.clients.model import RegistryTarget
from app.clients.testimage import ensure_test_image
from app.headless import FAILED, OK, HeadlessFailure, Output, Run, worst
from app.i18n import _
from app.progress import ClientProgress
from app.profiles import Profile, TeamProfile, load_profile, render_profile, secret_from_env, team_profile_from
from app.redact import Secret
from app.registry.client import CredentialsRefused, RegistryAuthError
from app.registry.deploy import DeployChoices, DeployRegistryStep, adopt_names
from app.registry.health import registry_answers, wait_for_registry
from app.registry.image import StagedImage
from app.registry.prove import ProofStep, prove
from app.session import (SetupError, client_kind, deploy_choices, host_form, load_named_profile,
                         missing_registry_password, registry_target, team_registry_address, team_target)
from app.steps import Plan, Status
from app.targets import HostForm, parse_number
from app.transport import Transport, TransportError

T = TypeVar("T")


def _run(args: argparse.Namespace) -> Run:
    return Run(Output(args.json), args.yes, args.trust_host_key)


def _server(profile: Profile, run: Run):  # type: ignore[no-untyped-def]
    form = host_form(profile.server, run.bus.redactor)
    problems = form.errors() if not form.local else {}
    if problems:
        raise SetupError(_("the profile's [server] is not usable: {problems}: fix it in the profile").format(
            problems="; ".join(f"{k}: {v}" for k, v in problems.items())))
    return form, form.transport(), (profile.server.host or _("this machine"))


async def on_server(profile: Profile, run: Run, work, report: bool = True) -> int:  # type: ignore[no-untyped-def]
    """Connect to the profile's server, run ``work(transport, host)``, always close (and write the report)."""
    _form, transport, host = _server(profile, run)
    try:
        await run.connect(transport, host)
        return await work(transport, host)
    except TransportError as exc:
        run.out.record("error", message=str(exc), status="failure")
        return FAILED
    finally:
        await transport.close()
        if report:
            run.finish()


async def diagnose(args: argparse.Namespace) -> int:
    profile = load_named_profile(args.profile)
    run = _run(args)

    async def work(transport, host: str) -> int:  # type: ignore[no-untyped-def]
        return worst(await run.diagnose(transport, host, fix=args.yes))

    return await on_server(profile, run, work)


async def _deploy_on(run: Run, choices: DeployChoices, transport: Transport, host: str) -> int:
    """Diagnose (fixing with --yes) and deploy, on an open connection to the registry host."""
    # Docker Hub may take seconds to time out: ask while the host is diagnosed.
    emit = run.bus.scoped(source="deploy", host=host)
    choices.hub_probe.start(transport, choices.image, emit)
    # With --yes (the deploy confirmed in advance) the image goes to a file on the host while the fixes
    # restart dockerd, which no image can be loaded into meanwhile; the deploy loads it, or removes it.
    choices.staged = StagedImage() if run.yes and choices.image.kind in ("auto", "upload") else None

    def stage() -> None:
        assert choices.staged is not None
        message = _("staging the registry image on the host ({path}) while dockerd restarts").format(
            path=choices.staged.path)
        emit.info(message)
        run.out.record("info", message=message)
        choices.staged.start(transport, choices.image, emit, choices.hub_probe)

    try:
        results = await run.diagnose(transport, host, fix=run.yes,
                                     while_docker_restarts=None if choices.staged is None else stage)
        blocking = [r for r in results if r.status is Status.FAILURE and r.check_id in ("docker", "network")]
        if blocking:
            run.out.record("error", status="failure",
                           message=_("the host is not ready: {problems}").format(
                               problems="; ".join(r.summary for r in blocking)))
            return FAILED
        deployed = await run.step(DeployRegistryStep(choices), transport, "deploy", host,
                                  on_result=lambda result: adopt_names(choices, result.plan))
        return OK if deployed else FAILED
    finally:
        if choices.staged is not None:  # not loaded (the deploy failed, or never ran): it goes
            await choices.staged.discard(transport, emit, _("the image staged in {path} was not used: removed")
                                         .format(path=choices.staged.path))
        choices.hub_probe.cancel()


async def _proof(run: Run, choices: DeployChoices, host: str) -> list[ProofStep]:
    return await prove(choices, run.bus.scoped(source="prove", host=host))


async def _prove(run: Run, choices: DeployChoices, host: str) -> int:
    """Push, pull and delete from this machine: the registry works as clients will use it."""
    return await _record_proof(run, _proof(run, choices, host))


async def _record_proof(run: Run, proof_steps: Awaitable[list[ProofStep]]) -> int:
    steps = await proof_steps
    for proof in steps:
        run.out.record("proof", name=proof.name, status="ok" if proof.ok else "failure",
                       detail=proof.detail, seconds=round(proof.seconds, 3))
    return OK if all(s.ok for s in steps) else FAILED


async def deploy(args: argparse.Namespace) -> int:
    profile = load_named_profile(args.profile)
    run = _run(args)
    choices = deploy_choices(profile, run.bus.redactor)

    async def work(transport: Transport, host: str) -> int:
        deployed = await _deploy_on(run, choices, transport, host)
        return deployed if deployed != OK or not run.yes else await _prove(run, choices, host)

    return await on_server(profile, run, work)


async def setup(args: argparse.Namespace) -> int:
    """Everything, in one run: diagnose and fix, deploy, then prove it while every client is configured.

    With --yes the clients are connected, detected and planned while the registry host is diagnosed and
    the registry deployed (reads only: over a slow link that hides their round trips); their plans are
    confirmed and applied only once the registry is deployed, and never when it is not."""
    profile = load_named_profile(args.profile)
    run = _run(args)
    choices = deploy_choices(profile, run.bus.redactor)
    specs = _client_specs(profile, run)  # their secrets are checked before anything changes

    async def work(transport: Transport, host: str) -> int:
        if not specs or not run.yes:
            deployed = await _deploy_on(run, choices, transport, host)
            return deployed if deployed != OK or not run.yes else await _prove(run, choices, host)
        deployed_ok: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        clients = asyncio.create_task(_configure(
            run, specs, registry_target(profile, run.bus.redactor), _profile_password_from(profile),
            registry_deployed=deployed_ok, registry_answering=choices.answering))
        # The proof too starts once the new registry first answers, beside the deploy's check that it stays
        # up; its steps are reported only once the deploy ended well (after a failed one they are moot).
        proof = OnceAnswering(lambda: _proof(run, choices, host), choices.answering)
        try:
            try:
                deployed = await _deploy_on(run, choices, transport, host)
            except BaseException:
                clients.cancel()
                await asyncio.gather(clients, return_exceptions=True)  # closes their connections
                raise
            deployed_ok.set_result(deployed == OK)
            if deployed != OK:
                await clients  # planned only: nothing was confirmed or changed on them
                return deployed
            codes = await asyncio.gather(_record_proof(run, proof.result()), clients)
            return FAILED if FAILED in codes else OK
        finally:
            await proof.close()

    return await on_server(profile, run, work)


def _client_specs(profile: Profile, run: Run) -> list[ClientSpec]:
    specs = []
    for entry in profile.clients:
        form = host_form(entry, run.bus.redactor)
        name = _("this machine") if form.local else f"{entry.user}@{entry.host}"
        problems = form.errors()  # before any host is touched: the whole list is checked first
        if problems:
            raise SetupError(_("the profile's client {name} is not usable: {problems}: fix its [[clients]] entry")
                             .format(name=repr(name), problems="; ".join(f"{k}: {v}" for k, v in problems.items())))
        specs.append(ClientSpec(name, form.transport, client_kind(entry)))
    return specs


class OnceAnswering(Generic[T]):
    """Work `setup` starts once the new registry first answers (``answering``), while the deploy still checks
    that it stays up, rather than after the deploy. ``result``, asked after a good deploy: the early run's
    outcome, or, when nothing set ``answering`` (nothing was redeployed), a run started then. ``close`` ends
    a run nobody waits for any more (a failed deploy makes it moot)."""

    def __init__(self, work: Callable[[], Awaitable[T]], answering: asyncio.Event | None) -> None:
        self._work, self._answering = work, answering
        self._early: asyncio.Future[T] | None = None
        if answering is not None:
            async def once_answering() -> T:
                await answering.wait()
                return await work()

            self._early = asyncio.ensure_future(once_answering())

    async def result(self) -> T:
        if self._early is not None and self._answering is not None and self._answering.is_set():
            return await self._early
        await self.close()
        return await self._work()

    async def close(self) -> None:
        if self._early is not None:
            if not self._early.done():
                self._early.cancel()
            await asyncio.gather(self._early, return_exceptions=True)


class ClientsGate:
    """When `setup`'s clients may be changed: the deploy ended well and the clients' test image is in the
    registry. The push starts once the new registry first answers (OnceAnswering): its seven requests, each
    checked against bcrypt by the registry, then overlap the deploy's stay-up wait. A deploy that fails
    makes the push moot (nothing on the clients changes)."""

    def __init__(self, push: Callable[[], Awaitable[None]], deployed: asyncio.Future[bool],
                 answering: asyncio.Event | None) -> None:
        self._deployed = deployed
        self._push = OnceAnswering(push, answering)

    async def ready(self) -> bool:
        """True once the deploy ended well and the image is pushed; a refused password is raised here, as
        before any client is changed."""
        if not await self._deployed:
            return False
        await self._push.result()
        return True

    async def close(self) -> None:
        """End a push nobody waits for any more (its outcome was taken, or is moot)."""
        await self._push.close()


async def _configure(run: Run, specs: list[ClientSpec], registry: RegistryTarget,
                     password_from: str | None = None, login_hint: str | None = None, forks: int = 8,
                     planned: Planned | None = None, registry_deployed: asyncio.Future[bool] | None = None,
                     registry_answering: asyncio.Event | None = None) -> int:
    """Configure every client; ``password_from`` says where the registry password came from
    ("in $VAR", "you typed"),
    ``login_hint`` what to do when a client refuses an SSH login.
    ``registry_deployed``: the clients are connected and planned at once, then wait for it: True, confirm and
    apply; False (the deploy failed), nothing is changed on them and nothing is said of them.
    ``registry_answering`` (with ``registry_deployed``): set when the new registry first answers; the test
    image is pushed from then on, while the deploy still checks that the registry stays up, and the clients
    wait for that push as before (a wrong password still stops them before any change)."""
    async def confirm_all(plans: list[tuple[str, Plan]]) -> bool:
        for name, plan in plans:
            run.out.record("plan", client=name, summary=plan.summary, actions=plan.actions, diff=plan.diff(),
                           status="applying" if run.yes else "not applied (run again with --yes)")  # shown translated
        return run.yes

    async def accept_key(name: str, unknown) -> bool:  # type: ignore[no-untyped-def]
        return run.trust_fingerprint == unknown.fingerprint

    async def test_image() -> None:
        try:
            await ensure_test_image(registry)  # the first request that logs in: a wrong password shows here
        except RegistryAuthError as exc:
            if registry.username and registry.password and password_from and isinstance(exc, CredentialsRefused):
                raise HeadlessFailure(_("the registry refused user {user}: check the password {where}").format(
                    user=registry.username, where=password_from)) from None
            raise

    gate = None if registry_deployed is None else ClientsGate(test_image, registry_deployed, registry_answering)

    if registry_deployed is None:
        await test_image()

    async def confirmed(plans: list[tuple[str, Plan]]) -> bool:  # a saved plan file: confirmed when it was made
        return True

    progress = None if run.out.json_mode or len(specs) < 2 else ClientProgress(len(specs), run.out.stream)
    try:
        results = await configure_clients(specs, registry, run.bus, confirm_all if planned is None else confirmed,
                                          on_update=progress, limit=forks, accept_key=accept_key, planned=planned,
                                          registry_ready=None if gate is None else gate.ready)
    finally:
        if gate is not None:
            await gate.close()
    if registry_deployed is not None and not registry_deployed.result():
        return FAILED
    for result in results:
        message = result.message
        if login_hint and result.status is Status.FAILURE and result.login_refused:
            message = f"{message}; {login_hint}"
        run.out.record("client", client=result.name, kind=result.kind.value if result.kind else None,
                       status=result.status.value, message=message, pull_seconds=result.pull_seconds)
    bad = [r for r in results if r.status is Status.FAILURE or (run.yes and r.status is not Status.OK)]
    return FAILED if bad else OK


def _profile_password_from(profile: Profile) -> str | None:
    """Where the registry password of a full profile comes from (its first user's variable)."""
    users = profile.registry.users
    return _("in ${variable}").format(variable=users[0].password_env) if users and users[0].password_env else None


def _with_inventory(profile: Profile, args: argparse.Namespace) -> Profile:
    """The profile with its [[clients]] replaced by the hosts of ``--inventory`` (app/inventory.py)."""
    if getattr(args, "inventory", None) is None:
        if getattr(args, "limit", None):
            raise SetupError(_("--limit selects hosts of an inventory: give --inventory FILE too"))
        return profile
    from dataclasses import replace

    from app.inventory import inventory_clients

    return replace(profile, clients=inventory_clients(args.inventory, args.limit, profile.clients))


async def clients(args: argparse.Namespace) -> int:
    profile = _with_inventory(load_named_profile(args.profile), args)
    run = _run(args)
    if not profile.clients:
        run.out.record("error", status="failure", message=_("the profile lists no [[clients]]: add one per machine "
                                                            "to configure (or, for this machine alone, use "
                                                            "regwiz onboard)"))
        return FAILED
    registry = registry_target(profile, run.bus.redactor)
    specs = _client_specs(profile, run)
    try:
        if not await _registry_ready(profile, run, registry):
            return FAILED
        return await _configure(run, specs, registry, _profile_password_from(profile),
                                forks=getattr(args, "forks", 8))
    finally:
        run.finish()


async def _registry_ready(profile: Profile, run: Run, registry: RegistryTarget) -> bool:
    """Before touching any client: the registry answers, or its host says why not."""
    if await registry_answers(registry):
        return True
    _form, transport, host = _server(profile, run)
    emit = run.bus.scoped(source="registry", host=host)
    try:
        await run.connect(transport, host)
        down = await wait_for_registry(registry, transport, emit)
    except TransportError as exc:
        run.out.record("error", status="failure",
                       message=_("the registry at {address} does not answer, and its host cannot be "
                                 "reached to ask why: {error}").format(address=registry.address, error=exc))
        return False
    finally:
        await transport.close()
    if down is None:
        return True
    run.out.record("error", status="failure", message=_(
        "the registry at {address} does not answer: {cause}. Nothing was changed on the clients. Fix: {fix}").format(
            address=registry.address, cause=down.cause, fix=down.fix))
    return False


def _parse_host(text: str) -> HostForm:
    """``[USER@]HOST[:PORT]`` (``[v6]:PORT`` for an IPv6 address), checked like the TUI's form."""
    user, _at, rest = text.strip().rpartition("@")
    if rest.startswith("["):
        host, _bracket, after = rest[1:].partition("]")
        port = after[1:] if after.startswith(":") else after
    else:
        host, _colon, port = rest.partition(":")
    number = parse_number(port) if port else 22
    if number is None:
        raise SetupError(_("--host: the port must be a number (found {found}): use USER@HOST:PORT").format(
            found=repr(port[:40])))
    form = HostForm(host=host.strip(), port=number, user=user.strip() or "root", auth="agent")
    problems = form.errors()
    if problems:
        raise SetupError(_("--host: {problems}: use [USER@]HOST[:PORT]").format(
            problems="; ".join(_("the {field}: {problem}").format(field=k, problem=v) for k, v in problems.items())))
    return form


def _load_team(file: str) -> TeamProfile:
    try:
        path = Path(file).expanduser()
        exists = path.is_file()
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
        raise SetupError(_("{file} is not a usable path ({error}): give the team profile's file").format(
            file=repr(file[:80]), error=exc.__class__.__name__)) from None
    if not exists:
        raise SetupError(_("no team profile at {path}: give the file regwiz export-team-profile wrote").format(
            path=path))
    team = load_profile(str(path)).team
    if team is None:
        raise SetupError(_("{path} has no [team] table: make one with regwiz export-team-profile --profile NAME")
                         .format(path=path))
    return team


def _registry_password(args: argparse.Namespace, team: TeamProfile) -> tuple[Secret | None, str | None]:
    """The registry user's password and where it came from: --password-env, the team's
    password_env, or typed at a terminal. Without a way to get it: exit 2 naming both ways."""
    if not team.username:
        return None, None  # a registry without login
    var = args.password_env or team.password_env
    password = secret_from_env(var)
    if password is not None:
        return password, _("in ${variable}").format(variable=var)
    if args.password_env:
        raise SetupError(_("--password-env {variable}: that environment variable is not set (or empty): "
                           "set it to the password of registry user {user}").format(variable=args.password_env,
                                                                                    user=team.username))
    if sys.stdin.isatty():
        import getpass

        try:  # getpass never echoes; the value stays in memory, wrapped in a Secret
            typed = getpass.getpass(_("password of registry user {user} at {registry}: ").format(
                user=team.username, registry=team.registry))
        except EOFError:
            typed = ""
        if typed:
            return Secret(typed), _("you typed")
    raise SetupError(missing_registry_password(team))


async def onboard(args: argparse.Namespace) -> int:
    team = _load_team(args.file)
    # Every bad input is found before a password is asked for.
    team_registry_address(team)
    form, login_hint = None, None
    if args.host:
        form = _parse_host(args.host)
        ssh_password = secret_from_env(args.ssh_password_env) if args.ssh_password_env else None
        if args.ssh_password_env and ssh_password is None:
            raise SetupError(_("--ssh-password-env {variable}: that environment variable is not set "
                               "(or empty): set it to the SSH password of {login}").format(
                                   variable=args.ssh_password_env, login=f"{form.user}@{form.host}"))
        if ssh_password:
            form.auth, form.password = "password", ssh_password
            form.sudo_password = ssh_password if form.user != "root" else None
        else:  # agent or keys: when refused, the user may simply have meant a password
            login_hint = _("to log in with a password instead, put it in an environment variable and pass "
                           "--ssh-password-env VAR")
    password, password_from = _registry_password(args, team)
    run = _run(args)
    if form is not None:
        form.register_secrets(run.bus.redactor)
    registry = team_target(team, run.bus.redactor, password=password)
    spec = ClientSpec(f"{form.user}@{form.host}", form.transport) if form is not None else \
        ClientSpec(_("this machine"), HostForm(local=True).transport)
    try:
        return await _configure(run, [spec], registry, password_from, login_hint)
    finally:
        run.finish()


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # as profiles accept in *_env keys


async def export_team_profile(args: argparse.Namespace) -> int:
    profile = load_named_profile(args.profile)
    if args.password_env is not None and not _ENV_NAME.fullmatch(args.password_env):
        raise SetupError(_("--password-env {given}: give the NAME of an environment variable "
                           "(letters, digits and '_'), not the password itself").format(
                               given=repr(args.password_env[:40])))
    ca_pem = pki.load_or_create_ca().cert_pem.decode() if profile.registry.tls == "own-ca" else None
    shared = team_profile_from(profile, ca_pem)
    team = shared.team
    assert team is not None
    if args.password_env:
        if not team.username:
            raise SetupError(_("--password-env: this registry has no login (auth = \"none\"), so teammates need "
                               "no password: leave --password-env out"))
        team.password_env = args.password_env
    if args.output:
        from app.summary import ExportError, ExportUnwritable, write_team_profile

        try:
            written = write_team_profile(shared, args.output, overwrite=True)  # -o names the file to write
        except ExportUnwritable as exc:  # (here the file is what -o names)
            raise SetupError(_("cannot write {path} ({reason}): give -o a file in a folder you can write to").format(
                path=exc.path, reason=exc.reason)) from None
        except ExportError as exc:
            raise SetupError(str(exc)) from None
        print(_("wrote {path}").format(path=written), file=sys.stderr)
    else:
        sys.stdout.write(render_profile(shared))
    if team.username and not team.password_env:
        print(_("note: registry user {user} has no password_env: teammates give the password with "
                "regwiz onboard FILE --password-env VAR (or type it when asked); export with --password-env VAR "
                "to write the variable's name into the team profile").format(user=team.username), file=sys.stderr)
    return OK
