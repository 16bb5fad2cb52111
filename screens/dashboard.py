"""The health dashboard: a saved set-up re-checked in parallel, each failing row with its fix.

Before checking, it asks (one modal) for every secret the rows need that the
profile's variables do not give; Escape there skips the rows that need them.
Keys: Escape back, r re-check, f the selected row's fix (or its action: the storage row opens the
registry screen, the certificate row renews it), g the registry screen, ctrl+y copy the log.
"""

from __future__ import annotations


from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import Button, DataTable, Header, Input, Label, Log, Static

from app.dashboard import (ACTION_REGISTRY, ACTION_RENEW, FIX_CLIENTS, FIX_DEPLOY, HealthRow, check_health,
                           missing_secrets)
from app.events import EventBus
from app.i18n import N_, _, ngettext
from app.profiles import Profile
from app.redact import Secret
from app.session import SetupError
from app.steps import Status
from app.transport import TransportError
from screens.diagnose import STATUS_STYLE
from screens.footer import Footer
from screens.livelog import COPY_LOG, LiveLog, LiveLogScreen
from screens.wizard import Connected, OpenStep, RegistryDeployed, close_keys_panel

FIX_LABELS = {"diagnose": N_("Open the diagnosis"), "deploy": N_("Deploy again"),
              "clients": N_("Configure the clients"), "registry": N_("Open the registry"),
              "renew": N_("Renew the certificate")}  # (translated where shown)
CHECK_WIDTH = (16, 34)  # the check column: at least, at most (the result column takes the rest)


