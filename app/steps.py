"""The one shape of every step: check, plan (as a diff), apply, verify, roll back.

A step's ``plan()`` reads the host and changes nothing, neither the host nor its
own inputs nor its attributes: the ``Plan`` it returns holds every file change
(with the digest of each file as read) and, in ``decision``, a typed value (a
frozen dataclass of the step's module) with everything else ``apply`` does.
``apply(ctx, plan)`` does exactly that plan; ``verify`` and ``rollback`` read the
plan being applied from ``self.applied`` (set by the engine, never by plan()).

``run_step`` drives a step the same way for the TUI, the CLI and the tests:
nothing is applied without a plan shown and confirmed; no change starts before
this run holds the host's lock (app/hostlock.py: one run at a time changes a
host); a step whose verify fails is rolled back automatically, and the rollback
is reported as done only once it is checked: the files are the backups again,
and a daemon the step restarts answers as it did before.
"""

from __future__ import annotations

import abc
import enum
import shlex
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from app import hostlock
from app.dockerd import DockerService
from app.events import EventKind, ScopedEmitter
from app.i18n import _
from app.remote_files import FileChange, FileNotAsPlanned, RemoteFiles, changed_since_planned
from app.transport import Transport, TransportError, shell


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
    #: The step's own typed decisions (a frozen dataclass): what apply does besides writing the files.
    decision: Any = None
    #: Whether the files are root's (sudo) or the user's own (Docker Desktop's ~/.docker).
    files_sudo: bool = True

    @property
    def empty(self) -> bool:
        return not any(c.changes_anything for c in self.changes) and not self.actions

    def diff(self) -> str:
        return "".join(c.diff() for c in self.changes if c.changes_anything)

    def describe(self) -> list[str]:
        lines = [self.summary]
        lines += [_("will: {action}").format(action=action) for action in self.actions]
        diff = self.diff()
        if diff:
            lines += diff.rstrip("\n").splitlines()
        return lines

    def same_as(self, other: "Plan") -> bool:
        """The same changes of the same files as read, and the same decisions.

        Not the summary and actions: they are prose in the language of the run that planned (a plan saved
        in Chinese and applied under LANG=C says the same), and every action apply takes is in the decision.
        """
        def key(plan: Plan) -> tuple[object, ...]:
            files = tuple((c.path, c.before_sha256, c.after_sha256, c.mode) for c in plan.changes)
            return (files, plan.decision, plan.files_sudo)
        return key(self) == key(other)


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
    #: Another regwiz run holds the host: nothing was changed, and the rest of this run stops too.
    busy: bool = False
    #: A planned file changed on the host after it was planned: nothing was changed; plan again.
    stale: bool = False
    #: The plan this step ended with (applied, refused or empty), for callers that record what was done.
    plan: Plan | None = None


class Step(abc.ABC):
    """A change to a host. Subclasses fill in plan/apply/verify/rollback."""

    title: str = ""
    #: The plan being applied, set by ``run_step`` just before ``apply``: what verify/rollback read.
    applied: Plan | None = None
    #: True when apply's first change is writing the plan's files (RemoteFiles.write, which refuses a
    #: file not as planned before changing it): a plan of one file then needs no separate check of it.
    writes_first: bool = False

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

    async def verify_rollback(self, ctx: StepContext, plan: Plan) -> str | None:
        """None when the rollback left the host as it was, else what state it is in and what to do.

        By default: every file the plan changed is byte-identical to its backup again (or gone, if it
        was new). ``run_step`` then checks the daemon of ``restarted_service`` answers if it did before.
        """
        return await files_restored(ctx, plan)

    def restarted_service(self) -> DockerService | None:
        """The daemon this step restarts, if any: the applied plan's ``decision.service``, else the
        step's ``service`` attribute (an input of the step), when it is a DockerService."""
        decision = self.applied.decision if self.applied is not None else None
        for service in (getattr(decision, "service", None), getattr(self, "service", None)):
            if isinstance(service, DockerService):
                return service
        return None


# For each (path, backup, digest) triple: a backup of "" means the file was new and must be gone again;
# a backup never made (its write was cut off before the copy) means the file must still have the digest.
_RESTORED = (
    'if command -v cmp >/dev/null 2>&1; then same() { cmp -s -- "$1" "$2"; }; '
    'else same() { [ "$(cksum < "$1")" = "$(cksum < "$2")" ]; }; fi; '
    'while [ $# -ge 3 ]; do p=$1; b=$2; d=$3; shift 3; '
    'if [ -z "$b" ]; then if [ -e "$p" ]; then echo "still there: $p"; fi; '
    'elif [ ! -e "$p" ]; then echo "missing: $p"; '
    'elif [ ! -e "$b" ]; then s=$(sha256sum < "$p"); if [ -z "$d" ] || [ "${s%% *}" != "$d" ]; then '
    'echo "differs: $p"; fi; '
    'elif ! same "$b" "$p"; then echo "differs: $p"; fi; done'
)


