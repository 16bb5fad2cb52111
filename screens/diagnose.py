"""The diagnosis screen: every check with its live log, evidence, picture and fixes."""

from __future__ import annotations


from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Footer, Header, Label, Log, Static

from app.diagnose import CheckResult, DiagnosisContext, checks_after, default_checks, run_checks
from app.diagnose.base import Check
from app.events import EventBus, LogEvent, Scope
from app.i18n import N_, _
from app.steps import Outcome, Plan, Status, StepContext, run_step
from app.transport import Transport
from screens.livelog import LiveLog
from screens.plan import ChooseFixScreen, PlanScreen
from screens.steps import StepsPanel
from screens.wizard import WizardStep

STATUS_STYLE = {Status.OK: "green", Status.WARNING: "yellow", Status.FAILURE: "red",
                Status.RUNNING: "cyan", Status.PENDING: "grey50", Status.SKIPPED: "grey50"}
# A status as a word, in the notification that ends a diagnosis (the JSON keeps Status.value).
STATUS_WORDS = {Status.OK: N_("ok"), Status.WARNING: N_("warning"), Status.FAILURE: N_("failure"),
                Status.RUNNING: N_("running"), Status.PENDING: N_("pending"), Status.SKIPPED: N_("skipped")}


class DiagnoseScreen(WizardStep):
    LOG_STEPS = frozenset({"diagnose", "fix"})
    STEP = 1
    HAS_PRIMARY = True
    AUTO_FOCUS = "#checks"
    BINDINGS = [
        Binding("ctrl+n", "next_step", N_("Next: Deploy")),
        Binding("ctrl+r", "primary", N_("Re-run")),
        Binding("f", "fix", N_("Fix")),
        Binding("r", "rerun", N_("Re-run"), show=False),
        Binding("n", "next_step", N_("Next: Deploy"), show=False),
    ]

    def __init__(self, bus: EventBus, transport: Transport, host: str, autorun: bool = True) -> None:
        super().__init__()
        self.autorun = autorun
        self.bus = bus
        self.transport = transport
        self.host = host
        self.checks: list[Check] = default_checks()
        self.results: dict[str, CheckResult] = {}
        self.logs: dict[str, list[str]] = {c.check_id: [] for c in self.checks}
        self.selected = self.checks[0].check_id
        self._ctx: DiagnosisContext | None = None  # the last full diagnosis' (a fix's re-check reuses it)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield StepsPanel(current=1, done=1, id="steps")
            with VerticalScroll(id="main"):  # at 80x24 the log is below: scrolled to, not lost
                yield Label(_("Diagnosis of {host}").format(host=self.host), classes="question", markup=False)
                yield DataTable(id="checks", cursor_type="row", zebra_stripes=False)
                with VerticalScroll(id="detail"):
                    yield Static("", id="summary", markup=False)
                    yield Static("", id="evidence", markup=False)
                    yield Static("", id="picture", markup=False)
                with Horizontal(id="actions"):
                    yield Button(_("Fix…"), id="fix", variant="warning", disabled=True, compact=True)
                    yield Button(_("Re-run"), id="rerun", compact=True)
                    yield Button(_("Continue: Deploy"), id="next", variant="success", compact=True)
                    yield Static("", id="fix-hint", markup=False)
                yield LiveLog(id="log", highlight=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#checks", DataTable)
        table.add_column(" ", key="icon", width=1)
        table.add_column(_("Check"), key="check", width=16)
        table.add_column(_("Result"), key="result", width=72)
        for check in self.checks:
            table.add_row(Status.PENDING.icon, _(check.title), "", key=check.check_id)
        if self.autorun:
            self.action_rerun()

    # -- events -> per-check logs --------------------------------------------------
    def shows(self, scope: Scope) -> bool:
        """A check's events (and its fix's): each check keeps its own log."""
        return scope.step in self.LOG_STEPS and scope.part in self.logs

    def on_log_event(self, event: LogEvent) -> None:
        check_id = event.scope.part
        lines = event.render_lines()
        self.logs[check_id].extend(lines)
        if check_id == self.selected:
            self.query_one("#log", Log).write_lines(lines)

    # -- table ----------------------------------------------------------------------
    def _set_row(self, check_id: str, status: Status, text: str) -> None:
        table = self.query_one("#checks", DataTable)
        style = STATUS_STYLE[status]
        table.update_cell(check_id, "icon", f"[{style}]{status.icon}[/]")
        table.update_cell(check_id, "result", text)

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value:
            self.selected = event.row_key.value
            self._show_detail()

    def _show_detail(self) -> None:
        log = self.query_one("#log", Log)
        log.clear()
        log.write_lines(self.logs.get(self.selected, []))
        result = self.results.get(self.selected)
        self.query_one("#summary", Static).update(result.summary if result else _("checking…"))
        self.query_one("#evidence", Static).update("\n".join(f"• {e}" for e in result.evidence) if result else "")
        self.query_one("#picture", Static).update("\n".join(result.picture) if result else "")
        fix = self.query_one("#fix", Button)
        fix.disabled = not (result and result.fixes)
        hint = self.query_one("#fix-hint", Static)
        hint.update(_("recommended fix (f): {fix}").format(fix=_(result.fixes[0].title))
                    if result and result.fixes else "")
        self.refresh_bindings()

    # -- actions --------------------------------------------------------------------
    async def action_primary(self) -> None:
        self.action_rerun()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "fix":
            result = self.results.get(self.selected)
            return True if result and result.fixes else None
        return super().check_action(action, parameters)

    @on(Button.Pressed, "#rerun")
    def action_rerun(self) -> None:
        self.diagnose()

    @work(exclusive=True, group="diagnose")
    async def diagnose(self, only: set[str] | None = None) -> list[CheckResult]:
        """Run every check, or (after a fix) ``only`` the checks it can change: the others' results stand."""
        if only is None or self._ctx is None:
            only, self._ctx = None, DiagnosisContext(self.transport, self.bus, self.host)
            self.results.clear()
        checks = [c for c in self.checks if only is None or c.check_id in only]
        for check in checks:
            self.logs[check.check_id].clear()
            self._set_row(check.check_id, Status.PENDING, "")
            self.results.pop(check.check_id, None)
        self._show_detail()
        ctx = self._ctx  # the same context: later checks read what earlier ones found (init, docker version)

        def started(check: Check) -> None:
            self._set_row(check.check_id, Status.RUNNING, _("checking…"))

        await run_checks(checks, ctx, started, self.record_result)
        results = [self.results[c.check_id] for c in self.checks if c.check_id in self.results]
        worst = max((r.status for r in results), key=lambda s: [Status.OK, Status.WARNING, Status.FAILURE].index(s)
                    if s in (Status.OK, Status.WARNING, Status.FAILURE) else 0)
        self.notify(_("Diagnosis done: {status}").format(status=_(STATUS_WORDS[worst])),
                    severity="information" if worst is Status.OK else "warning")
        # Done once it has looked, whatever it found: the deploy step checks again before it changes anything.
        self.complete()
        return results

    def record_result(self, result: CheckResult) -> None:
        self.results[result.check_id] = result
        self._set_row(result.check_id, result.status, result.summary)
        if result.check_id == self.selected:
            self._show_detail()

    @on(Button.Pressed, "#next")
    def _next_pressed(self) -> None:
        if self.step_complete:
            self.action_next_step()
        else:
            self.notify(_("The diagnosis is still running: wait for it, then continue."), severity="warning")

    @on(Button.Pressed, "#fix")
    def action_fix(self) -> None:
        result = self.results.get(self.selected)
        if result and result.fixes:
            self.apply_fix(result)

    @work(exclusive=True, group="diagnose")
    async def apply_fix(self, result: CheckResult) -> None:
        index = 0
        if len(result.fixes) > 1:
            chosen = await self.app.push_screen_wait(ChooseFixScreen([_(f.title) for f in result.fixes]))
            if chosen is None:
                return
            index = chosen
        step = result.fixes[index]
        emit = self.bus.scoped(scope=Scope("fix", result.check_id), host=self.host)
        ctx = StepContext(self.transport, emit)

        async def confirm(plan: Plan) -> bool:
            return bool(await self.app.push_screen_wait(PlanScreen(plan)))  # type: ignore[arg-type]

        outcome = await run_step(step, ctx, confirm)
        severity: SeverityLevel = "information" if outcome.outcome in (Outcome.APPLIED, Outcome.NOTHING_TO_DO) \
            else "error"
        self.notify(f"{_(step.title)}: {outcome.message}", severity=severity, timeout=8)
        if outcome.outcome in (Outcome.APPLIED, Outcome.ROLLED_BACK):
            self.diagnose({check.check_id for check in checks_after([step])})

