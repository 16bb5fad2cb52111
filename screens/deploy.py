"""The deploy screen: registry choices with safe defaults, a reviewed plan, live log, proof, summary."""

from __future__ import annotations


import re

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import (Button, Checkbox, Footer, Header, Input, Label, Log, ProgressBar,
                             RadioButton, RadioSet, Static)

from app.events import EventBus
from app.i18n import N_, _
from app.redact import Secret
from app.registry import config as regconfig
from app.registry.deploy import DeployChoices, DeployRegistryStep, adopt_names
from app.registry.image import ImageSource
from app.steps import Outcome, Plan, StepContext, run_step
from app.targets import parse_number, validate_port
from app.transport import Transport
from screens.livelog import LiveLog
from screens.plan import PlanScreen
from screens.steps import StepsPanel
from screens.wizard import RegistryDeployed, SaveToProfile, WizardStep, form_field

_USER_NAME = re.compile(r"^[^\s:\x00-\x1f\x7f]{1,64}$")  # htpasswd: one line, "name:hash"

WARN_NO_TLS = N_("Without TLS every Docker client refuses the registry (\"http: server gave HTTP response "
               "to HTTPS client\") until its daemon gets --insecure-registry; traffic and passwords go in clear.")
WARN_NO_AUTH = N_("Without authentication anyone who reaches the port can pull and push.")
NOTE_CACHE = N_("A pull-through cache only serves pulls: it refuses pushes.")  # (these three: shown with _())


# An outcome as words, in the status line (the JSON keeps Outcome.value).
OUTCOME_WORDS = {Outcome.NOTHING_TO_DO: N_("nothing to do"), Outcome.DECLINED: N_("not applied"),
                 Outcome.REFUSED: N_("refused"), Outcome.APPLIED: N_("applied and verified"),
                 Outcome.ROLLED_BACK: N_("failed; rolled back"), Outcome.FAILED: N_("failed")}


def radio(set_id: str, options: list[tuple[str, str]]) -> RadioSet:
    return RadioSet(*[RadioButton(label, id=f"{set_id}-{key}", value=i == 0) for i, (key, label) in
                      enumerate(options)], id=set_id, compact=True)


