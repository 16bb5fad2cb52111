"""Textual's Footer, rebuilt only when the keys it shows change; key descriptions in the language in use."""

from __future__ import annotations

from dataclasses import replace

from textual.binding import ActiveBinding
from textual.screen import Screen
from textual.widgets import Footer as TextualFooter

from app.i18n import ENGLISH, N_, _, current


class Footer(TextualFooter):
    """The same footer, without rebuilding itself when nothing it shows has changed.

    Textual's Footer shows nothing until told the bindings are ready, then removes
    and mounts all its keys again after every focus change or binding update, even
    when the keys shown stay the same: at start-up that is three rebuilds of the
    first screen's footer before the first key typed is answered. This one shows
    the keys from its first composition and rebuilds only when they differ.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.set_reactive(TextualFooter._bindings_ready, True)
        self._shown: tuple[object, ...] | None = None

    def _keys_shown(self) -> tuple[object, ...]:
        """What compose() would show: each shown binding with its state, and the palette key."""
        bindings = self.screen.active_bindings
        shown = tuple((binding.key, binding.key_display, binding.description, binding.action, binding.group,
                       enabled, tooltip)
                      for (_node, binding, enabled, tooltip) in bindings.values() if binding.show)
        palette = bindings.get(self.app.COMMAND_PALETTE_BINDING) if self.show_command_palette else None
        return shown, self.app.ENABLE_COMMAND_PALETTE, palette is not None and palette[1:]

    def compose(self):  # type: ignore[no-untyped-def]
        self._shown = self._keys_shown()
        yield from super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        if self.is_attached and screen is self.screen and self._shown is not None:
            if self._keys_shown() == self._shown:
                return
        super().bindings_changed(screen)


# Textual's own key descriptions and palette entries, marked here so the catalog has them (regwiz's own
# are marked with N_ where they are bound).
TEXTUAL_WORDS = (
    N_("palette"), N_("Focus Next"), N_("Focus Previous"), N_("Copy selected text"),
    N_("Quit the app and return to the command prompt."),
    N_("Theme"), N_("Change the current theme"), N_("Quit"), N_("Quit the application as soon as possible"),
    N_("Keys"), N_("Hide the keys and widget help panel"),
    N_("Show help for the focused widget and a summary of available keys"),
    N_("Minimize"), N_("Minimize the widget and restore to normal size"),
    N_("Maximize"), N_("Maximize the focused widget"),
    N_("Screenshot"), N_("Save an SVG 'screenshot' of the current screen"),
)


def translated_bindings(bindings: dict[str, ActiveBinding]) -> dict[str, ActiveBinding]:
    """The active bindings with their descriptions and tooltips in the language in use.

    Bindings are declared at class level (their words marked with N_), so they are translated
    here, where the footer and the keys panel read them (``Screen.active_bindings``).
    """
    if current() == ENGLISH:
        return bindings
    return {key: ActiveBinding(node, replace(binding, description=_(binding.description) if binding.description
                                             else "", tooltip=_(binding.tooltip) if binding.tooltip else ""),
                               enabled, _(tooltip) if tooltip else tooltip)
            for key, (node, binding, enabled, tooltip) in bindings.items()}
