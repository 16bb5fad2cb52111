"""Step 5, the summary: what was set up, what changed where, how to use it, and what to do next."""

from __future__ import annotations

from pathlib import Path

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Header, Input, Label, Static

from app.events import EventBus
from app.i18n import N_, _, ngettext
from app.summary import (ExportError, ExportExists, SetupSummary, client_text, default_export_path,
                         export_team_profile)
from screens.footer import Footer
from screens.steps import StepsPanel
from screens.wizard import OpenDashboard, OpenRegistry, WizardStep


class SummaryScreen(WizardStep):
    """The end of the wizard: Escape goes back to Clients; the three actions say what comes next."""

    STEP = 4
    DEFAULT_CSS = """
    #summary-main { padding: 0 2; }
    #summary-main .summary-title { text-style: bold; margin-bottom: 1; width: 1fr; height: auto; }
    #summary-main .summary-head { text-style: bold; color: $accent; margin-top: 1; }
    #summary-main .summary-text { height: auto; }
    #summary-main .summary-ok { color: $success; }
    #summary-main .summary-bad { color: $error; }
    #summary-actions { height: auto; margin: 0 0 1 0; }
    #summary-actions Button { margin-right: 2; }
    #summary-actions.narrow { layout: vertical; }  /* one action a line when four do not fit */
    #summary-reasons { color: $text-muted; height: auto; }
    #export-form { height: auto; margin: 1 0; border: round $panel; padding: 0 1; }
    #export-form Input { width: 1fr; }
    #export-error { color: $error; height: auto; }
    #export-confirm { height: auto; margin-top: 1; }
    #export-confirm Button { margin-right: 2; }
    #export-status { height: auto; color: $success; }
    """
    BINDINGS = [Binding("d", "dashboard", N_("Dashboard")), Binding("g", "registry", N_("Registry")),
                Binding("e", "export", N_("Export")), Binding("o", "onboard", N_("Onboard"))]  # (short: all fit at 80)
    AUTO_FOCUS = None  # the first enabled action takes the focus (on_mount)

    def __init__(self, bus: EventBus, summary: SetupSummary) -> None:
        super().__init__()
        self.bus, self.summary = bus, summary
        self.exported: Path | None = None

    # -- layout ------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        s = self.summary
        yield Header()
        with Horizontal():
            # Ticked only as far as this run got (the app's count of steps done may tick more).
            yield StepsPanel(current=4, done=(4 if self._all_done() else 3) if s.deployed else 0, id="steps")
            with VerticalScroll(id="summary-main"):
                yield Static(self._title(), id="summary-title", classes="summary-title", markup=False)
                with Horizontal(id="summary-actions"):
                    yield Button(_("Open the dashboard"), id="dashboard", variant="primary", compact=True,
                                 disabled=s.profile_path is None)
                    yield Button(_("Registry"), id="registry", compact=True,
                                 disabled=not self._registry_reachable())
                    yield Button(_("Export the team profile"), id="export", compact=True, disabled=s.team is None)
                    yield Button(_("Onboard another machine"), id="onboard", compact=True,
                                 disabled=s.team is None)
                yield Static("\n".join(self._reasons()), id="summary-reasons", markup=False)
                # Asked for only when exporting: Enter in the path writes the file.
                with Vertical(id="export-form", classes="form form-action-write-export"):
                    yield Label(_("Write the team profile to (Enter writes it, Escape closes):"),
                                classes="field-label")
                    yield Input(str(default_export_path()), id="export-path", compact=True)
                    yield Static("", id="export-error", markup=False)
                    with Horizontal(id="export-confirm"):
                        yield Button(_("Keep the file"), id="export-keep", variant="primary", compact=True)
                        yield Button(_("Replace it"), id="export-replace", variant="warning", compact=True)
                yield Static("", id="export-status", markup=False)
                yield from self._sections()
        yield Footer()

    def _all_done(self) -> bool:
        s = self.summary
        return s.deployed and bool(s.clients) and len(s.clients_done) == len(s.clients)

    def on_resize(self, event: events.Resize) -> None:
        self.query("#summary-actions").set_class(event.size.width < 130, "narrow")  # four buttons need ~125

    def _title(self) -> str:
        s = self.summary
        if not s.deployed:
            return _("Summary: no registry was deployed in this run")
        done, total = len(s.clients_done), len(s.clients)
        clients = (ngettext("{done} of {total} clients pull from it", "{done} of {total} clients pull from it",
                             total).format(done=done, total=total) if total else _("no clients configured yet"))
        return _("Summary: {url}: {clients}").format(url=s.url, clients=clients)

    def _reasons(self) -> list[str]:
        s = self.summary
        reasons = []
        if s.profile_path is None:
            reasons.append(_("Dashboard: no profile was saved in this run (it opens a saved set-up)."))
        if s.team is None:
            reasons.append(_("Export and onboard: {problem}.").format(problem=s.team_problem))
        if not self._registry_reachable():
            reasons.append(_("Registry: no registry was deployed (and connected to) in this run; open it from the "
                             "dashboard of its profile."))
        return reasons

    def _registry_reachable(self) -> bool:
        """The registry screen needs what this run deployed and the connection to its host."""
        return (self.summary.deployed and getattr(self.app, "registry_choices", None) is not None
                and getattr(self.app, "transport", None) is not None)

    def _sections(self) -> ComposeResult:
        s = self.summary
        yield Label(_("Registry"), classes="summary-head")
        registry = [_("Address: {url}").format(url=s.url) if s.deployed else _("Not deployed in this run.")]
        if s.deployed:
            registry.append(_("TLS: {tls}; mode: {mode}").format(tls=_(_TLS[s.tls]) if s.tls in _TLS else s.tls,
                                                                   mode=s.mode))
        if s.ca_file:
            registry += [_("CA file: {path}").format(path=s.ca_file),
                         _("CA SHA256 fingerprint: {fingerprint}").format(fingerprint=s.ca_fingerprint)]
        yield Static("\n".join(registry), id="summary-registry", classes="summary-text", markup=False)
        yield Label(_("Users"), classes="summary-head")
        users = ", ".join(s.users) if s.users else _("none: anyone who reaches the port can pull (no login)")
        yield Static(users, id="summary-users", classes="summary-text", markup=False)
        done, total = len(s.clients_done), len(s.clients)
        yield Label(ngettext("Clients ({done} of {total} done)", "Clients ({done} of {total} done)", total).format(
            done=done, total=total), classes="summary-head")
        if not s.clients:
            yield Static(_("None configured in this run."), id="summary-clients", classes="summary-text")
        for index, client in enumerate(s.clients):
            yield Static(client_text(client), id=f"summary-client-{index}", markup=False,
                         classes="summary-text " + ("summary-ok" if client.done else "summary-bad"))
        yield Label(_("Files changed (copy the backup back to undo)"), classes="summary-head")
        changes = [f"{c.host}: {c.path}\n  " + _("backup: {backup}").format(backup=c.backup)
                   for c in s.changes] or [_("None.")]
        yield Static("\n".join(changes), id="summary-changes", classes="summary-text", markup=False)
        if s.commands:
            yield Label(_("Use it"), classes="summary-head")
            yield Static("\n".join(s.commands), id="summary-commands", classes="summary-text", markup=False)
        yield Label(_("From here"), classes="summary-head")
        yield Static("\n".join(f"• {a}" for a in s.actions), id="summary-next", classes="summary-text",
                     markup=False)

    def on_mount(self) -> None:
        self.query_one("#export-form").display = False
        self.query_one("#export-confirm").display = False
        self.query_one("#summary-reasons").display = bool(self._reasons())
        first = next((b for b in self.query("#summary-actions Button").results(Button) if not b.disabled), None)
        if first is not None:
            first.focus()
        if self._all_done():
            self.complete()  # every step of this run worked: the panel ticks them all

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "dashboard":
            return self.summary.profile_path is not None or None  # greyed out, with the reason shown
        if action == "registry":
            return self._registry_reachable() or None
        if action in ("export", "onboard"):
            return self.summary.team is not None or None
        if action == "copy_log":
            return False  # no live log here: nothing runs on this screen
        return super().check_action(action, parameters)

    # -- the actions -------------------------------------------------------------------
    @on(Button.Pressed, "#dashboard")
    def action_dashboard(self) -> None:
        if self.summary.profile_path is not None:
            self.post_message(OpenDashboard(str(self.summary.profile_path)))

    @on(Button.Pressed, "#registry")
    def action_registry(self) -> None:
        if not self._registry_reachable():
            return
        self.post_message(OpenRegistry())

    @on(Button.Pressed, "#export")
    def action_export(self) -> None:
        if self.summary.team is None:
            return
        form = self.query_one("#export-form")
        form.display = True
        self._export_problem("")
        field = self.query_one("#export-path", Input)
        field.focus()
        self.call_after_refresh(form.scroll_visible)

    def action_write_export(self) -> None:
        self._write(overwrite=False)

    @on(Button.Pressed, "#export-replace")
    def _replace(self) -> None:
        self._write(overwrite=True)

    @on(Button.Pressed, "#export-keep")
    def _keep(self) -> None:
        self.query_one("#export-confirm").display = False
        self._export_problem(_("Kept the existing file: give another name and press Enter."))
        self.query_one("#export-path", Input).focus()

    @on(Input.Changed, "#export-path")
    def _path_changed(self) -> None:
        self.query_one("#export-confirm").display = False  # a new name: ask again if it exists too

    def _write(self, overwrite: bool) -> None:
        given = self.query_one("#export-path", Input).value
        try:
            path = export_team_profile(self.summary, given, overwrite=overwrite)
        except ExportExists as exc:
            self._export_problem(_("{error}: replace it, or keep it and give another name.").format(error=exc))
            self.query_one("#export-confirm").display = True
            self.query_one("#export-keep", Button).focus()  # the safe choice has the focus
            return
        except ExportError as exc:
            self._export_problem(str(exc))
            return
        self.exported = path
        self.query_one("#export-confirm").display = False
        self.query_one("#export-form").display = False
        self._export_problem("")
        status = self.query_one("#export-status", Static)
        status.update(_("Team profile written: {path}").format(path=path) + "\n"
                      + _("A teammate runs: {command}").format(command=f"regwiz onboard {path.name}"))
        self.query_one("#export", Button).focus()

    def _export_problem(self, text: str) -> None:
        line = self.query_one("#export-error", Static)
        line.update(text)
        line.display = bool(text)

    @on(Button.Pressed, "#onboard")
    def action_onboard(self) -> None:
        if self.summary.team is None or self.summary.team.team is None:
            return
        from screens.onboard import OnboardScreen

        self.app.push_screen(OnboardScreen(self.bus, team=self.summary.team.team))

    def action_back(self) -> None:
        if self.query_one("#export-form").display:  # Escape closes the export question first
            self.query_one("#export-form").display = False
            self.query_one("#export", Button).focus()
            return
        super().action_back()


_TLS = {"own-ca": N_("regwiz's own CA"), "provided": N_("your certificate"), "none": N_("none (insecure)")}