class DeployScreen(WizardStep):
    STEP = 2
    HAS_PRIMARY = True
    AUTO_FOCUS = "#port"
    # ctrl+r, not ctrl+d: in a text field ctrl+d deletes a character and never reached the screen.
    BINDINGS = [Binding("ctrl+n", "next_step", N_("Next: Clients")), Binding("ctrl+r", "primary", N_("Deploy"))]
    LOG_STEPS = frozenset({"deploy", "prove"})
    STATUS_ID, STATUS_SCROLLS = "deploy-status", True

    def __init__(self, bus: EventBus, transport: Transport, host: str, address: str,
                 image: ImageSource | None = None, saved_users: list[str] | None = None) -> None:
        super().__init__()
        self.bus, self.transport, self.host, self.address = bus, transport, host, address
        self.image_defaults = image or ImageSource()
        self.users: dict[str, Secret] = {}
        # Users a saved profile names: their passwords are never saved, so each is asked again.
        self.saved_users = [name for name in saved_users or [] if name]
        self.choices: DeployChoices | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield StepsPanel(current=2, done=2, id="steps")
            # Enter moves through the fields; after the last one it reviews the deploy (screens/wizard.py).
            with VerticalScroll(id="deploy-form", classes="form form-action-deploy"):
                yield Label(_("Deploy a registry on {host}").format(host=self.host), classes="question", markup=False)
                with Horizontal(classes="row"):
                    yield form_field("port", _("Port"), "", narrow=True)
                    yield form_field("names", _("More names for the certificate (a,b)"), "")
                yield Label("TLS", classes="field-label")
                yield radio("tls", [("own-ca", _("regwiz's own CA")), ("provided", _("my certificate")),
                                    ("none", _("none (insecure)"))])
                yield Static(_(WARN_NO_TLS), id="tls-warning", classes="warning")
                with Horizontal(id="provided-fields", classes="row"):
                    yield form_field("cert", _("Certificate file (PEM)"), "")
                    yield form_field("key", _("Key file (PEM)"), "")
                yield Label(_("Authentication"), classes="field-label")
                yield radio("auth", [("htpasswd", _("users and passwords (htpasswd)")), ("none", _("none"))])
                yield Static(_(WARN_NO_AUTH), id="auth-warning", classes="warning")
                # A form of its own: Enter in the password adds the user.
                with Horizontal(id="user-fields", classes="row form form-action-add-user"):
                    yield form_field("user", _("User name"), "", value=self.saved_users[0] if self.saved_users
                                      else "ci")
                    yield form_field("user-password", _("Password"), "", password=True)
                    yield Button(_("Add user"), id="add-user", compact=True)
                yield Static("", id="user-fields-error", classes="field-error", markup=False)
                yield Static("", id="users", markup=False)
                yield Label(_("Storage"), classes="field-label")
                yield radio("storage", [("fs", _("a directory on the host")), ("oss", _("Aliyun OSS"))])
                yield form_field("storage-path", _("Directory"), "", value="/var/lib/registry")
                with Vertical(id="oss-fields"):
                    with Horizontal(classes="row"):
                        yield form_field("oss-bucket", _("Bucket"), "")
                        yield form_field("oss-region", _("Region"),
                                         _("e.g. {example}").format(example="oss-cn-hangzhou"))
                    with Horizontal(classes="row"):
                        yield form_field("oss-key-id", _("AccessKey ID"), "")
                        yield form_field("oss-key-secret", _("AccessKey secret"), "", password=True)
                    yield form_field("oss-endpoint", _("Endpoint (optional)"), "")
                    yield Checkbox(_("use the internal (VPC) endpoint"), id="oss-internal", compact=True)
                yield Label(_("Mode"), classes="field-label")
                yield radio("mode", [("private", _("private registry")),
                                     ("cache", _("pull-through cache of Docker Hub"))])
                yield Static(_(NOTE_CACHE), id="cache-note", classes="warning")
                yield Label(_("registry:2 comes from"), classes="field-label")
                yield radio("image", [("auto", _("choose for me (probe Docker Hub)")), ("pull", _("the host pulls it")),
                                      ("mirror", _("a registry mirror")), ("upload", _("upload from this machine"))])
                yield form_field("mirror", _("Mirror URL"), _("e.g. {example}").format(example="https://<id>.mirror.aliyuncs.com"))
                with Horizontal(id="deploy-buttons"):
                    yield Button(_("Review and deploy"), id="deploy", variant="primary", compact=True)
                    yield Button(_("Continue: Clients"), id="to-clients", variant="success", compact=True,
                                 disabled=True)
                yield Static("", id="deploy-status")
                yield ProgressBar(id="upload", total=None, show_eta=True)
                yield Static("", id="proof", markup=False)
                yield Static("", id="summary", markup=False)
                yield LiveLog(id="log", highlight=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#port", Input).value = "5000"
        self.query_one("#upload", ProgressBar).display = False
        self.query_one("#proof", Static).display = False
        for line in self.query(".field-error"):
            line.display = False  # shown when there is something to say
        self._show_users()
        self._refresh_fields()

    def _choice(self, set_id: str) -> str:
        pressed = self.query_one(f"#{set_id}", RadioSet).pressed_button
        return (pressed.id or "").removeprefix(f"{set_id}-") if pressed else ""

    @on(RadioSet.Changed)
    def _refresh_fields(self) -> None:
        self.query_one("#tls-warning").display = self._choice("tls") == "none"
        self.query_one("#provided-fields").display = self._choice("tls") == "provided"
        self.query_one("#auth-warning").display = self._choice("auth") == "none"
        self.query_one("#user-fields").display = self._choice("auth") == "htpasswd"
        self.query_one("#users").display = self._choice("auth") == "htpasswd"
        self.query_one("#field-storage-path").display = self._choice("storage") == "fs"
        self.query_one("#oss-fields").display = self._choice("storage") == "oss"
        self.query_one("#cache-note").display = self._choice("mode") == "cache"
        self.query_one("#field-mirror").display = self._choice("image") == "mirror"

    @on(Input.Changed, "#port")
    def _check_port(self, event: Input.Changed) -> None:
        self._field_error("port", validate_port(event.value) if event.value else None)

    def _value(self, name: str) -> str:
        return self.query_one(f"#{name}", Input).value.strip()

    @on(Button.Pressed, "#add-user")
    def add_user(self) -> None:
        name, password = self._value("user"), self.query_one("#user-password", Input).value
        problem = (_("enter a user name") if not name else
                   _("a user name has no spaces, ':' or control characters") if not _USER_NAME.match(name) else
                   _("enter a password for {name}, then press Enter").format(name=name) if not password else None)
        self._field_error("user-fields", problem)
        if problem:
            self.query_one("#user" if not name or not _USER_NAME.match(name) else "#user-password", Input).focus()
            return
        replaced = name in self.users
        self.users[name] = Secret(password)
        self.bus.redactor.add(password)
        self.query_one("#user-password", Input).value = ""
        self.query_one("#user", Input).value = ""
        self._show_users(_("{name}'s password changed").format(name=name) if replaced
                         else _("added {name}").format(name=name))
        self.query_one("#user", Input).focus()

    def action_add_user(self) -> None:
        self.add_user()

    def _show_users(self, note: str = "") -> None:
        waiting = [n for n in self.saved_users if n not in self.users]
        parts = [", ".join(self.users) if self.users else _("none yet")]
        if waiting:
            parts.append(_("saved in the profile, password needed: {names}").format(names=", ".join(waiting)))
        self.query_one("#users", Static).update(_("users: {list}").format(list=_("; ").join(parts))
                                                + (f" ({note})" if note else ""))

    def _field_error(self, container: str, problem: str | None) -> None:
        """An error line under a group of fields, in view, or none."""
        line = self.query_one(f"#{container}-error", Static)
        line.update(problem or "")
        line.display = bool(problem)
        if problem:
            line.scroll_visible(animate=False)

    def read_choices(self) -> DeployChoices:
        storage: regconfig.FilesystemStorage | regconfig.OSSStorage
        if self._choice("storage") == "oss":
            secret = self.query_one("#oss-key-secret", Input).value
            self.bus.redactor.add(secret)
            storage = regconfig.OSSStorage(
                bucket=self._value("oss-bucket"), region=self._value("oss-region"),
                access_key_id=self._value("oss-key-id"), access_key_secret=secret,
                endpoint=self._value("oss-endpoint") or None,
                internal=self.query_one("#oss-internal", Checkbox).value)
        else:
            storage = regconfig.FilesystemStorage(self._value("storage-path") or "/var/lib/registry")
        port = self._value("port")
        settings = regconfig.RegistrySettings(
            port=parse_number(port) or 0, tls=self._choice("tls"), auth=self._choice("auth"),
            storage=storage, mode=self._choice("mode"))
        if self._choice("auth") == "htpasswd" and self._value("user") and \
                self.query_one("#user-password", Input).value and self._value("user") not in self.users:
            self.add_user()  # a user typed but not yet added counts
        names = [self.address] + [n.strip() for n in self._value("names").split(",") if n.strip()]
        from pathlib import Path

        d = self.image_defaults
        return DeployChoices(
            settings=settings, names=names, users=dict(self.users),
            image=ImageSource(kind=self._choice("image"), image=d.image, local_image=d.local_image,
                              mirror=self._value("mirror") or None, probe_url=d.probe_url,
                              probe_seconds=d.probe_seconds),
            provided_cert=Path(self._value("cert")).expanduser() if self._value("cert") else None,
            provided_key=Path(self._value("key")).expanduser() if self._value("key") else None,
        )

    @on(Button.Pressed, "#to-clients")
    def _to_clients(self) -> None:
        self.action_next_step()

    async def action_primary(self) -> None:
        self.action_deploy()

    @on(Button.Pressed, "#deploy")
    def action_deploy(self) -> None:
        port_problem = validate_port(self._value("port"))
        self._field_error("port", port_problem)
        if port_problem:
            self.set_status(_("Port: {problem}.").format(problem=port_problem), "error")
            self.query_one("#port", Input).focus()
            return
        choices = self.read_choices()
        problems = choices.problems()
        if problems:
            self.set_status("; ".join(problems), "error")
            return
        self.run_deploy(choices)

    def _progress(self, sent: int, total: int) -> None:
        bar = self.query_one("#upload", ProgressBar)
        bar.display = True
        bar.update(total=max(total, sent), progress=sent)

    @work(exclusive=True, group="deploy")
    async def run_deploy(self, choices: DeployChoices) -> None:
        from app.registry.prove import prove, summary_lines

        self.query_one("#log", Log).clear()
        self.set_status(_("Planning…"), "busy")
        emit = self.bus.scoped(source="deploy", host=self.host)
        step = DeployRegistryStep(choices, progress=self._progress)

        async def confirm(plan: Plan) -> bool:
            return bool(await self.app.push_screen_wait(PlanScreen(plan)))  # type: ignore[arg-type]

        result = await run_step(step, StepContext(self.transport, emit), confirm)
        adopt_names(choices, result.plan)  # the certificate's names, as the plan shown found them
        if result.outcome not in (Outcome.APPLIED, Outcome.NOTHING_TO_DO):
            self.set_status(f"{_(OUTCOME_WORDS[result.outcome])}: {result.message}", "error")
            return
        self.set_status(_("Deployed. Proving it from this machine…"), "busy")
        proof_list = self.query_one("#proof", Static)
        steps = await prove(choices, self.bus.scoped(source="prove", host=self.host))
        # One wrapping line per sub-step: a detail is never cut at the screen's edge.
        proof_list.update("\n".join(f"{'✓' if p.ok else '✗'} {p.name}: {p.detail}" for p in steps))
        proof_list.display = True
        proved = all(s.ok for s in steps)
        if proved:
            self.set_status(_("The registry works: pushed, pulled and compared from this machine. "
                              "Next: Clients (ctrl+n)."), "ok")
        else:
            self.set_status(_("The registry runs, but the proof failed: see the list below."), "error")
        self.choices = choices
        self.query_one("#summary", Static).update("\n".join(summary_lines(choices)))
        if proved:
            to_clients = self.query_one("#to-clients", Button)
            to_clients.disabled = False
            # The plan modal has closed: the next thing to do has the focus, at once (focus() would wait
            # for the app's turn, behind the messages below).
            self.set_focus(to_clients)
            to_clients.scroll_visible(animate=False)
        # The app is told before complete() lets ctrl+n through: the clients step finds the choices.
        self.post_message(RegistryDeployed(choices))
        from app.session import record_registry

        self.post_message(SaveToProfile(record_registry, choices))
        if proved:
            self.complete()

