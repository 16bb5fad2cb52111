"""Checks: read-only questions about a host, each ending ok, warning or failure.

A check streams the commands it runs into its own log, and returns a
``CheckResult`` with the evidence and the fixes (steps) it can offer. Checks
share what they learn as typed facts kept with the connection (app/facts.py: the
network check reads the ``DockerState`` the Docker check gathered).
"""

from __future__ import annotations

import abc
import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Sequence

from app.events import EventBus, EventKind, ScopedEmitter
from app.facts import Reply, docker_service, pass_on_failure, read_in_one
from app.i18n import _
from app.steps import Status, Step
from app.transport import Transport


@dataclass
class CheckResult:
    check_id: str
    title: str
    status: Status
    summary: str
    evidence: list[str] = field(default_factory=list)
    fixes: list[Step] = field(default_factory=list)  # the first is the recommended one
    picture: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # machine-readable facts (JSON output)

    def as_json(self) -> dict[str, Any]:
        return {
            "check": self.check_id, "title": self.title, "status": self.status.value,
            "summary": self.summary, "evidence": self.evidence,
            "fixes": [fix.title for fix in self.fixes], "data": self.data,
        }


@dataclass
class DiagnosisContext:
    transport: Transport
    bus: EventBus
    host: str
    registry_port: int = 5000
    storage_path: str = "/var/lib/registry"

    #: This run's checks that read with shell snippets (Check.reads), and their replies once read: the
    #: first of them to run reads for them all, in one command. Set afresh by each run_checks.
    batch: list["Check"] = field(default_factory=list, repr=False)
    read: dict[str, "asyncio.Future[tuple[list[Reply], float, float]]"] = field(default_factory=dict, repr=False)
    #: Where each check of the running run_checks writes (its held log): the batch's read goes to the first
    #: check of the batch, whichever check asks first.
    emitters: dict[str, "HeldEmitter"] = field(default_factory=dict, repr=False)

    def emitter(self, check_id: str) -> ScopedEmitter:
        return self.bus.scoped(source=f"diagnose.{check_id}", host=self.host)

    async def replies(self, check: "Check", emit: ScopedEmitter) -> tuple[list[Reply], float, float]:
        """What each of ``check.reads`` printed and its exit status, with the times (time.time()) just
        before the command that read them was sent and just after its answer came back. Read with the
        snippets of every check of this run not read yet (one round trip), or alone outside run_checks."""
        if check.check_id not in self.read:
            batch = [c for c in self.batch if c.check_id not in self.read]
            if check not in batch:
                batch = [check]
            # Checks run concurrently (run_checks): the others of the batch wait for this one read.
            waiting = {c.check_id: asyncio.get_running_loop().create_future() for c in batch}
            self.read.update(waiting)
            try:
                snippets = [c.reads(self) for c in batch]
                before = time.time()
                replies = await read_in_one(self.transport, [s for some in snippets for s in some],
                                            self.emitters.get(batch[0].check_id, emit),
                                            sudo=any(c.reads_sudo for c in batch))
                after = time.time()
            except BaseException as exc:
                for c in batch:
                    self.read.pop(c.check_id, None)
                    pass_on_failure(waiting[c.check_id], exc)
                raise
            for c, some in zip(batch, snippets, strict=True):
                waiting[c.check_id].set_result((replies[:len(some)], before, after))
                replies = replies[len(some):]
        return await asyncio.shield(self.read[check.check_id])


class Check(abc.ABC):
    check_id: str = ""
    title: str = ""  # marked with N_ in each check; shown through _()

    @abc.abstractmethod
    async def run(self, ctx: DiagnosisContext, emit: ScopedEmitter) -> CheckResult: ...

    #: The checks (ids) this one runs after when they are in the same run: it reads what they found.
    needs: tuple[str, ...] = ()

    #: Whether it asks how the host's init runs dockerd (facts.docker_service): asked early for the run.
    reads_docker_service = False

    #: Whether the snippets of ``reads`` need root (the batch runs with sudo when any check's do).
    reads_sudo = False

    def reads(self, ctx: DiagnosisContext) -> list[str]:
        """Read-only shell snippets whose output this check needs (``ctx.replies`` gives it), none by
        default. The snippets of one run's checks share one remote command (facts.read_in_one)."""
        return []

    def result(self, status: Status, summary: str, **kwargs: Any) -> CheckResult:
        return CheckResult(self.check_id, _(self.title), status, summary, **kwargs)