class DashboardScreen(LiveLogScreen):
    DEFAULT_CSS = """
    #dash-body { height: 1fr; padding: 0 1; }
    #dash-title { text-style: bold; }
    #row-detail { height: auto; max-height: 6; padding: 0 1; border-left: thick $accent; margin-top: 1; }
    #dash-bar { height: auto; }
    #dash-bar Button { margin-right: 2; }
    """

    BINDINGS = [Binding("escape", "back", N_("Back")), Binding("r", "recheck", N_("Re-check")),
                Binding("f", "fix", N_("Fix")), Binding("g", "registry", N_("Registry")),
                COPY_LOG]
    AUTO_FOCUS = "#health"
    LOG_STEPS = frozenset({"dashboard", "client"})
    STATUS_ID = "dashboard-status"

    def __init__(self, bus: EventBus, profile: Profile, autorun: bool = True) -> None:
        super().__init__()
        self.autorun = autorun
        self.bus, self.profile = bus, profile
        self.rows: dict[str, HealthRow] = {}
        self.typed: dict[str, Secret] = {}  # secrets typed this session: memory only, offered again on r
        self.checking = False  # a check (or its secrets modal) is under way
        self._checker: object = None
        self._widths = (0, 0)

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="dash-body"):
            where = self.profile.path.name if self.profile.path else _("profile")
            yield Label(_("Health of the set-up in {where}").format(where=where), id="dash-title", markup=False)
            yield DataTable(id="health", cursor_type="row", zebra_stripes=False)
            yield Static("", id="row-detail", markup=False)
            yield Static("", id="dashboard-status", markup=False)
            with Horizontal(id="dash-bar"):
                yield Button(_("Re-check"), id="recheck", compact=True)
                yield Button(_("Fix the selected row"), id="fix", variant="warning", compact=True, disabled=True)
                yield Button(_("Registry"), id="open-registry", compact=True)
            yield LiveLog(id="log", highlight=False)
        yield Footer()

    def on_mount(self) -> None:
        # regwiz.tcss caps #health at 20 lines and gives #log 8: at 80x24 that pushes the status and
        # the Fix button below the fold. Inline styles win over it: the table takes at most half.
        table = self.query_one("#health", DataTable)
        table.styles.max_height = "50%"
        self.query_one("#log", Log).styles.min_height = 3
        self._add_columns(*self._column_widths())
        if self.autorun:
            self.action_recheck()

    # -- the table: its result column as wide as the screen allows ----------------------
    def _column_widths(self) -> tuple[int, int]:
        titles = [cell_len(r.title) for r in self.rows.values()] or [0]  # (a CJK character: 2 cells)
        check = max(CHECK_WIDTH[0], min(CHECK_WIDTH[1], max(titles)))
        # The body's padding (2), each column's padding (2 x 3), the icon (1), a scrollbar's room (2).
        width = (self.size.width or 80) - 2 - 6 - 1 - 2
        return check, max(20, width - check)

    def _add_columns(self, check: int, result: int) -> None:
        table = self.query_one("#health", DataTable)
        table.add_column(" ", key="icon", width=1)
        table.add_column(_("check"), key="check", width=check)
        table.add_column(_("result"), key="result", width=result)
        self._widths = (check, result)

    def on_resize(self, event: Resize) -> None:
        widths = self._column_widths()
        if widths != self._widths:
            self._rebuild(widths)

    def _rebuild(self, widths: tuple[int, int]) -> None:
        table = self.query_one("#health", DataTable)
        cursor = table.cursor_row
        table.clear(columns=True)
        self._add_columns(*widths)
        for row in self.rows.values():
            table.add_row(*self._cells(row), key=row.key)
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))

    def _cells(self, row: HealthRow) -> tuple[Text, str, str]:
        check, result = self._widths
        icon = Text(row.status.icon, style=STATUS_STYLE[row.status])
        return icon, _fit(row.title, check), _fit(row.detail, result)

    def show_row(self, row: HealthRow) -> None:
        table = self.query_one("#health", DataTable)
        new = row.key not in self.rows
        self.rows[row.key] = row
        if new and cell_len(row.title) > self._widths[0] and self._widths[0] < CHECK_WIDTH[1]:
            self._rebuild(self._column_widths())  # a longer title than the column: widen it
        elif new:
            table.add_row(*self._cells(row), key=row.key)
        else:
            icon, _title, result = self._cells(row)
            table.update_cell(row.key, "icon", icon)
            table.update_cell(row.key, "result", result)
        self._update_selection()

    # -- the selected row: its whole detail, and its fix -------------------------------
    def _selected(self) -> HealthRow | None:
        table = self.query_one("#health", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.rows.get(key or "")

    def _update_selection(self) -> None:
        row = self._selected()
        button = self.query_one("#fix", Button)
        wanted = _wanted(row)
        button.disabled = wanted is None
        button.label = _(FIX_LABELS.get(wanted or "", N_("Fix the selected row")))
        detail = self.query_one("#row-detail", Static)
        if row is None:
            detail.update("")
        else:
            fix = ("\n" + (_("Fix: {what} (press f)") if row.fix else _("Action: {what} (press f)")).format(
                what=_(FIX_LABELS[wanted])) if wanted in FIX_LABELS else "")
            detail.update(_("{title}: {detail}").format(title=row.title, detail=row.detail or _(row.status.value))
                          + fix)
        self.refresh_bindings()

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._update_selection()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("recheck", "fix") and isinstance(self.focused, Input):
            return False  # (a single letter typed in a field is text, not a command)
        if action == "registry" and isinstance(self.focused, Input):
            return False
        if action == "fix":
            row = self._selected() if self.is_mounted else None
            return True if _wanted(row) else None  # shown greyed out until a row has a fix
        if action == "back":
            return len(self.app.screen_stack) > 1  # (beneath the first screen there is nothing to go to)
        return True

    def action_back(self) -> None:
        if close_keys_panel(self):  # (the keys panel, when open, closes first)
            return
        if self.app.screen is self and len(self.app.screen_stack) > 1:
            self.workers.cancel_all()
            self.app.pop_screen()

    # -- checking ---------------------------------------------------------------------
    @on(Button.Pressed, "#recheck")
    def action_recheck(self) -> None:
        self.recheck()

    @work(exclusive=True, group="dashboard")
    async def recheck(self) -> None:
        from textual.worker import get_current_worker

        self.checking, self._checker = True, get_current_worker()
        try:
            await self._check()
        finally:
            if self._checker is get_current_worker():  # (not when a newer check replaced this one)
                self.checking = False

    async def _check(self) -> None:
        from screens.secrets import SecretsScreen

        missing = missing_secrets(self.profile)
        given: dict[str, Secret] = {}
        if missing:
            self.set_status(_("Waiting for the secrets the checks need…"))
            answer = await self.app.push_screen_wait(SecretsScreen(missing, self.bus.redactor, self.typed))
            if answer is not None:
                self.typed = given = answer
        self.set_status(_("Checking everything in parallel…"))
        try:
            rows = await check_health(self.profile, self.bus, self.show_row, given)
        except (SetupError, TransportError, OSError) as exc:
            self.set_status(_("The checks could not start: {error}").format(error=exc))
            return
        failing = [r for r in rows if r.status in (Status.FAILURE, Status.WARNING)]
        skipped = [r for r in rows if r.status is Status.SKIPPED]
        if not failing and not skipped:
            self.set_status(_("All is well."))
            return
        parts = []
        if failing:
            parts.append(ngettext("{failing} of {total} need attention: select a row and press f",
                                  "{failing} of {total} need attention: select a row and press f",
                                  len(rows)).format(failing=len(failing), total=len(rows)))
        if skipped:
            parts.append(ngettext("{count} skipped for want of a secret: press r to enter it",
                                  "{count} skipped for want of a secret: press r to enter it",
                                  len(skipped)).format(count=len(skipped)))
        # TRANSLATORS: the separator between the two parts of the status, and its closing full stop.
        self.set_status(_("; ").join(parts) + _("."))

    # -- fixing -----------------------------------------------------------------------
    @on(Button.Pressed, "#fix")
    def action_fix(self) -> None:
        wanted = _wanted(self._selected())
        if wanted:
            self.open_fix(wanted)

    @on(Button.Pressed, "#open-registry")
    def action_registry(self) -> None:
        self.open_fix(ACTION_REGISTRY)

    @work(exclusive=True, group="dashboard-fix")
    async def open_fix(self, fix: str) -> None:
        from app.dashboard import deploy_choices_for, host_form_for, registry_target_for, resolve_secrets
        from app.session import client_kind

        app = self.app
        secrets = resolve_secrets(self.profile, self.typed, self.bus.redactor)
        try:
            if fix == FIX_CLIENTS:
                from screens.clients import ClientsScreen

                screen = ClientsScreen(self.bus, registry_target_for(self.profile, secrets))
                await app.push_screen(screen)
                for index, entry in enumerate(self.profile.clients):
                    screen.add_client(host_form_for(entry, f"client{index}", secrets), client_kind(entry))
                return
            transport = host_form_for(self.profile.server, "server", secrets).transport()
            await transport.connect()
            host = self.profile.server.host or _("this machine")
            self.post_message(Connected(transport, host))
            if fix == ACTION_REGISTRY:
                from app.dashboard import registry_source_for
                from screens.registry import RegistryScreen

                await app.push_screen(RegistryScreen(self.bus, registry_source_for(self.profile, secrets),
                                                     transport, host))
            elif fix == ACTION_RENEW:
                await self._renew(transport, host, secrets)
            elif fix == FIX_DEPLOY:
                self.post_message(RegistryDeployed(deploy_choices_for(self.profile, secrets, self.bus.redactor)))
                self.post_message(OpenStep(2))
            else:
                self.post_message(OpenStep(1))
        except (TransportError, SetupError) as exc:
            self.notify(str(exc), severity="error", timeout=10)


    async def _renew(self, transport, host: str, secrets) -> None:  # type: ignore[no-untyped-def]
        """The engine's cert renew, its plan shown first; the result (the served serial) in the status."""
        import asyncio

        from app.dashboard import deploy_choices_for
        from app.registry.client import RegistryClient, RegistryError
        from app.registry.ops import RenewCertificateStep
        from app.registry.prove import endpoint_for
        from app.steps import Outcome, Plan, StepContext, run_step
        from screens.plan import PlanScreen

        choices = deploy_choices_for(self.profile, secrets, self.bus.redactor)
        step = RenewCertificateStep(choices)

        async def confirm(plan: Plan) -> bool:
            return bool(await self.app.push_screen_wait(PlanScreen(plan)))  # type: ignore[arg-type]

        self.set_status(_("Renewing the certificate: planning…"))
        result = await run_step(step, StepContext(transport, self.bus.scoped(source="dashboard", host=host)), confirm)
        if result.outcome is not Outcome.APPLIED:
            self.set_status(_("The certificate was not renewed ({outcome}): {message}").format(
                outcome=result.outcome.value, message=result.message or _("cancelled")))
            return
        try:
            served = await asyncio.to_thread(RegistryClient(endpoint_for(choices)).tls_handshake)
        except RegistryError as exc:
            self.set_status(_("Renewed, but the registry's certificate cannot be read: {error}. "
                              "Press r to re-check.").format(error=exc))
            return
        serial = int(served.get("serial") or "0", 16)
        if serial != step.applied_serials[1]:
            self.set_status(_("The registry still shows certificate {serial}, not the new one: restart its container "
                              "({command}) and press r.").format(serial=f"{serial:X}",
                                                                 command="docker restart registry"))
            return
        self.set_status(_("Certificate renewed: the registry shows {serial}, valid until {not_after}. "
                          "Clients trust the CA: nothing to change on them.").format(
                            serial=f"{serial:X}", not_after=served["not_after"]))
        self.recheck()


def _wanted(row: HealthRow | None) -> str | None:
    """What f does on a row: its fix when it fails, else the action it always offers."""
    return (row.fix or row.action) if row else None


def _fit(text: str, width: int) -> str:
    """One line of at most ``width`` cells; the detail under the table shows the whole text."""
    line = " ".join(text.split())
    if cell_len(line) <= width:
        return line
    # Cut by cells, not characters (a Chinese character takes two), and never through a character.
    kept, used = [], 0
    for char in line:
        used += cell_len(char)
        if used > width - 1:
            break
        kept.append(char)
    return "".join(kept) + "…"
