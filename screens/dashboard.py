"""The health dashboard: a saved set-up re-checked in parallel, each failing row with its fix."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Label, Log, Static

from app.dashboard import FIX_CLIENTS, FIX_DEPLOY, HealthRow, check_health
from app.events import EventBus, LogEvent
from app.profiles import Profile
from app.session import SetupError, client_kind, deploy_choices, host_form, registry_target
from app.steps import Status
from app.transport import TransportError
from screens.diagnose import STATUS_STYLE
from screens.livelog import CopiesLog, LiveLog

FIX_LABELS = {"diagnose": "Open the diagnosis", "deploy": "Deploy again", "clients": "Configure the clients"}


class DashboardScreen(CopiesLog, Screen[None]):
    BINDINGS = [Binding("r", "recheck", "Re-check"), Binding("f", "fix", "Fix"),
                Binding("ctrl+y", "copy_log", "Copy log")]

    def __init__(self, bus: EventBus, profile: Profile, autorun: bool = True) -> None:
        super().__init__()
        self.autorun = autorun
        self.bus, self.profile = bus, profile
        self.rows: dict[str, HealthRow] = {}
        self._unsubscribe = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="dashboard"):
            where = self.profile.path.name if self.profile.path else "profile"
            yield Label(f"Health of the set-up in {where}", classes="question", markup=False)
            yield DataTable(id="health", cursor_type="row")
            with Horizontal(id="dashboard-actions"):
                yield Button("Re-check", id="recheck", compact=True)
                yield Button("Fix the selected row", id="fix", variant="warning", compact=True, disabled=True)
            yield Static("", id="dashboard-status")
            yield LiveLog(id="log", highlight=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#health", DataTable)
        table.add_column(" ", key="icon", width=1)
        table.add_column("check", key="check", width=30)
        table.add_column("result", key="result", width=70)
        self._unsubscribe = self.bus.subscribe(self._on_event)
        if self.autorun:
            self.action_recheck()

    def on_unmount(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()

    def _on_event(self, event: LogEvent) -> None:
        if self.is_attached and event.source.startswith(("dashboard", "client.")):
            self.query_one("#log", Log).write_lines(event.render_lines())

    def show_row(self, row: HealthRow) -> None:
        table = self.query_one("#health", DataTable)
        icon = f"[{STATUS_STYLE[row.status]}]{row.status.icon}[/]"
        if row.key not in self.rows:
            table.add_row(icon, row.title, row.detail, key=row.key)
        else:
            table.update_cell(row.key, "icon", icon)
            table.update_cell(row.key, "result", row.detail)
        self.rows[row.key] = row
        self._update_fix_button()

    def _selected(self) -> HealthRow | None:
        table = self.query_one("#health", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.rows.get(key or "")

    def _update_fix_button(self) -> None:
        row = self._selected()
        button = self.query_one("#fix", Button)
        button.disabled = not (row and row.fix)
        button.label = FIX_LABELS.get(row.fix or "", "Fix the selected row") if row else "Fix the selected row"

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._update_fix_button()

    @on(Button.Pressed, "#recheck")
    def action_recheck(self) -> None:
        self.recheck()

    @work(exclusive=True, group="dashboard")
    async def recheck(self) -> None:
        status = self.query_one("#dashboard-status", Static)
        status.update("Checking everything in parallel…")
        try:
            rows = await check_health(self.profile, self.bus, self.show_row)
        except SetupError as exc:
            status.update(str(exc))
            return
        failing = [r for r in rows if r.status is not Status.OK]
        status.update("All is well." if not failing else f"{len(failing)} of {len(rows)} need attention: "
                                                          "select a row and press f")

    @on(Button.Pressed, "#fix")
    def action_fix(self) -> None:
        row = self._selected()
        if row and row.fix:
            self.open_fix(row.fix)

    @work(exclusive=True, group="dashboard-fix")
    async def open_fix(self, fix: str) -> None:
        app = self.app
        try:
            if fix == FIX_CLIENTS:
                from screens.clients import ClientsScreen

                screen = ClientsScreen(self.bus, registry_target(self.profile, self.bus.redactor))
                await app.push_screen(screen)
                for entry in self.profile.clients:
                    screen.add_client(host_form(entry, self.bus.redactor), client_kind(entry))
                return
            transport = host_form(self.profile.server, self.bus.redactor).transport()
            await transport.connect()
            app.adopt_transport(transport, self.profile.server.host or "this machine")  # type: ignore[attr-defined]
            if fix == FIX_DEPLOY:
                app.registry_choices = deploy_choices(self.profile, self.bus.redactor)  # type: ignore[attr-defined]
                app.show_deploy()  # type: ignore[attr-defined]
            else:
                app.show_diagnosis()  # type: ignore[attr-defined]
        except (TransportError, SetupError) as exc:
            self.notify(str(exc), severity="error", timeout=10)

