"""The modal that asks for the secrets a check needs and the environment does not give.

One password field per secret, labelled with what it is for. Enter moves to the
next field; Enter in the last one confirms; Escape skips them all (the rows that
need them say which variable to set). What is typed stays in memory: it is
registered with the redactor at once and never written anywhere.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from app.dashboard import NeededSecret
from app.i18n import N_, _
from app.redact import Redactor, Secret
from screens.wizard import FormKeys


# What a secret is (NeededSecret.noun), as a field's placeholder: shown with _().
NOUNS = (N_("password"), N_("passphrase"), N_("sudo password"))


class SecretsScreen(FormKeys, ModalScreen[dict[str, Secret] | None]):
    """Dismisses with the secrets typed (by ``NeededSecret.key``; empty fields left out), or None on Escape."""

    DEFAULT_CSS = """
    SecretsScreen { align: center middle; }
    #secrets-dialog {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        padding: 0 2; border: thick $warning; background: $surface;
    }
    #secrets-dialog .secrets-title { text-style: bold; margin-top: 1; }
    #secrets-dialog .secrets-hint { color: $text-muted; margin-bottom: 1; }
    #secrets-dialog .secret-label { margin-top: 1; }
    #secrets-dialog Input { width: 1fr; }
    #secrets-buttons { height: auto; margin: 1 0; align-horizontal: right; }
    #secrets-buttons Button { margin-left: 2; }
    """

    BINDINGS = [Binding("escape", "cancel", N_("Skip these"))]
    AUTO_FOCUS = "Input"

    def __init__(self, needed: list[NeededSecret], redactor: Redactor | None = None,
                 typed: dict[str, Secret] | None = None) -> None:
        super().__init__()
        self.needed, self.redactor = needed, redactor
        self.typed = typed or {}  # what was typed for an earlier check of this profile (fields start with it)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="secrets-dialog", classes="form form-action-confirm"):
            yield Label(_("Secrets for the checks"), classes="secrets-title")
            yield Static(_("Kept in memory for this session only, never saved. Enter: next field, "
                           "then check; Escape: skip the rows that need them."), classes="secrets-hint")
            for index, needed in enumerate(self.needed):
                where = _(" (or set {variable})").format(variable=needed.env) if needed.env else ""
                empty = _("; empty: use the SSH agent") if needed.optional else ""
                yield Label(f"{needed.label}{where}{empty}", classes="secret-label", markup=False)
                earlier = self.typed.get(needed.key)
                yield Input(earlier.reveal() if earlier else "", password=True, id=f"secret-{index}",
                            placeholder=_(needed.noun))
            with Horizontal(id="secrets-buttons"):
                yield Button(_("Skip"), id="secrets-skip", compact=True)
                yield Button(_("Check"), id="secrets-confirm", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#secret-0", Input).focus()  # (the first field has focus on arrival)

    def values(self) -> dict[str, Secret]:
        found = {}
        for index, needed in enumerate(self.needed):
            value = self.query_one(f"#secret-{index}", Input).value
            if value:
                found[needed.key] = Secret(value)
                if self.redactor is not None:
                    self.redactor.add(value)  # from now on no log line can carry it
        return found

    def action_confirm(self) -> None:
        self.dismiss(self.values())

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#secrets-confirm")
    def _confirm(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#secrets-skip")
    def _skip(self) -> None:
        self.action_cancel()