async def files_restored(ctx: StepContext, plan: Plan) -> str | None:
    """Every file the plan changed is its backup again, byte for byte; else which ones are not."""
    first: dict[str, tuple[str, str]] = {}
    for backup in ctx.files.backups:  # the first backup of a path holds what was there before the step
        first.setdefault(backup.path, (backup.backup_path or "", backup.before_sha256 or ""))
    pairs = [(c.path, *first[c.path]) for c in plan.changes if c.changes_anything and c.path in first]
    if not pairs:
        return None
    result = await ctx.transport.run(shell(_RESTORED, *(x for pair in pairs for x in pair)),
                                     sudo=ctx.files.sudo, check=True)
    wrong = [line for line in result.stdout.splitlines() if line.strip()]
    if not wrong:
        return None
    undo = "; ".join(f"cp -a {shlex.quote(b)} {shlex.quote(p)}" if b else f"rm {shlex.quote(p)}" for p, b, _d in pairs
                     if any(line.endswith(f": {p}") for line in wrong))
    return _("the rollback did not restore every file on {host} ({files}): put them back by hand ({undo})").format(
        host=ctx.transport.label, files=", ".join(wrong), undo=undo)


def service_down(service: DockerService, host: str, cause: str | None = None, fix: str | None = None) -> str:
    """What a host whose dockerd is down after a rollback needs from the user."""
    log = {"systemd": "`journalctl -u docker`", "boot2docker": "`/var/lib/boot2docker/docker.log`"}.get(
        service.init, "`/var/log/docker.log`")
    start = service._control("start").line()  # the init's own way, as DockerService restarts it
    because = f" ({cause})" if cause else ""
    then = _("{fix}, then start it").format(fix=fix) if fix else _("fix what it says, then start it")
    return _("rolled back the files, but dockerd does not run with them either: it is down on {host}{because}; "
             "see {log}, {then} with {command}").format(host=host, because=because, log=log, then=then,
                                                        command=f"`sudo {start}`")


Confirm = Callable[[Plan], Awaitable[bool]]


def stale_message(paths: list[str], host: str) -> str:
    return _("{files} changed on {host} since it was planned: nothing was changed there; "
             "plan again (review the new plan) and apply that").format(files=", ".join(paths), host=host)


async def run_step(step: Step, ctx: StepContext, confirm: Confirm, planned: Plan | None = None) -> StepResult:
    """Plan, confirm, apply exactly that plan, verify, roll back when unhealthy.

    ``planned``: a plan the user already confirmed (a saved plan, or the clients' plans confirmed
    together): it is applied as it is, never planned again; if another run changed the host while
    this one waited for its lock, and planning again gives another plan, it is refused instead.
    """
    emit = ctx.emit
    emit(EventKind.STATUS, (_("{step}: applying the confirmed plan") if planned else _("{step}: planning")).format(
        step=_(step.title)))
    confirmed: list[str] | None = None
    took_lock = False
    try:
        for attempt in range(2):  # a second time only when another run changed the host while this one waited
            if planned is not None and attempt == 0:
                plan = planned
            else:
                try:
                    plan = await step.plan(ctx)
                except TransportError as exc:
                    message = _("{error}. Nothing was changed; run the step again once the host answers.").format(
                        error=exc)
                    emit.error(message)
                    return StepResult(Outcome.FAILED, message)
            if plan.refused:
                emit.error(plan.refused)
                return StepResult(Outcome.REFUSED, plan.refused, plan=plan)
            if planned is not None and not plan.same_as(planned):
                message = _("{step}: another run changed {host} while this one waited, and the confirmed plan no "
                            "longer holds: nothing was changed; plan again").format(step=_(step.title),
                                                                                   host=ctx.transport.label)
                emit.error(message)
                return StepResult(Outcome.REFUSED, message, stale=True, plan=plan)
            if plan.empty:
                emit.info(_("{step}: nothing to do").format(step=_(step.title)))
                return StepResult(Outcome.NOTHING_TO_DO, _("already as it should be; nothing changed"), plan=plan)
            if planned is None and plan.describe() != confirmed:  # a plan that changed while waiting: again
                emit(EventKind.INFO, plan.describe())
                if not await confirm(plan):
                    emit.info(_("not confirmed; nothing was changed"))
                    return StepResult(Outcome.DECLINED, _("not confirmed; nothing was changed"), plan=plan)
                confirmed = plan.describe()
            ctx.files.sudo = plan.files_sudo
            # Before the first change, never while planning: one regwiz run at a time changes a host.
            had_lock = ctx.transport.host_lock is not None and ctx.transport.host_lock.held
            try:
                waited = await hostlock.hold(ctx.transport, emit, sudo=ctx.files.sudo)
            except hostlock.HostBusy as exc:
                emit.error(str(exc))
                return StepResult(Outcome.FAILED, str(exc), busy=True, plan=plan)
            except TransportError as exc:
                message = _("{error}. Nothing was changed; run the step again once the host answers.").format(error=exc)
                emit.error(message)
                return StepResult(Outcome.FAILED, message, plan=plan)
            took_lock = took_lock or not had_lock
            if not waited:
                break
            emit.info(_("{step}: another run changed the host while this one waited: planning again").format(
                step=_(step.title)))
        result = await _apply(step, ctx, planned or plan)
        result.plan = planned or plan
        return result
    finally:
        if took_lock and not ctx.transport.keep_host_lock:
            await ctx.transport.release_host_lock()


