"""The headless commands behind ``regwiz diagnose|deploy|clients|onboard|export-team-profile``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from app import pki
from app.clients.configure import ClientSpec, configure_clients
from app.clients.model import RegistryTarget
from app.clients.testimage import ensure_test_image
from app.headless import FAILED, OK, Output, Run, worst
from app.profiles import Profile, load_profile, parse_profile, render_profile, team_profile_from
from app.registry.deploy import DeployChoices, DeployRegistryStep
from app.registry.health import registry_answers, wait_for_registry
from app.registry.prove import prove
from app.session import SetupError, client_kind, deploy_choices, host_form, registry_target, team_target
from app.steps import Plan, Status
from app.targets import HostForm, parse_number
from app.transport import Transport, TransportError


def _run(args: argparse.Namespace) -> Run:
    return Run(Output(args.json), args.yes, args.trust_host_key)


def _server(profile: Profile, run: Run):  # type: ignore[no-untyped-def]
    form = host_form(profile.server, run.bus.redactor)
    problems = form.errors() if not form.local else {}
    if problems:
        raise SetupError("the profile's [server] is not usable: " + "; ".join(f"{k}: {v}" for k, v in problems.items()))
    return form, form.transport(), (profile.server.host or "this machine")


async def _on_server(args: argparse.Namespace, profile: Profile, run: Run, work) -> int:  # type: ignore[no-untyped-def]
    """Connect to the profile's server, run ``work(transport, host)``, always close and report."""
    _, transport, host = _server(profile, run)
    try:
        await run.connect(transport, host)
        return await work(transport, host)
    except TransportError as exc:
        run.out.record("error", message=str(exc), status="failure")
        return FAILED
    finally:
        await transport.close()
        run.finish()


