"""Checks: read-only questions about a host, each ending ok, warning or failure.

A check streams the commands it runs into its own log, and returns a
``CheckResult`` with the evidence and the fixes (steps) it can offer. Checks
share what they learn as typed facts kept with the connection (app/facts.py: the
network check reads the ``DockerState`` the Docker check gathered).
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from app.events import EventBus, EventKind, ScopedEmitter
from app.facts import Reply, read_in_one
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
    read: dict[str, tuple[list[Reply], float, float]] = field(default_factory=dict, repr=False)

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
            snippets = [c.reads(self) for c in batch]
            before = time.time()
            replies = await read_in_one(self.transport, [s for some in snippets for s in some], emit,
                                        sudo=any(c.reads_sudo for c in batch))
            after = time.time()
            for c, some in zip(batch, snippets, strict=True):
                self.read[c.check_id] = (replies[:len(some)], before, after)
                replies = replies[len(some):]
        return self.read[check.check_id]


class Check(abc.ABC):
    check_id: str = ""
    title: str = ""  # marked with N_ in each check; shown through _()

    @abc.abstractmethod
    async def run(self, ctx: DiagnosisContext, emit: ScopedEmitter) -> CheckResult: ...

    #: Whether the snippets of ``reads`` need root (the batch runs with sudo when any check's do).
    reads_sudo = False

    def reads(self, ctx: DiagnosisContext) -> list[str]:
        """Read-only shell snippets whose output this check needs (``ctx.replies`` gives it), none by
        default. The snippets of one run's checks share one remote command (facts.read_in_one)."""
        return []

    def result(self, status: Status, summary: str, **kwargs: Any) -> CheckResult:
        return CheckResult(self.check_id, _(self.title), status, summary, **kwargs)


ResultSink = Callable[[CheckResult], None]


async def run_checks(checks: list[Check], ctx: DiagnosisContext,
                     on_start: Callable[[Check], None] | None = None,
                     on_result: ResultSink | None = None) -> list[CheckResult]:
    """Run checks in order; a check that breaks becomes a failure, not a crash."""
    from app.transport import TransportError

    results = []
    ctx.batch = [check for check in checks if check.reads(ctx)]
    ctx.read = {}
    for check in checks:
        emit = ctx.emitter(check.check_id)
        if on_start is not None:
            on_start(check)
        emit(EventKind.STATUS, _("{check}: checking").format(check=_(check.title)))
        try:
            result = await check.run(ctx, emit)
        except TransportError as exc:
            result = check.result(Status.FAILURE, _("could not check: {error}").format(error=exc))
        # The status words are marked in app/headless.py (SHOWN_WORDS).
        emit(EventKind.STATUS, f"{_(check.title)}: {_(result.status.value)}: {result.summary}")
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
