"""Modals for changes: pick a fix, then read its plan (a diff) and confirm it."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from app.i18n import N_, _
from app.steps import Plan

# Modals have no footer of their own: the keys are said in words.
KEYS_HINT = N_("Keys: Tab moves between the buttons, Enter presses the one in focus, Escape cancels.")  # shown with _()


def coloured_diff(diff: str) -> Text:
    """A unified diff with added lines green and removed lines red."""
    if not diff:
        return Text(_("(no file changes)"))
    text = Text()
    for line in diff.splitlines():
        style = ("bold" if line.startswith(("---", "+++")) else "green" if line.startswith("+")
                 else "red" if line.startswith("-") else "cyan" if line.startswith("@@") else "")
        text.append(line + "\n", style=style)
    return text


class ChooseFixScreen(ModalScreen[int | None]):
    """Dismisses with the index of the chosen fix, or None."""

    BINDINGS = [Binding("escape", "cancel", N_("Cancel"))]

    def __init__(self, titles: list[str]) -> None:
        super().__init__()
        self.titles = titles

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(_("Choose a fix"), classes="dialog-title")
            yield OptionList(*[Option(_("(recommended) {fix}").format(fix=title) if i == 0 else title, id=str(i))
                               for i, title in enumerate(self.titles)], id="fixes")
            with Horizontal(classes="dialog-buttons"):
                yield Button(_("Cancel"), id="cancel", compact=True)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id or 0))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class PlanScreen(ModalScreen[bool]):
    """Shows what a step will change; True when the user confirms."""

    BINDINGS = [Binding("escape", "cancel", N_("Cancel"))]

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(_("Review the change"), classes="dialog-title")
            yield Static(self.plan.summary, id="plan-summary", markup=False)
            with VerticalScroll(id="plan-body"):
                for action in self.plan.actions:
                    yield Static(f"• {action}", classes="plan-action", markup=False)
                yield Static(coloured_diff(self.plan.diff()), id="plan-diff")
            if self.plan.typed_confirmation:
                yield Label(_("This is risky. Type {text} to confirm:").format(text=self.plan.typed_confirmation))
                yield Input(id="typed", placeholder=self.plan.typed_confirmation, compact=True)
            yield Static(_("Old files are backed up under /var/backups/regwiz; a change that "
                           "leaves the service unhealthy is rolled back.") + " " + _(KEYS_HINT), classes="hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button(_("Apply"), id="apply", variant="warning",
                             disabled=bool(self.plan.typed_confirmation), compact=True)
                yield Button(_("Cancel"), id="cancel", variant="primary", compact=True)

    def on_mount(self) -> None:
        if self.plan.typed_confirmation:
            self.query_one("#typed", Input).focus()
        else:
            self.query_one("#cancel", Button).focus()

    @on(Input.Changed, "#typed")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#apply", Button).disabled = event.value.strip() != self.plan.typed_confirmation

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "apply")

    def action_cancel(self) -> None:
        self.dismiss(False)
