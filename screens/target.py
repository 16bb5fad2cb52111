"""The first screen: where the registry will run, and how to log in there."""

from __future__ import annotations

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Select, Static

from typing import TYPE_CHECKING

from app.events import EventBus, EventKind, LogEvent
from app.i18n import N_, _
from app.redact import Secret
from app.targets import HostForm, parse_number, validate_host, validate_key_file, validate_port, validate_user
from screens.footer import KeysFooter, TitleBar
from screens.livelog import LiveLog
from screens.steps import StepsPanel
from screens.wizard import (Connected, OpenDashboard, ProfileChosen, SaveToProfile, WizardStep, field_input, form_field,
                            is_shown)

if TYPE_CHECKING:  # (imported when connecting, not on the first paint: start-up time)
    from app.transport.hostkeys import HostKeyUnknown


def _saved_profiles() -> list[str]:
    """The saved profiles' names; app.profiles (and the TOML library it loads) only when there are any."""
    from app.paths import config_dir

    try:
        if not any(entry.suffix == ".toml" for entry in (config_dir() / "profiles").iterdir()):
            return []
    except OSError:
        return []
    from app.profiles import list_profiles

    return list_profiles()


FIELD_CHECKS = {
    "host": validate_host,
    "port": validate_port,
    "user": validate_user,
    "identity_file": validate_key_file,
}


class LogSpace(Static, can_focus=True):
    """Where the first screen's live log goes: the same box (the same rules: ``#log-space`` beside
    ``#log``), in the same place in the keyboard's order, without the scrollbar an empty log has nothing
    to scroll with. The LiveLog itself is mounted in its place on first need (a line to show, a
    connection, ctrl+y). An empty Log and its two scrollbars cost 46M instructions of the 1,634M before
    the first key typed is answered (measured under callgrind, benchmarks.startup_counts); a
    placeholder with the scrollbars (a ScrollView) saved nothing."""

    DEFAULT_CSS = """
    LogSpace {
        background: $surface;
        color: $text;
        &:focus {
            background-tint: $foreground 5%;
        }
    }
    """



