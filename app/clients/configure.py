"""Configuring many clients at once, each with its own log, none stopping the others.

Phase one connects to every client, detects its kind and plans its changes;
the user confirms all the diffs once; phase two applies exactly those plans
(never planned again: a file that changed on a client since it was planned
refuses that client, named, and asks for a new plan), logs in and proves a pull
on each client concurrently, and a failing client is reported, not fatal.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from app.clients.detect import detect
from app.clients.model import ClientKind, RegistryTarget
from app.events import EventBus, ScopedEmitter
from app.i18n import _
from app.remote_files import changed_since_planned
from app.steps import Outcome, Plan, Status, Step, StepContext, run_step, stale_message
from app.transport import Transport, TransportError
from app.transport.base import LoginRefused
from app.transport.hostkeys import HostKeyUnknown


@dataclass
class ClientSpec:
    name: str  # as the user knows it: an address, an alias, or "this machine"
    connect: Callable[[], Transport]  # a fresh, unconnected transport
    kind: ClientKind | None = None  # None: detect


@dataclass
class ClientResult:
    name: str
    kind: ClientKind | None = None
    status: Status = Status.PENDING
    message: str = ""
    pull_seconds: float | None = None
    plans: list[Plan] = field(default_factory=list)  # one per step, in order: what is confirmed and applied
    #: A planned file changed on the client after it was planned: nothing was changed there.
    stale: bool = False
    #: The client's SSH login was refused (its password or key): the caller may say where it came from.
    login_refused: bool = False


@dataclass
class _Job:
    spec: ClientSpec
    emit: ScopedEmitter
    result: ClientResult
    transport: Transport | None = None
    steps: list[Step] = field(default_factory=list)


def steps_for(kind: ClientKind, registry: RegistryTarget) -> list[Step]:
    return kind.steps(registry)


async def login(transport: Transport, kind: ClientKind, registry: RegistryTarget, emit: ScopedEmitter,
                address: str | None = None) -> None:
    """The kind's login (docker/podman: the password on stdin, never on the command line)."""
    await kind.login(transport, registry, emit, address)


async def prove_pull(transport: Transport, kind: ClientKind, registry: RegistryTarget, emit: ScopedEmitter,
                     address: str | None = None) -> float:
    """Pull the test image on the client the kind's way; return the seconds it took."""
    return (await kind.prove(transport, registry, emit, address=address)).seconds


AcceptKey = Callable[[str, HostKeyUnknown], Awaitable[bool]]


#: Plans made earlier (a saved plan file): per client name, its kind and one plan per step of that kind.
Planned = dict[str, tuple[ClientKind, list[Plan]]]


async def _prepare(job: _Job, registry: RegistryTarget, accept_key: AcceptKey | None = None,
                   planned: Planned | None = None) -> None:
    emit = job.emit
    job.result.status = Status.RUNNING
    job.transport = job.spec.connect()
    job.transport.keep_host_lock = True  # the trust change, login and pull are one change: locked until closed
    job.transport.on_note = emit.warning  # a client not answering yet (restarting): said in its log
    await job.transport.connect_trusting(accept_key, name=job.spec.name)
    saved = planned.get(job.spec.name) if planned is not None else None
    if planned is not None and saved is None:
        raise TransportError(_("the plan file has no plan for {client}: plan again").format(client=job.spec.name))
    detection = None if job.spec.kind or saved else await detect(job.transport, emit)
    kind = saved[0] if saved else job.spec.kind or detection.kind  # type: ignore[union-attr]
    job.result.kind = kind
    emit.info(_("{client}: {kind} (as you chose)").format(client=job.spec.name, kind=kind.value)
              if detection is None else _("{client}: {kind} (detected; {evidence})").format(
                  client=job.spec.name, kind=kind.value, evidence=detection.evidence))
    if kind.refusal:
        raise TransportError(_(kind.refusal))
    job.steps = kind.steps(registry)
    if saved is not None:  # the saved plans, as they are: never planned again
        if len(saved[1]) != len(job.steps):
            raise TransportError(_("the plan file holds {plans} plans for {client}, whose kind ({kind}) has "
                                   "{steps} steps: plan again").format(plans=len(saved[1]), client=job.spec.name,
                                                                      kind=kind.value, steps=len(job.steps)))
        job.result.plans = list(saved[1])
        return
    for step in job.steps:
        plan = await step.plan(StepContext(job.transport, emit))
        if plan.refused:
            raise TransportError(plan.refused)
        job.result.plans.append(plan)


class StalePlan(TransportError):
    """A file planned on a client changed before the plan was applied: nothing changed there."""


async def _execute(job: _Job, registry: RegistryTarget, registry_gate: asyncio.Semaphore) -> None:
    assert job.transport is not None and job.result.kind is not None
    emit, kind = job.emit, job.result.kind

    async def yes(plan: Plan) -> bool:  # never asked: the plans confirmed are applied as they are
        return True

    # Before the first change on this client: every file of every confirmed plan is as it was read.
    for sudo in (True, False):
        changes = [c for p in job.result.plans if p.files_sudo is sudo for c in p.changes]
        changed = await changed_since_planned(job.transport, changes, sudo=sudo)
        if changed:
            job.result.stale = True
            raise StalePlan(stale_message(changed, job.spec.name))
    for step, plan in zip(job.steps, job.result.plans, strict=True):
        outcome = await run_step(step, StepContext(job.transport, emit), yes, planned=plan)
        if outcome.stale:
            job.result.stale = True
            raise StalePlan(outcome.message)
        if outcome.outcome not in (Outcome.APPLIED, Outcome.NOTHING_TO_DO):
            raise TransportError(f"{step.title}: {outcome.message}")
    async with registry_gate:  # the registry's share of the work: bounded apart from the SSH forks
        await kind.login(job.transport, registry, emit)
        proof = await kind.prove(job.transport, registry, emit, job.result.plans)
    job.result.pull_seconds, job.result.message = proof.seconds, proof.message
    job.result.status = Status.OK  # done now (a progress line counts it), not when the last client is


