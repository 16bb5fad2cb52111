"""The headless commands: the same engine as the TUI, driven from a profile.

Output is either live, human-readable lines, or JSON lines on stdout (one object
per check, step, proof sub-step or client). Exit codes: 0 all is well, 1 a
check or step failed, 2 bad usage or a bad profile. Without ``--yes`` nothing
that changes a host is applied: plans are printed instead.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, TextIO

from app.diagnose import CheckResult, DiagnosisContext, checks_after, default_checks, run_checks
from app.events import EventBus, EventKind, LogEvent
from app.i18n import N_, _
from app.runlog import RunLogs
from app.steps import Outcome, Plan, Status, Step, StepContext, StepResult, run_step
from app.transport import Transport, TransportError
from app.transport.hostkeys import HostKeyNotAccepted, HostKeyUnknown

OK, FAILED, USAGE = 0, 1, 2

# What the text lines show translated (JSON keeps them as they are): the records' types, and the
# statuses and outcomes of checks, steps, proofs and clients (app/steps.py Status and Outcome values).
SHOWN_WORDS = (
    N_("check"), N_("step"), N_("plan"), N_("proof"), N_("client"), N_("error"), N_("info"), N_("report"),
    N_("ok"), N_("warning"), N_("failure"), N_("skipped"), N_("nothing to do"), N_("not applied"), N_("refused"),
    N_("applied and verified"), N_("failed; rolled back"), N_("failed"), N_("applying"),
    N_("not applied (run again with --yes)"),
)


class HeadlessFailure(Exception):
    """A run failed for a reason already worded for the user, with what to do (exit code 1)."""


@dataclass
class Output:
    """Where a headless run writes: JSON lines, or live text."""

    json_mode: bool
    stream: TextIO = field(default_factory=lambda: sys.stdout)

    def event(self, event: LogEvent) -> None:
        if self.json_mode or event.kind is EventKind.FILE_CHANGED:
            return
        prefix = f"[{event.host}] " if event.host else ""
        for line in event.render_lines():
            print(prefix + line, file=self.stream, flush=True)

    def record(self, record_type: str, /, **data: Any) -> None:
        if self.json_mode:
            print(json.dumps({"type": record_type, **data}, default=str), file=self.stream, flush=True)
        else:
            text = data.get("summary") or data.get("message") or data.get("detail") or ""
            if record_type == "report":  # where to look afterwards: the report and the per-step logs
                text = _("{path} (the logs of every step: {logs})").format(path=data.get("path"),
                                                                          logs=data.get("logs"))
            status = data.get("status") or data.get("outcome") or ""
            status = _(status) if isinstance(status, str) and status else status
            title = data.get("title") or data.get("step") or data.get("name") or data.get("client") or ""
            body = " ".join(str(part) for part in (status, text) if part)
            print(f"== {_(record_type)}{' ' + title if title else ''}: {body}".rstrip(), file=self.stream,
                  flush=True)


@dataclass
class Run:
    out: Output
    yes: bool
    trust_fingerprint: str | None = None
    bus: EventBus = field(default_factory=EventBus)
    logs: RunLogs = field(default_factory=RunLogs)

    def __post_init__(self) -> None:
        self.bus.subscribe(self.logs)
        self.bus.subscribe(self.out.event)

    async def connect(self, transport: Transport, name: str) -> None:
        """Connect; an unknown key is accepted only when its fingerprint was given."""
        transport.keep_host_lock = True  # the run's first change takes the host's lock; close() lets it go
        emit = self.bus.scoped(source="credentials", host=name)

        def note(text: str) -> None:  # a host not answering yet: in the log, the live lines and the JSON
            emit.warning(text)
            if self.out.json_mode:
                self.out.record("info", host=name, message=text)

        transport.on_note = note

        async def given(host: str, unknown: HostKeyUnknown) -> bool:
            return self.trust_fingerprint == unknown.fingerprint

        try:
            await transport.connect_trusting(given, name=name)
        except HostKeyNotAccepted as refused:
            unknown = refused.unknown
            raise TransportError(
                f"{unknown}\n" + _("Headless runs never accept a key on their own: connect once in the TUI, "
                                   "or pass --trust-host-key {fingerprint} after checking it.").format(
                                       fingerprint=unknown.fingerprint)) from None

    async def confirm(self, plan: Plan) -> bool:
        if not self.yes:
            self.out.record("plan", summary=plan.summary, actions=plan.actions, diff=plan.diff(),
                            status="not applied (run again with --yes)")
        return self.yes

    async def step(self, step: Step, transport: Transport, source: str, host: str,
                   on_result: Callable[[StepResult], None] | None = None, planned: Plan | None = None) -> bool:
        """Run one step (``planned``: apply that plan, confirmed earlier, as it is)."""
        result = await run_step(step, StepContext(transport, self.bus.scoped(source=source, host=host)),
                                self.confirm, planned=planned)
        if on_result is not None:
            on_result(result)
        self.out.record("step", step=_(step.title), outcome=result.outcome.value, message=result.message)
        if result.busy:  # another run changes this host: nothing more of this run may touch it
            raise HeadlessFailure(result.message)
        return result.outcome in (Outcome.APPLIED, Outcome.NOTHING_TO_DO) or \
            (result.outcome is Outcome.DECLINED and not self.yes)

    async def diagnose(self, transport: Transport, host: str, fix: bool,
                       while_docker_restarts: Callable[[], None] | None = None) -> list[CheckResult]:
        """Diagnose, and with ``fix`` apply the fixes and check again; ``while_docker_restarts`` is called
        just before fixes that (re)start dockerd are applied (the deploy stages its image meanwhile)."""
        ctx = DiagnosisContext(transport, self.bus, host)
        results = await run_checks(default_checks(), ctx)
        for result in results:
            self.out.record("check", **result.as_json())
        failing = fixes_to_apply(results)
        if not fix or not failing:
            return results
        if while_docker_restarts is not None and any(r.check_id in ("network", "docker") for r in failing):
            while_docker_restarts()

        async def apply(result: CheckResult) -> None:
            await self.step(result.fixes[0], transport, f"fix.{result.check_id}", host)

        async def check_again(fixes: list[Step]) -> list[CheckResult]:
            self.out.record("info", message=_("diagnosing again after the fixes"))
            # Only the checks the fixes can change run again (one diagnosis per run); the others' stand.
            return await run_checks(checks_after(fixes), ctx)

        def not_needed(planned: CheckResult, now: CheckResult) -> None:
            self.out.record("info", message=_("{check}: {status} after the fixes before it; {fix} is not "
                                              "needed").format(check=now.title, status=_(now.status.value),
                                                               fix=_(planned.fixes[0].title)))

        current = await apply_fixes(results, apply, check_again, not_needed)
        results = [current[r.check_id] for r in results]
        for result in results:
            self.out.record("check", **result.as_json())
        return results

    def finish(self) -> None:
        report = self.logs.write_report()
        self.out.record("report", path=str(report), logs=str(self.logs.directory))


async def apply_fixes(results: list[CheckResult], apply: Callable[[CheckResult], Awaitable[None]],
                      check_again: Callable[[list[Step]], Awaitable[list[CheckResult]]],
                      not_needed: Callable[[CheckResult, CheckResult], None]) -> dict[str, CheckResult]:
    """Apply the first fix of each failing check (``fixes_to_apply``'s order), and check again after: the
    results by check id, as the last checks found.

    A fix that can change a later failing check's answer (its ``rechecks``) is checked at once, before
    the later fix is planned: a check that now passes needs no fix (the bridge fix's restart starts a
    stopped dockerd: "Start Docker" has nothing left to do), and one still failing gets the fix its new
    result offers. Otherwise the checks run again once, after the last fix."""
    current = {r.check_id: r for r in results}
    failing = fixes_to_apply(results)
    unchecked: list[Step] = []  # fixes applied since the checks last ran again

    async def again() -> None:
        current.update((r.check_id, r) for r in await check_again(list(unchecked)))
        unchecked.clear()

    for index, planned in enumerate(failing):
        result = current[planned.check_id]
        if result is not planned and not fixes_to_apply([result]):
            not_needed(planned, result)
            continue
        await apply(result)
        unchecked.append(result.fixes[0])
        later = {r.check_id for r in failing[index + 1:]}
        if later & {check.check_id for check in checks_after(unchecked[-1:])}:
            await again()  # a later fix may have nothing left to do: check before planning it
    if unchecked:
        await again()
    return current


def fixes_to_apply(results: list[CheckResult]) -> list[CheckResult]:
    """The checks whose first fix ``--yes`` applies, in the order it applies them."""
    # The network fix first: Docker cannot start before its address ranges are free.
    order = {"network": 0, "docker": 1}
    return sorted((r for r in results if r.status in (Status.FAILURE, Status.WARNING) and r.fixes),
                  key=lambda r: order.get(r.check_id, 2))


def worst(results: list[CheckResult]) -> int:
    return FAILED if any(r.status is Status.FAILURE for r in results) else OK
