"""What every step screen of the wizard shares: its keys, how Enter moves through a form, and
the messages by which a step tells the app it is done or asks to go elsewhere.

The keyboard contract, the same on every step (shown in the footer):

- Enter in a form's field moves to the next shown field of that form; in its last field it
  runs the form's primary action. A form is the nearest container with the class ``form``;
  its primary action is named by ``form-action-NAME`` among its classes (e.g. a container
  with ``classes="form form-action-connect"`` runs ``action_connect``).
- ctrl+n goes to the next step once this one is done (greyed out before); Escape goes back.
- ctrl+r runs the step's primary action wherever the focus is (``primary_action``).
- The first field (``AUTO_FOCUS``) has the focus on arrival.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, ClassVar

from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from app.i18n import N_
from screens.livelog import COPY_LOG, LiveLogScreen
from screens.steps import STEPS

if TYPE_CHECKING:  # (not imported on the first screen: start-up time)
    from app.registry.deploy import DeployChoices
    from app.transport import Transport

FORM_ACTION_PREFIX = "form-action-"


class StepDone(Message):
    """A step finished: the steps panel ticks it (and every step before it) from now on."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index


class GoToStep(Message):
    """Open step ``index`` (a click in the steps panel, or ctrl+n): the app decides whether it may."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index


def field_input(name: str, placeholder: str = "", *, value: str = "", password: bool = False) -> Input:
    """A form's input (``#NAME``); placeholders read as hints, never as values a cleared field would seem to hold."""
    return Input(value=value, placeholder=placeholder, password=password, id=name, compact=True)


def form_field(name: str, label: str, placeholder: str = "", *, value: str = "", password: bool = False,
               narrow: bool = False, error_line: bool = True, field: Input | None = None) -> Vertical:
    """A label (``#NAME-label``) over an input (``#NAME``, or ``field``) over its error line (``#NAME-error``,
    empty until there is something to say). ``error_line=False``: the screen mounts one when needed (the
    first screen, whose start-up time grows with every widget)."""
    parts: list[Widget] = [Label(label, classes="field-label", id=f"{name}-label"),
                           field or field_input(name, placeholder, value=value, password=password)]
    if error_line:
        parts.append(Static("", id=f"{name}-error", classes="field-error", markup=False))
    return Vertical(*parts, classes="field narrow" if narrow else "field", id=f"field-{name}")


def is_shown(widget: Widget, within: Widget) -> bool:
    """The widget and every container up to ``within`` are displayed (a hidden part's fields are skipped)."""
    node: Widget | None = widget
    while node is not None and node is not within:
        if not node.display or not node.visible:
            return False
        parent = node.parent
        node = parent if isinstance(parent, Widget) else None
    return True


def form_of(widget: Widget) -> Widget | None:
    """The nearest container with the class ``form``."""
    for ancestor in widget.ancestors:
        if isinstance(ancestor, Widget) and ancestor.has_class("form"):
            return ancestor
    return None


def form_action(form: Widget) -> str | None:
    for name in form.classes:
        if name.startswith(FORM_ACTION_PREFIX):
            return name[len(FORM_ACTION_PREFIX):].replace("-", "_")
    return None


def close_keys_panel(screen: Screen) -> bool:
    """Escape closes the keys panel (palette: Keys) first, if it is open, instead of leaving the screen."""
    panels = screen.query("HelpPanel")
    if not panels:
        return False
    panels.remove()
    return True


class FormKeys:
    """Enter in a form field: the next shown field, or the form's action after the last one."""

    # A handler by name, not by @on: Textual collects @on handlers only on its own classes, not mixins.
    def on_input_submitted(self: Screen, event: Input.Submitted) -> None:  # type: ignore[misc]
        form = form_of(event.input)
        if form is None:
            return
        event.stop()
        fields = [w for w in form.query(Input) if is_shown(w, form) and not w.disabled and form_of(w) is form]
        later = fields[fields.index(event.input) + 1:] if event.input in fields else []
        if later:
            later[0].focus()
            return
        action = form_action(form)
        if action:
            self.run_worker(self.run_action(action), exclusive=False)


class WizardStep(FormKeys, LiveLogScreen):
    """A step of the wizard: Escape back, ctrl+n next once done, ctrl+r the step's main action."""

    STEP: ClassVar[int] = 0
    # A subclass names its own keys by binding the same keys again, e.g.
    # ``Binding("ctrl+n", "next_step", N_("Next: Deploy"))``, ``Binding("ctrl+r", "primary", N_("Connect"))``;
    # without a ctrl+r binding of its own a step has no primary action (the key is hidden).
    HAS_PRIMARY: ClassVar[bool] = False

    BINDINGS = [
        Binding("escape", "back", N_("Back")),
        Binding("ctrl+n", "next_step", N_("Next")),
        Binding("ctrl+r", "primary", N_("Run")),
        COPY_LOG,
    ]

    def __init__(self) -> None:
        super().__init__()
        self.step_complete = False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next_step":
            if self.STEP + 1 >= len(STEPS):
                return False
            return True if self.step_complete else None  # shown greyed out until the step is done
        if action == "primary":
            return self.HAS_PRIMARY
        if action == "back":
            return len(self.app.screen_stack) > 1  # (the first step has nothing to go back to)
        return True

    def complete(self) -> None:
        """This step is done: next becomes available and the panel ticks it."""
        self.step_complete = True
        self.post_message(StepDone(self.STEP))
        self.refresh_bindings()

    def action_back(self) -> None:
        if close_keys_panel(self):
            return
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def action_next_step(self) -> None:
        if self.step_complete:
            self.post_message(GoToStep(self.STEP + 1))

    async def action_primary(self) -> None:
        """Subclasses name their main action here."""


class OpenDashboard(Message):
    """Open the health dashboard of a saved profile (its name or path); the app does it."""

    def __init__(self, profile: str) -> None:
        super().__init__()
        self.profile = profile


class ProfileChosen(Message):
    """The user picked a saved profile on the first screen: the wizard saves into it from now on."""

    def __init__(self, profile: object) -> None:
        super().__init__()
        self.profile = profile  # app.profiles.Profile (not imported here: start-up time)


# -- what a screen tells the app (screens.app handles them; a screen never sets the app's attributes) --
class Connected(Message):
    """A screen connected to the registry's host: the app keeps the connection for the steps after it
    (and closes the one it held before)."""

    def __init__(self, transport: Transport, host_label: str) -> None:
        super().__init__()
        self.transport, self.host_label = transport, host_label


class SaveToProfile(Message):
    """Something the wizard learned, saved in the profile in use (no secret): ``record(profile, *args)``,
    one of app.session's ``record_*``."""

    def __init__(self, record: Callable[..., object], *args: object) -> None:
        super().__init__()
        self.record, self.args = record, args


class RegistryDeployed(Message):
    """The registry runs with these choices (deployed now, or read from a profile to deploy again):
    the clients step and the registry screen use them."""

    def __init__(self, choices: DeployChoices) -> None:
        super().__init__()
        self.choices = choices


class OpenStep(Message):
    """Open step ``index`` (1 diagnosis, 2 deploy) on the connection the app holds, whatever the steps
    done: the dashboard's fixes. A click or ctrl+n posts ``GoToStep`` instead, which keeps the order."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index


class OpenRegistry(Message):
    """Open the registry screen (tags, delete, prune) of the registry deployed in this run."""