ResultSink = Callable[[CheckResult], None]


class HeldEmitter(ScopedEmitter):
    """A check's emitter while checks run concurrently: what the check writes is held, and written to its
    own log (``release``) when its turn in the diagnosis order comes, so each check's lines stay together
    and in the same order as when the checks ran one after another."""

    def __init__(self, emit: ScopedEmitter) -> None:
        super().__init__(emit.bus, emit.scope, emit.host)
        self._held: list[tuple[EventKind, str | Sequence[str]]] | None = []

    def __call__(self, kind: EventKind, lines: str | Sequence[str]) -> None:
        if self._held is None:
            self.bus.emit(kind, lines, scope=self.scope, host=self.host)
        else:
            self._held.append((kind, lines))

    def release(self) -> None:
        """Write what was held, and from now on write at once."""
        held, self._held = self._held or [], None
        for kind, lines in held:
            self(kind, lines)


async def run_checks(checks: list[Check], ctx: DiagnosisContext,
                     on_start: Callable[[Check], None] | None = None,
                     on_result: ResultSink | None = None) -> list[CheckResult]:
    """Run checks; a check that breaks becomes a failure, not a crash.

    The checks' reads go out together on the one connection (its channels are multiplexed): each check
    starts at once, but after the checks of this run it ``needs`` (the network check reads what the Docker
    check found). What they write is held and written check by check in the order given, as is what
    ``on_start`` and ``on_result`` are told: the logs and results read as when the checks ran one after
    another."""
    from app.transport import TransportError

    ctx.batch = [check for check in checks if check.reads(ctx)]
    ctx.read = {}
    held = {check.check_id: HeldEmitter(ctx.emitter(check.check_id)) for check in checks}
    ctx.emitters = held
    tasks: dict[str, asyncio.Task[CheckResult]] = {}

    # Asked once, before the checks' commands go out together: whether the login is root (what each sudo
    # command asks first), and, beside it, how the host's init runs dockerd (what most checks read first).
    async def diagnosis_asks(question: Awaitable[object]) -> object:  # (a frame of the diagnosis's own)
        return await question

    early: list[asyncio.Future[object]] = [asyncio.ensure_future(diagnosis_asks(ctx.transport.is_root()))]
    if any(check.reads_docker_service for check in checks):
        early.append(asyncio.ensure_future(diagnosis_asks(docker_service(ctx.transport))))

    async def one(check: Check, emit: HeldEmitter) -> CheckResult:
        for needed in check.needs:
            if needed in tasks:
                await asyncio.gather(tasks[needed], return_exceptions=True)
        emit(EventKind.STATUS, _("{check}: checking").format(check=_(check.title)))
        try:
            await asyncio.shield(early[0])
            return await check.run(ctx, emit)
        except TransportError as exc:
            return check.result(Status.FAILURE, _("could not check: {error}").format(error=exc))

    for check in checks:
        tasks[check.check_id] = asyncio.ensure_future(one(check, held[check.check_id]))
    results = []
    try:
        for check in checks:
            emit = held[check.check_id]
            if on_start is not None:
                on_start(check)
            result = await tasks[check.check_id]
            emit.release()
            # The status words are marked in app/headless.py (SHOWN_WORDS).
            emit(EventKind.STATUS, f"{_(check.title)}: {_(result.status.value)}: {result.summary}")
            results.append(result)
            if on_result is not None:
                on_result(result)
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), *early, return_exceptions=True)
        for emit in held.values():
            emit.release()  # a run cut short: what its checks wrote so far still reaches the log
        ctx.emitters = {}
    return results
