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
from typing import Any, Callable, TextIO

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
        for result in failing:
            await self.step(result.fixes[0], transport, f"fix.{result.check_id}", host)
        self.out.record("info", message=_("diagnosing again after the fixes"))
        # Only the checks the fixes can change run again (one diagnosis per run); the others' results stand.
        again = {r.check_id: r for r in await run_checks(checks_after(r.fixes[0] for r in failing), ctx)}
        results = [again.get(r.check_id, r) for r in results]
        for result in results:
            self.out.record("check", **result.as_json())
        return results

    def finish(self) -> None:
        report = self.logs.write_report()
        self.out.record("report", path=str(report), logs=str(self.logs.directory))


def fixes_to_apply(results: list[CheckResult]) -> list[CheckResult]:
    """The checks whose first fix ``--yes`` applies, in the order it applies them."""
    # The network fix first: Docker cannot start before its address ranges are free.
    order = {"network": 0, "docker": 1}
    return sorted((r for r in results if r.status in (Status.FAILURE, Status.WARNING) and r.fixes),
                  key=lambda r: order.get(r.check_id, 2))


def worst(results: list[CheckResult]) -> int:
    return FAILED if any(r.status is Status.FAILURE for r in results) else OK
