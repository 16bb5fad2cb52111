"""Guided onboarding: a team profile, this machine or a host, the registry password, a proven pull.

The TUI face of ``regwiz onboard team.toml [--host]``: the same engine (app.onboarding,
app.clients.configure), with the plan and the host key shown in their modals.
"""

from __future__ import annotations


from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Header, Input, Label, RadioButton, RadioSet, Static, TextArea

from app.clients.configure import ClientResult, ClientSpec, configure_clients
from app.clients.model import RegistryTarget
from app.events import EventBus
from app.i18n import N_, _
from app.onboarding import (HostAnswers, ca_fingerprint, OnboardError, host_form, host_problems, host_spec, local_spec,
                            needs_password, outcome_of, password_from_env, registry_for, team_from_file,
                            team_from_text)
from app.profiles import TeamProfile
from app.redact import Secret
from app.remote_files import FileChange
from app.steps import Plan
from app.transport.hostkeys import HostKeyUnknown
from screens.footer import Footer
from screens.hostkey import HostKeyScreen
from screens.livelog import COPY_LOG, LiveLog, LiveLogScreen
from screens.plan import PlanScreen
from screens.wizard import FormKeys, form_field

# The fields of the details form, in the order Enter moves through them (hidden ones are skipped).
HOST_FIELDS = ("host", "port", "user", "password", "identity-file", "passphrase")
THIS_MACHINE = "this machine"  # the name of the local client (app.onboarding.local_spec), shown translated


def example(value: str) -> str:
    """A placeholder's hint: e.g. VALUE."""
    return _("e.g. {example}").format(example=value)


def shown_name(name: str) -> str:
    return _(THIS_MACHINE) if name == THIS_MACHINE else name


