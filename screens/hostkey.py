"""The modal that shows an unknown host key and asks whether to trust it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from app.i18n import N_, _


class HostKeyScreen(ModalScreen[bool]):
    """Dismisses with True when the user accepts the key."""

    BINDINGS = [Binding("escape", "cancel", N_("Cancel"))]

    def __init__(self, host: str, key_type: str, fingerprint: str) -> None:
        super().__init__()
        self.host, self.key_type, self.fingerprint = host, key_type, fingerprint

    def compose(self) -> ComposeResult:
        from screens.plan import KEYS_HINT  # here: screens.plan brings the engine's steps (start-up time)

        with Vertical(id="hostkey-dialog"):
            yield Label(_("Unknown host key"), classes="dialog-title")
            yield Static(
                _("regwiz has never seen [b]{host}[/b] before.\n"
                  "Compare this fingerprint with the one your provider's console shows:").format(
                    host=self.host),
                markup=True,
            )
            yield Static(f"{self.key_type}\n{self.fingerprint}", id="fingerprint", markup=False)
            yield Static(_("Accepting stores the key in regwiz's own known_hosts."), classes="hint")
            yield Static(_(KEYS_HINT), classes="hint keys-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button(_("Accept and connect"), id="accept", variant="warning")
                yield Button(_("Cancel"), id="cancel", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()  # the safe choice has focus

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "accept")

    def action_cancel(self) -> None:
        self.dismiss(False)