async def diagnose(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    run = _run(args)

    async def work(transport, host: str) -> int:  # type: ignore[no-untyped-def]
        return worst(await run.diagnose(transport, host, fix=args.yes))

    return await _on_server(args, profile, run, work)


async def _deploy_on(run: Run, choices: DeployChoices, transport: Transport, host: str) -> int:
    """Diagnose (fixing with --yes) and deploy, on an open connection to the registry host."""
    # Docker Hub may take seconds to time out: ask while the host is diagnosed.
    choices.hub_probe.start(transport, choices.image, run.bus.scoped(source="deploy", host=host))
    try:
        results = await run.diagnose(transport, host, fix=run.yes)
        blocking = [r for r in results if r.status is Status.FAILURE and r.check_id in ("docker", "network")]
        if blocking:
            run.out.record("error", status="failure",
                           message="the host is not ready: " + "; ".join(r.summary for r in blocking))
            return FAILED
        return OK if await run.step(DeployRegistryStep(choices), transport, "deploy", host) else FAILED
    finally:
        choices.hub_probe.cancel()


async def _prove(run: Run, choices: DeployChoices, host: str) -> int:
    """Push, pull and delete from this machine: the registry works as clients will use it."""
    steps = await prove(choices, run.bus.scoped(source="prove", host=host))
    for proof in steps:
        run.out.record("proof", name=proof.name, status="ok" if proof.ok else "failure",
                       detail=proof.detail, seconds=round(proof.seconds, 3))
    return OK if all(s.ok for s in steps) else FAILED


async def deploy(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    run = _run(args)
    choices = deploy_choices(profile, run.bus.redactor)

    async def work(transport: Transport, host: str) -> int:
        deployed = await _deploy_on(run, choices, transport, host)
        return deployed if deployed != OK or not run.yes else await _prove(run, choices, host)

    return await _on_server(args, profile, run, work)


async def setup(args: argparse.Namespace) -> int:
    """Everything, in one run: diagnose and fix, deploy, then prove it while every client is configured."""
    profile = load_profile(args.profile)
    run = _run(args)
    choices = deploy_choices(profile, run.bus.redactor)
    specs = _client_specs(profile, run)  # their secrets are checked before anything changes

    async def work(transport: Transport, host: str) -> int:
        deployed = await _deploy_on(run, choices, transport, host)
        if deployed != OK or not run.yes:
            return deployed
        if not specs:
            return await _prove(run, choices, host)
        codes = await asyncio.gather(_prove(run, choices, host),
                                     _configure(run, specs, registry_target(profile, run.bus.redactor)))
        return FAILED if FAILED in codes else OK

    return await _on_server(args, profile, run, work)


def _client_specs(profile: Profile, run: Run) -> list[ClientSpec]:
    specs = []
    for entry in profile.clients:
        form = host_form(entry, run.bus.redactor)
        name = "this machine" if form.local else f"{entry.user}@{entry.host}"
        specs.append(ClientSpec(name, form.transport, client_kind(entry)))
    return specs


async def _configure(run: Run, specs: list[ClientSpec], registry: RegistryTarget) -> int:
    async def confirm_all(plans: list[tuple[str, Plan]]) -> bool:
        for name, plan in plans:
            run.out.record("plan", client=name, summary=plan.summary, actions=plan.actions, diff=plan.diff(),
                           status="applying" if run.yes else "not applied (run again with --yes)")
        return run.yes

    async def accept_key(name: str, unknown) -> bool:  # type: ignore[no-untyped-def]
        return run.trust_fingerprint == unknown.fingerprint

    await ensure_test_image(registry)
    results = await configure_clients(specs, registry, run.bus, confirm_all, accept_key=accept_key)
    for result in results:
        run.out.record("client", client=result.name, kind=result.kind.value if result.kind else None,
                       status=result.status.value, message=result.message, pull_seconds=result.pull_seconds)
    bad = [r for r in results if r.status is Status.FAILURE or (run.yes and r.status is not Status.OK)]
    return FAILED if bad else OK


async def clients(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    run = _run(args)
    if not profile.clients:
        run.out.record("error", status="failure", message="the profile lists no [[clients]]")
        return FAILED
    registry = registry_target(profile, run.bus.redactor)
    specs = _client_specs(profile, run)
    try:
        if not await _registry_ready(profile, run, registry):
            return FAILED
        return await _configure(run, specs, registry)
    finally:
        run.finish()


async def _registry_ready(profile: Profile, run: Run, registry: RegistryTarget) -> bool:
    """Before touching any client: the registry answers, or its host says why not."""
    if await registry_answers(registry):
        return True
    _, transport, host = _server(profile, run)
    emit = run.bus.scoped(source="registry", host=host)
    try:
        await run.connect(transport, host)
        down = await wait_for_registry(registry, transport, emit)
    except TransportError as exc:
        run.out.record("error", status="failure",
                       message=f"the registry at {registry.address} does not answer, and its host cannot be "
                               f"reached to ask why: {exc}")
        return False
    finally:
        await transport.close()
    if down is None:
        return True
    run.out.record("error", status="failure", message=f"the registry at {registry.address} does not answer: "
                   f"{down.cause}. Nothing was changed on the clients. Fix: {down.fix}")
    return False


def _parse_host(text: str) -> tuple[str, str, int]:
    user, _, rest = text.rpartition("@")
    host, _, port = rest.partition(":")
    if port and parse_number(port) is None:
        raise SetupError(f"--host: the port must be a number (found {port!r})")
    return user or "root", host, int(port or 22)


async def onboard(args: argparse.Namespace) -> int:
    path = Path(args.file).expanduser()
    if not path.is_file():
        raise SetupError(f"no team profile at {path}")
    team = parse_profile(path.read_text(), path).team
    if team is None:
        raise SetupError(f"{path} has no [team] table: make one with regwiz export-team-profile")
    run = _run(args)
    registry = team_target(team, run.bus.redactor)
    if args.host:
        user, host, port = _parse_host(args.host)
        from app.profiles import secret_from_env

        password = secret_from_env(args.password_env) if args.password_env else None
        if args.password_env and password is None:
            raise SetupError(f"set the environment variable {args.password_env}")
        run.bus.redactor.add(password)
        form = HostForm(host=host, port=port, user=user, auth="password" if password else "agent",
                        password=password, sudo_password=password if user != "root" else None)
        spec = ClientSpec(f"{user}@{host}", form.transport)
    else:
        spec = ClientSpec("this machine", HostForm(local=True).transport)
    try:
        return await _configure(run, [spec], registry)
    finally:
        run.finish()


async def export_team_profile(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    ca_pem = pki.load_or_create_ca().cert_pem.decode() if profile.registry.tls == "own-ca" else None
    text = render_profile(team_profile_from(profile, ca_pem))
    if args.output:
        Path(args.output).expanduser().write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return OK