async def _guarded(job: _Job, work: Callable[[], Awaitable[None]]) -> None:
    if job.result.status is Status.FAILURE:
        return
    try:
        await work()
    except (TransportError, OSError, asyncio.TimeoutError) as exc:
        job.result.status = Status.FAILURE
        job.result.login_refused = isinstance(exc, LoginRefused)
        job.result.message = str(exc) or exc.__class__.__name__
        job.emit.error(job.result.message)


#: Clients that log in to and pull from the one registry at once. Every login and every request of a pull
#: makes the registry check a bcrypt hash (htpasswd auth); 32 at once on a small server kept one login
#: waiting past dockerd's own time-out ("context deadline exceeded"), and the registry's CPU, not the
#: number of requests in flight, bounds how fast they go. The SSH work around them stays at ``limit``.
REGISTRY_AT_ONCE = 8

ConfirmAll = Callable[[list[tuple[str, Plan]]], Awaitable[bool]]
OnUpdate = Callable[[ClientResult], None]


async def configure_clients(specs: list[ClientSpec], registry: RegistryTarget, bus: EventBus,
                            confirm_all: ConfirmAll, on_update: OnUpdate | None = None,
                            limit: int = 8, accept_key: AcceptKey | None = None, plan_only: bool = False,
                            planned: Planned | None = None,
                            registry_limit: int = REGISTRY_AT_ONCE,
                            registry_ready: Callable[[], Awaitable[bool]] | None = None) -> list[ClientResult]:
    """``limit``: clients worked on at once (SSH: connect, plan, apply). ``registry_limit``: of those, how
    many log in to and pull from the registry at once (all of them share the one registry).
    ``plan_only``: connect, detect and plan, change nothing (the plans are in the results).
    ``planned``: apply these plans (confirmed earlier) instead of planning.
    ``registry_ready``: awaited after every client is planned and before the plans are confirmed: the
    clients are connected and planned while the registry is still being deployed (`regwiz setup`), and
    nothing is confirmed or changed on them unless it answers True (False: the registry is not there)."""
    jobs = [_Job(spec, bus.scoped(source=f"client.{spec.name}", host=spec.name), ClientResult(spec.name))
            for spec in specs]
    gate = asyncio.Semaphore(limit)

    def update(job: _Job) -> None:
        if on_update is not None:
            on_update(job.result)

    async def phase(job: _Job, work: Callable[[_Job], Awaitable[None]]) -> None:
        async with gate:
            if job.result.status is not Status.FAILURE:  # started: a progress line counts it as running
                job.result.status = Status.RUNNING
                update(job)
            await _guarded(job, lambda: work(job))
            update(job)

    try:
        await asyncio.gather(*(phase(j, lambda j: _prepare(j, registry, accept_key, planned)) for j in jobs))
        ready = [j for j in jobs if j.result.status is not Status.FAILURE]
        if registry_ready is not None and not await registry_ready():
            for job in ready:
                job.result.status, job.result.message = Status.SKIPPED, _("the registry is not ready; nothing "
                                                                          "changed")
                update(job)
            return [j.result for j in jobs]
        if plan_only:
            for job in ready:
                job.result.status, job.result.message = Status.SKIPPED, _("planned; nothing changed")
                update(job)
            return [j.result for j in jobs]
        plans = [(j.spec.name, p) for j in ready for p in j.result.plans if not p.empty]
        if plans and not await confirm_all(plans):
            for job in ready:
                job.result.status, job.result.message = Status.SKIPPED, _("not confirmed; nothing changed")
                update(job)
            return [j.result for j in jobs]
        registry_gate = asyncio.Semaphore(max(1, min(limit, registry_limit)))
        await asyncio.gather(*(phase(j, lambda j: _execute(j, registry, registry_gate)) for j in ready))
        for job in ready:
            if job.result.status is not Status.FAILURE:
                job.result.status = Status.OK
                update(job)
    finally:
        for job in jobs:
            if job.transport is not None:
                try:
                    await job.transport.close()
                except Exception:  # noqa: BLE001 - a dead connection closes badly; nothing to do
                    pass
    return [j.result for j in jobs]


def _cells(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns (a Chinese character takes two)."""
    from app.cli_help import columns

    return text + " " * max(0, width - columns(text))


def summary_table(results: list[ClientResult]) -> list[str]:
    heading = _cells(_("client"), 24), _cells(_("kind"), 12), _cells(_("result"), 8), _("detail")
    rows = [" ".join(heading)]
    for r in results:
        kind = r.kind.value if r.kind else "?"
        rows.append(f"{_cells(r.name, 24)} {_cells(kind, 12)} {_cells(r.status.value, 8)} {r.message}")
    return rows