class OnboardScreen(FormKeys, LiveLogScreen):
    """Onboard this machine or a host onto the registry a team profile describes."""

    DEFAULT_CSS = """
    #onboard-main { padding: 0 2; }
    #onboard-main .onboard-title { text-style: bold; margin-bottom: 1; }
    #onboard-main .onboard-head { text-style: bold; color: $accent; margin-top: 1; }
    #team-form { height: auto; }
    #team-text { height: 5; margin-bottom: 1; }
    #team-info { height: auto; color: $success; }
    #team-info.missing { color: $text-muted; }
    #details, #host-fields, #key-fields, #registry-fields { height: auto; }
    #onboard-buttons { height: auto; margin: 1 0; }
    #onboard-buttons Button { margin-right: 2; }
    #onboard-status { height: auto; }
    #onboard-status.ok { color: $success; }
    #onboard-status.error { color: $error; }
    #onboard-status.busy { color: $warning; }
    #onboard-main #log { height: 12; min-height: 6; }
    """
    BINDINGS = [Binding("escape", "back", N_("Back")), Binding("ctrl+r", "primary", N_("See what will change")),
                COPY_LOG]
    LOG_STEPS = frozenset({"client", "onboard"})
    STATUS_ID = "onboard-status"

    def __init__(self, bus: EventBus, team: TeamProfile | None = None) -> None:
        super().__init__()
        self.bus = bus
        self.team = team
        self.results: list[ClientResult] = []
        self.done = False  # the pull on the machine worked

    # -- layout ---------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="onboard-main"):
            yield Label(_("Onboard a machine onto your team's registry"), classes="onboard-title")
            # Enter in the file's field reads it; pasted text is read with the button below it.
            with Vertical(id="team-form", classes="form form-action-load-team"):
                yield form_field("team-file", _("Team profile file (from regwiz export-team-profile)"),
                                 example("team.toml"))
                yield Label(_("or paste its text here, then press the button below:"), classes="field-label")
                yield TextArea(id="team-text", soft_wrap=True, show_line_numbers=False, compact=True)
                yield Button(_("Read the pasted text"), id="load-pasted", compact=True)
            yield Static("", id="team-info", markup=False)
            yield Label(_("Which machine?"), classes="onboard-head")
            with RadioSet(id="machine", compact=True):
                yield RadioButton(_("This machine"), id="machine-local", value=True)
                yield RadioButton(_("A host over SSH"), id="machine-host")
            # One form: Enter goes from field to field, and after the last one shows the plan.
            with Vertical(id="details", classes="form form-action-primary"):
                with Vertical(id="host-fields"):
                    with Horizontal(classes="row"):
                        yield form_field("host", _("Address or ~/.ssh/config alias"), example("198.51.100.7"))
                        yield form_field("port", _("Port"), "", value="22", narrow=True)
                    yield form_field("user", _("User"), "", value="root")
                    yield Label(_("Log in with"), classes="field-label")
                    with RadioSet(id="auth", compact=True):
                        yield RadioButton(_("Password"), id="auth-password", value=True)
                        yield RadioButton(_("Key file"), id="auth-key")
                        yield RadioButton("ssh-agent", id="auth-agent")
                    yield form_field("password", _("SSH password"), "", password=True)
                    with Vertical(id="key-fields"):
                        yield form_field("identity-file", _("Private key file"), example("~/.ssh/id_ed25519"))
                        yield form_field("passphrase", _("Its passphrase (empty: none)"), "", password=True)
                with Vertical(id="registry-fields"):
                    yield form_field("registry-password", _("Registry password"), "", password=True)
            with Horizontal(id="onboard-buttons"):
                yield Button(_("See what will change"), id="review", variant="primary", compact=True)
            yield Static("", id="onboard-status", markup=False)
            yield LiveLog(id="log", highlight=False)
        yield Footer()

    def on_mount(self) -> None:
        for line in self.query(".field-error"):
            line.display = False  # shown when there is something to say
        if self.team is not None:  # given by the summary: nothing to open
            self.query_one("#team-form").display = False
            self._show_team(self.team)
            self.query_one("#machine", RadioSet).focus()
        else:
            self._show_team(None)
            self.query_one("#team-file", Input).focus()
        self._refresh_fields()


    # -- the team profile ---------------------------------------------------------------
    def action_load_team(self) -> None:
        try:
            team, _path = team_from_file(self.query_one("#team-file", Input).value)
        except OnboardError as exc:
            self._error("team-file", str(exc))
            return
        self._use_team(team)

    @on(Button.Pressed, "#load-pasted")
    def _load_pasted(self) -> None:
        try:
            team = team_from_text(self.query_one("#team-text", TextArea).text)
        except OnboardError as exc:
            self._error("team-file", str(exc))
            return
        self._use_team(team)

    def _use_team(self, team: TeamProfile) -> None:
        self.team = team
        self._error("team-file", "")
        self._show_team(team)
        self._refresh_fields()
        self.query_one("#machine", RadioSet).focus()  # the next question

    def _show_team(self, team: TeamProfile | None) -> None:
        info = self.query_one("#team-info", Static)
        if team is None:
            info.update(_("No team profile read yet."))
            info.set_class(True, "missing")
            return
        info.set_class(False, "missing")
        lines = [_("Registry {url} ({mode})").format(url=f"{'https' if team.tls else 'http'}://{team.registry}",
                                                     mode=team.mode)]
        if team.ca_pem:
            lines.append(_("CA certificate SHA256 {fingerprint}").format(fingerprint=ca_fingerprint(team.ca_pem)))
        lines.append(_("Registry user: {user}").format(user=team.username) if team.username else
                     _("No login (no registry password)"))
        info.update("\n".join(lines))
        field = self.query_one("#registry-password", Input)
        if needs_password(team):
            self.query_one("#registry-password-label", Label).update(
                _("Password of registry user {user}").format(user=team.username)
                + (_(" (or set {variable})").format(variable=team.password_env) if team.password_env else ""))
            from_env = password_from_env(team)
            if from_env and not field.value:
                self.bus.redactor.add(from_env)
                field.value = from_env.reveal()  # in memory only, shown as dots
                self.query_one("#registry-password-label", Label).update(
                    _("Password of registry user {user}").format(user=team.username)
                    + _(" (filled from {variable})").format(variable=f"${team.password_env}"))

    # -- which fields are shown ---------------------------------------------------------
    @on(RadioSet.Changed)
    def _choice_changed(self, event: RadioSet.Changed) -> None:
        self._refresh_fields()
        if event.radio_set.id == "machine":
            # The next thing to type: the host's address, or the registry password.
            first = self._shown_fields()
            if first:
                first[0].focus()

    def _remote(self) -> bool:
        return self.query_one("#machine-host", RadioButton).value

    def _auth(self) -> str:
        if self.query_one("#auth-key", RadioButton).value:
            return "key"
        return "agent" if self.query_one("#auth-agent", RadioButton).value else "password"

    def _refresh_fields(self) -> None:
        remote = self._remote()
        self.query_one("#host-fields").display = remote
        self.query_one("#field-password").display = remote and self._auth() == "password"
        self.query_one("#key-fields").display = remote and self._auth() == "key"
        self.query_one("#registry-fields").display = self.team is not None and needs_password(self.team)

    def _shown_fields(self) -> list[Input]:
        from screens.wizard import is_shown

        details = self.query_one("#details")
        return [i for i in details.query(Input) if is_shown(i, details)]

    # -- errors and status --------------------------------------------------------------
    def _error(self, name: str, text: str) -> None:
        line = self.query_one(f"#{name}-error", Static)
        line.update(text)
        line.display = bool(text)

    def _answers(self) -> HostAnswers:
        value = lambda name: self.query_one(f"#{name}", Input).value  # noqa: E731
        return HostAnswers(host=value("host").strip(), port=value("port").strip() or "22",
                           user=value("user").strip() or "root", auth=self._auth(),
                           password=Secret(value("password")) if value("password") else None,
                           identity_file=value("identity-file"),
                           passphrase=Secret(value("passphrase")) if value("passphrase") else None)

    # -- see what will change, configure, prove ---------------------------------------------
    @on(Button.Pressed, "#review")
    async def action_primary(self) -> None:
        if self.query_one("#review", Button).disabled:
            return  # one run at a time: a second ctrl+r would cancel the first one mid-change
        for name in (*HOST_FIELDS, "registry-password"):
            self._error(name, "")
        if self.team is None:
            self._error("team-file", _("read a team profile first: give its file and press Enter, or paste it"))
            self.query_one("#team-file", Input).focus()
            return
        if self._remote():
            answers = self._answers()
            problems = host_problems(answers)
            if problems:
                for name, problem in problems.items():
                    self._error(name.replace("_", "-"), problem)
                self.query_one(f"#{next(iter(problems)).replace('_', '-')}", Input).focus()
                return
            spec = host_spec(host_form(answers, self.bus.redactor))
        else:
            spec = local_spec()
        typed = self.query_one("#registry-password", Input).value
        try:
            registry = registry_for(self.team, self.bus.redactor, Secret(typed) if typed else None)
        except OnboardError as exc:
            self._error("registry-password", str(exc))
            self.query_one("#registry-password", Input).focus()
            return
        self.onboard(spec, registry)

    @work(exclusive=True, group="onboard")
    async def onboard(self, spec: ClientSpec, registry: RegistryTarget) -> None:
        from app.clients.testimage import ensure_test_image
        from app.registry.client import CredentialsRefused, RegistryAuthError, RegistryError

        self.done = False
        self.query_one("#review", Button).disabled = True
        emit = self.bus.scoped(source="onboard", host=spec.name)
        try:
            self.set_status(_("Checking the registry at {address} from this machine…").format(address=registry.address),
                            "busy")
            emit.info(f"logging in to {registry.address} and pushing the small test image every client pulls")
            try:
                await ensure_test_image(registry)  # the first request that logs in: a wrong password shows here
            except RegistryAuthError as exc:
                if registry.username and isinstance(exc, CredentialsRefused):
                    self._password_refused(registry)
                else:
                    self.set_status(_("{error}: check the team profile's registry and user.").format(error=exc),
                                    "error")
                return
            except (RegistryError, OSError) as exc:
                self.set_status(_("The registry at {address} cannot be used from this machine: {error}. "
                                  "Nothing was changed.").format(address=registry.address, error=exc), "error")
                return
            self.set_status(_("Connecting to {name} and planning its changes…").format(name=shown_name(spec.name)),
                            "busy")
            self.results = await configure_clients([spec], registry, self.bus, self._confirm_all,
                                                   on_update=self._update, accept_key=self._accept_key)
            outcome = outcome_of(self.results[0], registry)
            if outcome.password_refused:
                self._password_refused(registry)
                return
            self.done = outcome.done
            self.set_status(outcome.message, "ok" if outcome.done else "error")
        finally:
            self.query_one("#review", Button).disabled = False

    def _password_refused(self, registry: RegistryTarget) -> None:
        self.set_status(_("The registry refused the password of user {user}: nothing was changed. "
                          "Retype it and press ctrl+r.").format(user=registry.username), "error")
        self._error("registry-password", _("refused by the registry: retype it"))
        field = self.query_one("#registry-password", Input)
        field.value = ""
        field.focus()

    def _update(self, result: ClientResult) -> None:
        kind = f" ({result.kind.value})" if result.kind else ""
        self.set_status(f"{shown_name(result.name)}{kind}: {_(result.status.value)}"
                        f"{': ' + result.message if result.message else ''}", "busy")

    async def _confirm_all(self, plans: list[tuple[str, Plan]]) -> bool:
        changes = [FileChange(f"{name}: {c.path}", c.old, c.new, c.mode, c.sensitive)
                   for name, plan in plans for c in plan.changes]
        actions = [f"{name}: {a}" for name, plan in plans for a in plan.actions]
        combined = Plan(_("Make {name} trust the team's registry").format(name=shown_name(plans[0][0])),
                        changes=changes, actions=actions)
        return bool(await self.app.push_screen_wait(PlanScreen(combined)))  # type: ignore[arg-type]

    async def _accept_key(self, name: str, unknown: HostKeyUnknown) -> bool:
        return bool(await self.app.push_screen_wait(HostKeyScreen(name, unknown.key_type, unknown.fingerprint)))  # type: ignore[arg-type]

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