class TargetScreen(WizardStep):
    STEP = 0
    HAS_PRIMARY = True
    BINDINGS = [Binding("ctrl+n", "next_step", N_("Next: Diagnose")), Binding("ctrl+r", "primary", N_("Connect")),
                Binding("ctrl+t", "connect", N_("Connect"), show=False)]  # (the key of earlier versions)
    # The address field takes the keys from the start (not the scrolling form first: each focus
    # change restyles the form, which costs start-up time).
    AUTO_FOCUS = "#host"
    LOG_STEPS = frozenset({"credentials"})
    STATUS_SCROLLS = True

    def __init__(self, bus: EventBus) -> None:
        super().__init__()
        self.bus = bus
        self.connected_to: str | None = None
        self._inputs: dict[str, Input] = {}  # every field's Input, mounted or about to be
        self._resumed_once = False
        self._error_lines: set[str] = set()  # the fields whose error line is mounted

    def compose(self) -> ComposeResult:
        # Start-up time grows with every widget on the first screen (each is styled, laid out
        # and rendered before the first key is answered), so what is hidden at first is mounted
        # only when shown: the saved-profiles picker when there are profiles, the key-file fields
        # when "Private key file" is chosen, the sudo password when sudo asks, an error line when
        # there is an error.
        yield TitleBar()  # (Textual's Header drawn as one widget: start-up time)
        with Horizontal():
            yield StepsPanel(current=0, id="steps")
            # Enter moves through the fields; in the last one it connects (screens/wizard.py).
            with VerticalScroll(id="form", classes="form form-action-connect"):
                names = _saved_profiles()
                if names:
                    with Horizontal(id="saved-profiles"):
                        yield Label(_("A saved set-up:"), classes="field-label")
                        yield Select([(n, n) for n in names], id="profile-select", prompt=_("choose a profile"),
                                     compact=True)  # choosing one fills the form below
                        yield Button(_("Open its dashboard"), id="open-profile", compact=True)
                yield Label(_("Where should the registry run?"), classes="question")
                with RadioSet(id="target", compact=True):
                    yield RadioButton(_("A server I reach over SSH"), id="remote", value=True)
                    yield RadioButton(_("This machine"), id="local")
                with Vertical(id="remote-fields"):
                    with Horizontal(classes="row"):
                        # Placeholders read as hints, never as values a cleared field would seem to hold.
                        yield self._field("host", _("Address or ~/.ssh/config alias"),
                                          _("e.g. {example}").format(example="203.0.113.10"))
                        yield self._field("port", _("Port"), "", value="22", narrow=True)
                    yield self._field("user", _("User"), "", value="root")
                    yield Label(_("Log in with"), classes="field-label")
                    with RadioSet(id="auth", compact=True):
                        yield RadioButton(_("Password"), id="auth-password", value=True)
                        yield RadioButton(_("Private key file"), id="auth-key")
                        yield RadioButton("ssh-agent", id="auth-agent")
                    yield self._field("password", _("Password"), "", password=True)
                with Horizontal(id="buttons"):
                    yield Button(_("Connect"), id="connect", variant="primary", compact=True)
                    yield Button(_("Continue: Diagnose"), id="next", variant="success", compact=True, disabled=True)
                yield Static("", id="status")
                yield LogSpace(id="log-space")  # (the LiveLog, on first need: ``live_log``)
        yield KeysFooter()  # (one widget, not one per key: start-up time)

    def live_log(self) -> LiveLog:
        """The screen's live log (``#log``), mounted in the place of ``#log-space`` the first time."""
        found = self.query("#log")
        if found:
            return found.first(LiveLog)
        log = LiveLog(id="log", highlight=False)
        space = self.query_one("#log-space", LogSpace)
        space.parent.mount(log, after=space)  # type: ignore[union-attr]
        if self.focused is space:
            self.set_focus(log)
        space.remove()
        return log

    def on_log_event(self, event: LogEvent) -> None:
        self.live_log().write_lines(event.render_lines())

    def action_copy_log(self) -> None:
        self.live_log()
        super().action_copy_log()

    def _field(self, name: str, label: str, placeholder: str, *, value: str = "",
               password: bool = False, narrow: bool = False) -> Vertical:
        """A label over an input (kept in ``_inputs``); its error line is added by ``_show_error``."""
        self._inputs[name] = field_input(name, placeholder, value=value, password=password)
        return form_field(name, label, narrow=narrow, error_line=False, field=self._inputs[name])

    def _key_fields(self, identity_file: str = "") -> None:
        """The key file and passphrase fields, mounted the first time key login is chosen."""
        if "identity_file" in self._inputs:
            if identity_file:
                self._inputs["identity_file"].value = identity_file
            return
        self.query_one("#remote-fields").mount_all([
            self._field("identity_file", _("Private key file"), _("e.g. {example}").format(example="~/.ssh/id_ed25519"),
                        value=identity_file),
            self._field("passphrase", _("Key passphrase (if it has one)"), "", password=True),
        ], after="#field-password")

    async def _show_sudo_field(self) -> None:
        """The sudo password field (mounted the first time sudo asks for one), focused."""
        if "sudo_password" not in self._inputs:
            field = self._field("sudo_password", _("sudo password (this user is not root and sudo asks for one)"),
                                "", password=True)
            await self.query_one("#form").mount(field, before="#buttons")
        self.query_one("#field-sudo_password").display = True
        self._inputs["sudo_password"].focus()

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Textual restyles the whole screen whenever it becomes active. The first time, every
        # widget was styled a moment before, when it was mounted, so doing it again only costs
        # start-up time (about a tenth of the work before the first key is answered, measured).
        # Textual's own handler runs after this one and does the rest: layout, focus, refresh.
        if not self._resumed_once:
            self._resumed_once = True
            event.refresh_styles = False

    def prefill(self, profile) -> None:  # type: ignore[no-untyped-def]
        """Fill the form from a saved profile; secrets come from the variables it names."""
        import os

        server = profile.server
        if server.local:
            self.query_one("#local", RadioButton).value = True
            return
        self.query_one("#remote", RadioButton).value = True
        self.query_one("#host", Input).value = server.host
        self.query_one("#port", Input).value = str(server.port)
        self.query_one("#user", Input).value = server.user
        if server.identity_file:
            self.query_one("#auth-key", RadioButton).value = True
            self._key_fields(server.identity_file)
            if server.passphrase_env and os.environ.get(server.passphrase_env):
                self._inputs["passphrase"].value = os.environ[server.passphrase_env]
        else:
            self.query_one("#auth-password", RadioButton).value = True
        if server.password_env and os.environ.get(server.password_env):
            self.query_one("#password", Input).value = os.environ[server.password_env]
        self._show_auth_fields()

    # -- form state ---------------------------------------------------------
    def _auth(self) -> str:
        pressed = self.query_one("#auth", RadioSet).pressed_button
        return (pressed.id or "auth-password").removeprefix("auth-") if pressed else "password"

    def _is_local(self) -> bool:
        pressed = self.query_one("#target", RadioSet).pressed_button
        return bool(pressed and pressed.id == "local")

    def _show_auth_fields(self) -> None:
        auth = self._auth()
        self.query_one("#remote-fields").display = not self._is_local()
        self.query_one("#field-password").display = auth == "password"
        if auth == "key":
            self._key_fields()
        for name in ("identity_file", "passphrase"):
            for field in self.query(f"#field-{name}"):
                field.display = auth == "key"

    @on(RadioSet.Changed)
    def _radio_changed(self) -> None:
        self._show_auth_fields()

    @on(Input.Changed)
    def _validate_field(self, event: Input.Changed) -> None:
        check = FIELD_CHECKS.get(event.input.id or "")
        if check is not None:
            error = check(event.value) if event.value else None
            self._show_error(event.input.id or "", error)

    def _show_error(self, field: str, error: str | None) -> None:
        if not error and field not in self._error_lines:
            return  # no error line to clear (and no query of the whole screen: each field's input at start-up)
        found = self.query(f"#{field}-error")
        if found:
            label = found.first(Static)
            label.update(error or "")
            label.display = bool(error)
        elif error:
            fields = self.query(f"#field-{field}")
            if fields:  # (not mounted: a field not shown has no error to show)
                self._error_lines.add(field)
                fields.first().mount(Static(error, id=f"{field}-error", classes="field-error"))

    def _value(self, name: str) -> str:
        """An input's text; "" for a field never shown."""
        field = self._inputs.get(name)
        return field.value if field is not None else ""

    def _secret(self, name: str) -> Secret | None:
        value = self._value(name)
        return Secret(value) if value else None

    def read_form(self) -> HostForm:
        value = lambda name: self._value(name).strip()  # noqa: E731
        port = value("port")
        return HostForm(
            local=self._is_local(),
            host=value("host"),
            port=parse_number(port) or 0,
            user=value("user"),
            auth=self._auth(),
            password=self._secret("password"),
            identity_file=value("identity_file"),
            passphrase=self._secret("passphrase"),
            sudo_password=self._secret("sudo_password"),
        )

    # -- connecting -----------------------------------------------------------
    @on(Button.Pressed, "#connect")
    def action_connect(self) -> None:
        form = self.read_form()
        errors = form.errors()
        for name in ("host", "port", "user", "identity_file", "password"):
            self._show_error(name, errors.get(name))
        if errors:
            self.set_status(_("Fix the fields marked in red first."), "error")
            return
        self.test_connection(form)

    @work(exclusive=True, group="connect")
    async def test_connection(self, form: HostForm) -> None:
        from app.transport import Command, TransportError
        from app.transport.hostkeys import HostKeyNotAccepted
        from screens.hostkey import HostKeyScreen

        form.register_secrets(self.bus.redactor)
        log = self.live_log()
        log.clear()
        self.query_one("#next", Button).disabled = True
        host_label = form.host or "this machine"  # (a log's host field: not translated)
        emit = self.bus.scoped(source="credentials", host=host_label)
        transport = form.transport()
        transport.on_note = emit.warning  # a host not answering yet: in the step's log while it is tried again
        keep = False
        self.set_status(_("Connecting to {host}…").format(host=transport.label or _("this machine")), "busy")
        try:
            emit.info(_("connecting to {host}").format(host=transport.label))

            async def ask(name: str, unknown: HostKeyUnknown) -> bool:
                emit(EventKind.WARNING, str(unknown))
                screen = HostKeyScreen(name, unknown.key_type, unknown.fingerprint)
                accepted = bool(await self.app.push_screen_wait(screen))  # type: ignore[arg-type]
                if accepted:
                    emit.info(_("accepted {key_type} {fingerprint}").format(key_type=unknown.key_type,
                                                                           fingerprint=unknown.fingerprint))
                return accepted

            try:
                await transport.connect_trusting(ask)
            except HostKeyNotAccepted:
                self.set_status(_("Not connected: the host key was not accepted."), "error")
                emit.error(_("host key not accepted; nothing was done"))
                return
            await transport.run(Command("uname", "-srm"), emit=emit, check=True)
            await transport.run(Command("cat", "/etc/os-release"), emit=emit)
            if not await transport.is_root() and await transport.sudo_needs_password() and not form.sudo_password:
                await self._show_sudo_field()
                message = _("{user} is not root and sudo asks for a password: "
                            "enter the sudo password, then connect again.").format(user=form.user)
                emit.warning(message)
                self.set_status(message, "error")
                return
            await transport.check_sudo()
            keep = True
            self.connected_to = transport.label
            self.set_status(_("Connected to {host}. Next: Diagnose (ctrl+n).").format(host=transport.label), "ok")
            next_button = self.query_one("#next", Button)
            next_button.disabled = False
            self.set_focus(next_button)  # at once (focus() would wait behind the messages below)
            # The app is told before complete() lets ctrl+n through: the diagnosis finds the connection.
            self.post_message(Connected(transport, host_label))
            from app.session import record_server

            self.post_message(SaveToProfile(record_server, form))
            self.complete()
        except TransportError as exc:
            emit.error(str(exc))
            self.set_status(str(exc), "error")
        finally:
            if not keep:
                await transport.close()

    async def action_primary(self) -> None:
        self.action_connect()

    @on(Select.Changed, "#profile-select")
    def _profile_chosen(self, event: Select.Changed) -> None:
        """A saved profile fills the form: its server, port, user and way of logging in."""
        if not isinstance(event.value, str):
            return
        from app.profiles import ProfileError, load_profile

        try:
            profile = load_profile(event.value)
        except ProfileError as exc:
            self.set_status(str(exc), "error")
            return
        self.prefill(profile)
        self.post_message(ProfileChosen(profile))
        needs = "" if self._value("password") or self._auth() != "password" else \
            " " + _("Enter the password, then connect.")
        self.set_status(_("Filled in from the profile {name}.").format(name=event.value) + needs, "ok")
        first_empty = next((self._inputs[name] for name in ("host", "password")
                            if name in self._inputs and not self._inputs[name].value and
                            is_shown(self._inputs[name], self)), None)
        (first_empty or self.query_one("#connect", Button)).focus()

    @on(Button.Pressed, "#open-profile")
    def _open_profile(self) -> None:
        value = self.query_one("#profile-select", Select).value
        if not isinstance(value, str):
            self.set_status(_("Choose a saved profile in the list first, then open its dashboard."), "error")
            self.query_one("#profile-select", Select).focus()
            return
        self.post_message(OpenDashboard(value))

    @on(Button.Pressed, "#next")
    def action_next(self) -> None:
        self.action_next_step()

