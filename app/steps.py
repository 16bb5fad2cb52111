"""The one shape of every step: check, plan (as a diff), apply, verify, roll back.

``run_step`` drives a step the same way for the TUI, the CLI and the tests:
nothing is applied without a plan shown and confirmed, and a step whose verify
fails is rolled back automatically.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from app.events import EventKind, ScopedEmitter
from app.remote_files import FileChange, RemoteFiles
from app.transport import Transport, TransportError


class Status(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    OK = "ok"
    WARNING = "warning"
    FAILURE = "failure"
    SKIPPED = "skipped"

    @property
    def icon(self) -> str:
        return {"pending": "·", "running": "…", "ok": "✓", "warning": "!", "failure": "✗", "skipped": "-"}[self.value]


@dataclass
class StepContext:
    transport: Transport
    emit: ScopedEmitter
    files: RemoteFiles = field(init=False)

    def __post_init__(self) -> None:
        self.files = RemoteFiles(self.transport, self.emit)


@dataclass
class Plan:
    """What a step would change: file diffs, and actions that are not files."""

    summary: str
    changes: list[FileChange] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    #: When set, the user must type this text to confirm (risky changes).
    typed_confirmation: str | None = None
    refused: str | None = None  # why the step will not do this at all

    @property
    def empty(self) -> bool:
        return not any(c.changes_anything for c in self.changes) and not self.actions

    def diff(self) -> str:
        return "".join(c.diff() for c in self.changes if c.changes_anything)

    def describe(self) -> list[str]:
        lines = [self.summary]
        lines += [f"will: {action}" for action in self.actions]
        diff = self.diff()
        if diff:
            lines += diff.rstrip("\n").splitlines()
        return lines


class Outcome(enum.Enum):
    NOTHING_TO_DO = "nothing to do"
    DECLINED = "not applied"
    REFUSED = "refused"
    APPLIED = "applied and verified"
    ROLLED_BACK = "failed; rolled back"
    FAILED = "failed"


@dataclass
class StepResult:
    outcome: Outcome
    message: str


class Step(abc.ABC):
    """A change to a host. Subclasses fill in plan/apply/verify/rollback."""

    title: str = ""

    @abc.abstractmethod
    async def plan(self, ctx: StepContext) -> Plan: ...

    @abc.abstractmethod
    async def apply(self, ctx: StepContext, plan: Plan) -> None: ...

    @abc.abstractmethod
    async def verify(self, ctx: StepContext) -> str | None:
        """None when the host is healthy after the change, else what is wrong."""

    async def rollback(self, ctx: StepContext) -> None:
        """Restore every file this step changed (steps with other effects add to it)."""
        await ctx.files.restore_all()


Confirm = Callable[[Plan], Awaitable[bool]]


async def run_step(step: Step, ctx: StepContext, confirm: Confirm) -> StepResult:
    emit = ctx.emit
    emit(EventKind.STATUS, f"{step.title}: planning")
    try:
        plan = await step.plan(ctx)
    except TransportError as exc:
        message = f"{exc}. Nothing was changed; run the step again once the host answers."
        emit.error(message)
        return StepResult(Outcome.FAILED, message)
    if plan.refused:
        emit.error(plan.refused)
        return StepResult(Outcome.REFUSED, plan.refused)
    if plan.empty:
        emit.info(f"{step.title}: nothing to do")
        return StepResult(Outcome.NOTHING_TO_DO, "already as it should be; nothing changed")
    emit(EventKind.INFO, plan.describe())
    if not await confirm(plan):
        emit.info("not confirmed; nothing was changed")
        return StepResult(Outcome.DECLINED, "not confirmed; nothing was changed")
    emit(EventKind.STATUS, f"{step.title}: applying")
    problem: str | None
    try:
        await step.apply(ctx, plan)
        problem = await step.verify(ctx)
    except TransportError as exc:
        problem = str(exc)
    if problem is None:
        emit(EventKind.STATUS, f"{step.title}: done")
        return StepResult(Outcome.APPLIED, "applied and verified")
    emit.error(f"{step.title} did not verify: {problem}; rolling back")
    try:
        await step.rollback(ctx)
    except TransportError as exc:
        backups = ", ".join(b.backup_path or f"{b.path} (new)" for b in ctx.files.backups)
        message = f"{problem}. Rolling back failed too ({exc}); backups: {backups}"
        emit.error(message)
        return StepResult(Outcome.FAILED, message)
    emit.warning("rolled back: the host is as it was before")
    return StepResult(Outcome.ROLLED_BACK, f"{problem}. Rolled back: the host is as it was before.")
