"""``--plan-out FILE`` (diagnose, deploy, clients, setup) and ``regwiz apply FILE``.

Planning writes the plans of every host into FILE and changes nothing (no host lock is taken, no
test image is pushed). ``apply`` reads FILE (a malformed one is refused before any host is
touched: exit 2), then, host by host, applies exactly its plans through the same engine as the
other commands (``run_step`` with the saved plan): a planned file that changed on a host since
refuses that host, naming the file (exit 1), and nothing is changed there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app import planfile
from app.clients.configure import ClientSpec, Planned, configure_clients, steps_for
from app.clients.docker_trust import DockerTrustDecision, DockerTrustStep
from app.clients.model import ClientKind
from app.clients.runtimes import ContainerdTrustStep, DockerStoreHostsStep, FilesDecision, PodmanTrustStep
from app.diagnose import DiagnosisContext, default_checks, run_checks
from app.diagnose.docker_fixes import EnableDockerDecision, EnableDockerFix, InstallDockerDecision, InstallDockerFix
from app.diagnose.network_fixes import DaemonNetworkDecision, DaemonNetworkFix, RouteDeleteDecision, RouteDeleteFix
from app.headless import FAILED, OK, Run, fixes_to_apply
from app.i18n import _
from app.planfile import PlanFileError, SavedHost, SavedPlans, SavedStep, SensitiveChange
from app.profiles import Profile
from app.registry.deploy import DeployChoices, DeployDecision, DeployRegistryStep, adopt_names
from app.session import SetupError, deploy_choices, load_named_profile, registry_target
from app.steps import Plan, Status, Step, StepContext
from app.transport import Transport, TransportError

#: Each step class's name in a plan file, and the type of its plan's decision.
STEP_KINDS: dict[type[Step], tuple[str, type | None]] = {
    DockerTrustStep: ("docker-trust", DockerTrustDecision),
    DockerStoreHostsStep: ("docker-store-hosts", None),
    ContainerdTrustStep: ("containerd-trust", FilesDecision),
    PodmanTrustStep: ("podman-trust", FilesDecision),
    DeployRegistryStep: ("deploy", DeployDecision),
    DaemonNetworkFix: ("fix-daemon-network", DaemonNetworkDecision),
    RouteDeleteFix: ("fix-route-delete", RouteDeleteDecision),
    EnableDockerFix: ("fix-enable-docker", EnableDockerDecision),
    InstallDockerFix: ("fix-install-docker", InstallDockerDecision),
}
DECISIONS: dict[str, type | None] = dict(STEP_KINDS.values())
SERVER_STEPS = {"deploy", "fix-daemon-network", "fix-route-delete", "fix-enable-docker", "fix-install-docker"}
#: What each command plans: the server's fixes, its deploy, the clients.
COMMANDS = {"diagnose": (True, False, False), "deploy": (True, True, False), "clients": (False, False, True),
            "setup": (True, True, True)}


def kind_of(step: Step) -> str:
    for cls in type(step).__mro__:
        if cls in STEP_KINDS:
            return STEP_KINDS[cls][0]
    raise TypeError(f"{type(step).__name__} cannot be saved in a plan file")


# -- planning ---------------------------------------------------------------------------------------

def _record(run: Run, host: str, step: Step, plan: Plan) -> None:
    run.out.record("plan", host=host, step=step.title, summary=plan.summary, actions=plan.actions,
                   diff=plan.diff(), refused=plan.refused,
                   status="refused" if plan.refused else "planned (nothing changed; regwiz apply FILE applies it)")


async def _plan_step(run: Run, step: Step, ctx: StepContext, host: str) -> Plan:
    plan = await step.plan(ctx)
    _record(run, host, step, plan)
    secret = [c for c in plan.changes if c.sensitive and c.changes_anything and c.new is not None]
    if secret and not plan.refused:
        # A sensitive text that planning gives again alike (config.yml from the profile's variables) is
        # planned again at apply time; one it does not (a new key, a new bcrypt salt) is kept here (0600).
        again = {c.path: c.new for c in (await step.plan(ctx)).changes}
        for change in secret:
            if again.get(change.path) != change.new:
                planfile.keep_secret(change.new or "")
    return plan


async def _plan_server(run: Run, profile: Profile, transport: Transport, host: str, fixes: bool,
                       choices: DeployChoices | None) -> tuple[SavedHost, bool]:
    saved, ok = SavedHost("server", host), True
    emit = run.bus.scoped(source="plan", host=host)
    if fixes:
        results = await run_checks(default_checks(), DiagnosisContext(transport, run.bus, host))
        for result in results:
            run.out.record("check", **result.as_json())
        for result in fixes_to_apply(results):
            step = result.fixes[0]
            plan = await _plan_step(run, step, StepContext(transport, emit), host)
            ok = ok and not plan.refused
            saved.steps.append(SavedStep(kind_of(step), step.title, plan, result.check_id))
    if choices is not None:
        step = DeployRegistryStep(choices)
        plan = await _plan_step(run, step, StepContext(transport, emit), host)
        ok = ok and not plan.refused
        saved.steps.append(SavedStep(kind_of(step), step.title, plan))
    return saved, ok


async def plan_out(args: argparse.Namespace, command: str) -> int:
    from app.commands import _client_specs, _run, _server

    profile = load_named_profile(args.profile)
    run = _run(args)
    out = Path(args.plan_out).expanduser()
    if not out.parent.is_dir():
        raise SetupError(_("--plan-out {path}: the folder {folder} does not exist").format(path=args.plan_out,
                                                                                         folder=out.parent))
    fixes, deploy, clients = COMMANDS[command]
    given = Path(args.profile).expanduser()
    saved = SavedPlans(command, str(given.resolve()) if given.is_file() else args.profile)
    choices = deploy_choices(profile, run.bus.redactor) if deploy else None
    specs = _client_specs(profile, run) if clients else []
    ok = True
    try:
        if fixes or deploy:
            _spec, transport, host = _server(profile, run)
            try:
                await run.connect(transport, host)
                server, ok = await _plan_server(run, profile, transport, host, fixes, choices)
                saved.hosts.append(server)
            except TransportError as exc:
                run.out.record("error", message=str(exc), status="failure")
                return FAILED
            finally:
                await transport.close()
        if clients:
            ok = await _plan_clients(run, profile, specs, saved) and ok
        planfile.write(saved, out)
        steps = sum(len(h.steps) for h in saved.hosts)
        run.out.record("plan-file", path=str(out), hosts=len(saved.hosts), steps=steps,
                       status="written" if ok else "written, with refusals",
                       message=_("{steps} plans for {hosts} hosts; nothing was changed: review {path}, then "
                                 "{command}").format(steps=steps, hosts=len(saved.hosts), path=out,
                                                     command=f"regwiz apply {out}"))
        return OK if ok else FAILED
    finally:
        run.finish()


async def _plan_clients(run: Run, profile: Profile, specs: list[ClientSpec], saved: SavedPlans) -> bool:
    async def never(plans: list[tuple[str, Plan]]) -> bool:
        return False

    async def accept_key(name: str, unknown) -> bool:  # type: ignore[no-untyped-def]
        return run.trust_fingerprint == unknown.fingerprint

    registry = registry_target(profile, run.bus.redactor)
    results = await configure_clients(specs, registry, run.bus, never, accept_key=accept_key, plan_only=True)
    ok = True
    for result in results:
        if result.status is Status.FAILURE or result.kind is None:  # (its plans, if any, are not all there)
            run.out.record("client", client=result.name, kind=result.kind.value if result.kind else None,
                           status="failure", message=result.message)
            ok = False
            continue
        host = SavedHost("client", result.name, result.kind.value)
        for step, plan in zip(steps_for(result.kind, registry), result.plans, strict=True):
            _record(run, result.name, step, plan)
            host.steps.append(SavedStep(kind_of(step), step.title, plan))
        saved.hosts.append(host)
    return ok


# -- applying ---------------------------------------------------------------------------------------

def _validate(saved: SavedPlans, source: str, profile: Profile, client_names: set[str]) -> None:
    """Every host and step of the file fits the profile, before any host is touched."""
    if saved.command not in COMMANDS:
        raise PlanFileError(_("{source}: 'command' must be one of {choices}, found {value}").format(
            source=source, choices=", ".join(COMMANDS), value=f"{saved.command!r:.40}"))
    for i, host in enumerate(saved.hosts):
        where = f"{source}: hosts[{i}] ({host.name})"
        for step in host.steps:
            if (step.step in SERVER_STEPS) != (host.role == "server"):
                raise PlanFileError(_("{where}: a {role} has no step {step}").format(where=where, role=host.role,
                                                                                   step=repr(step.step)))
        if host.role == "client":
            if host.name not in client_names:
                raise PlanFileError(_("{where}: the profile has no client {client}").format(
                    where=where, client=repr(host.name)))
            if host.kind not in {k.value for k in ClientKind}:
                raise PlanFileError(_("{where}: unknown client kind {kind}").format(where=where,
                                                                                  kind=f"{host.kind!r:.40}"))
        elif sum(s.step == "deploy" for s in host.steps) > 1:
            raise PlanFileError(_("{where}: more than one deploy").format(where=where))


async def _resolve_secrets(step: Step, ctx: StepContext, plan: Plan) -> Plan | str:
    """The plan with each sensitive file's text: kept on this machine, or planned again alike."""
    pending = [c for c in plan.changes if isinstance(c, SensitiveChange)]
    if not pending:
        return plan
    fresh: dict[tuple[str, str | None], str | None] | None = None
    changes = []
    for change in plan.changes:
        if not isinstance(change, SensitiveChange):
            changes.append(change)
            continue
        if not change.planned_change:  # unchanged: nothing to write, nothing to check
            changes.append(change)
            continue
        text = planfile.kept_secret(change.planned_after) if change.planned_after else None
        if text is None and change.planned_after is not None:
            if fresh is None:
                again = await step.plan(ctx)
                fresh = {(c.path, c.after_sha256): c.new for c in again.changes}
            text = fresh.get((change.path, change.planned_after))
            if text is None:
                return _("the planned text of {path} (it holds secrets, so the plan file has only its digest) is not "
                         "kept on this machine, and planning again gives another: apply the plan where it was made, "
                         "or plan again").format(path=change.path)
        changes.append(change.with_text(text))
    return Plan(plan.summary, changes=changes, actions=plan.actions, typed_confirmation=plan.typed_confirmation,
                refused=plan.refused, decision=plan.decision, files_sudo=plan.files_sudo)