async def _apply(step: Step, ctx: StepContext, plan: Plan) -> StepResult:
    emit = ctx.emit
    # One file, written first: its write refuses it, unchanged, when it is not as planned (FileNotAsPlanned).
    folded = step.writes_first and sum(c.changes_anything for c in plan.changes) == 1
    try:  # under the lock, before the first change: every planned file is still as it was read
        changed = [] if folded else await changed_since_planned(ctx.transport, plan.changes, sudo=ctx.files.sudo)
    except TransportError as exc:
        message = _("{error}. Nothing was changed; run the step again once the host answers.").format(error=exc)
        emit.error(message)
        return StepResult(Outcome.FAILED, message)
    if changed:
        message = stale_message(changed, ctx.transport.label)
        emit.error(message)
        return StepResult(Outcome.REFUSED, message, stale=True)
    step.applied = plan
    service = step.restarted_service()
    answered_before = False
    if service is not None:
        try:
            answered_before = await service.answers(ctx.transport)
        except TransportError:
            answered_before = False
    emit(EventKind.STATUS, _("{step}: applying").format(step=_(step.title)))
    problem: str | None
    try:
        await step.apply(ctx, plan)
        problem = await step.verify(ctx)
    except FileNotAsPlanned as exc:
        if folded:  # the step's first change, refused: nothing was changed
            message = stale_message([exc.path], ctx.transport.label)
            emit.error(message)
            return StepResult(Outcome.REFUSED, message, stale=True)
        problem = str(exc)
    except TransportError as exc:
        problem = str(exc)
    if problem is None:
        emit(EventKind.STATUS, _("{step}: done").format(step=_(step.title)))
        return StepResult(Outcome.APPLIED, _("applied and verified"))
    emit.error(_("{step} did not verify: {problem}; rolling back").format(step=_(step.title), problem=problem))
    left: str | None
    try:
        # A dropped connection takes the lock with it: take it again, and never roll back over the
        # changes of a run that held the host meanwhile.
        if await hostlock.hold(ctx.transport, emit, sudo=ctx.files.sudo):
            message = _("{problem}. Not rolled back: another regwiz run changed {host} while this one had lost its "
                        "connection; check the host, and its backups: {backups}").format(
                            problem=problem, host=ctx.transport.label, backups=_backups(ctx))
            emit.error(message)
            return StepResult(Outcome.FAILED, message)
        await step.rollback(ctx)
        left = await step.verify_rollback(ctx, plan)
        if left is None and service is not None and answered_before \
                and not await service.wait_until_answering(ctx.transport, 30):
            left = service_down(service, ctx.transport.label)
    except TransportError as exc:
        message = _("{problem}. Rolling back failed too ({error}); backups: {backups}").format(
            problem=problem, error=exc, backups=_backups(ctx))
        emit.error(message)
        return StepResult(Outcome.FAILED, message)
    if left is not None:
        emit.error(_("not as it was before: {left}").format(left=left))
        return StepResult(Outcome.FAILED, f"{problem}. {left[:1].upper()}{left[1:]}")
    emit.warning(_("rolled back and checked: the host is as it was before"))
    return StepResult(Outcome.ROLLED_BACK, _("{problem}. Rolled back: the host is as it was before.").format(
        problem=problem))


def _backups(ctx: StepContext) -> str:
    return ", ".join(b.backup_path or _("{path} (new)").format(path=b.path) for b in ctx.files.backups) or _("none")