async def _apply_server(run: Run, profile: Profile, host_plan: SavedHost) -> int:
    from app.commands import _prove, _server

    _spec, transport, host = _server(profile, run)
    choices = deploy_choices(profile, run.bus.redactor)
    code = OK
    try:
        await run.connect(transport, host)
        fixes: dict[tuple[str | None, str], Step] = {}
        if any(s.step != "deploy" for s in host_plan.steps):  # the fixes' steps, from a read-only diagnosis
            results = await run_checks(default_checks(), DiagnosisContext(transport, run.bus, host))
            fixes = {(r.check_id, f.title): f for r in results for f in r.fixes}
        for saved in host_plan.steps:
            step = DeployRegistryStep(choices) if saved.step == "deploy" else fixes.get((saved.check, saved.title))
            if step is None or kind_of(step) != saved.step:
                run.out.record("step", step=saved.title, outcome="refused", status="failure",
                               message=_("the {check} check no longer offers this fix on {host}: nothing more was "
                                         "changed; plan again").format(check=saved.check, host=host))
                return FAILED
            ctx = StepContext(transport, run.bus.scoped(source="apply", host=host))
            plan = await _resolve_secrets(step, ctx, saved.plan)
            if isinstance(plan, str):
                run.out.record("step", step=saved.title, outcome="refused", status="failure", message=plan)
                return FAILED
            done = await run.step(step, transport, f"apply.{saved.step}", host, planned=plan,
                                  on_result=lambda result: adopt_names(choices, result.plan))
            if not done:
                return FAILED
            if saved.step == "deploy":
                code = await _prove(run, choices, host)
    except TransportError as exc:
        run.out.record("error", message=str(exc), status="failure")
        return FAILED
    finally:
        await transport.close()
    return code


async def apply(args: argparse.Namespace) -> int:
    from app.commands import _client_specs, _configure, _profile_password_from, _registry_ready, _run

    source = Path(args.file)
    try:
        saved = planfile.load(source, DECISIONS)
        profile = load_named_profile(saved.profile)
    except PlanFileError as exc:
        raise SetupError(str(exc)) from None
    run = _run(args)
    run.yes = True  # the plans were confirmed when they were saved (and may be reviewed in the file)
    try:
        specs = {s.name: s for s in _client_specs(profile, run)} if any(h.role == "client" for h in saved.hosts) \
            else {}
        try:
            _validate(saved, str(source), profile, set(specs))
        except PlanFileError as exc:
            raise SetupError(str(exc)) from None
        code = OK
        for host in (h for h in saved.hosts if h.role == "server"):
            code = await _apply_server(run, profile, host)
            if code != OK:
                return code
        clients = [h for h in saved.hosts if h.role == "client"]
        if clients:
            registry = registry_target(profile, run.bus.redactor)
            if not await _registry_ready(profile, run, registry):
                return FAILED
            planned: Planned = {h.name: (ClientKind(h.kind), [s.plan for s in h.steps]) for h in clients}
            chosen = [specs[h.name] for h in clients]
            code = await _configure(run, chosen, registry, _profile_password_from(profile), planned=planned)
        return code
    finally:
        run.finish()
