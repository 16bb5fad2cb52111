"""Textual's Footer, rebuilt only when the keys it shows change."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer as TextualFooter


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
                      for (_, binding, enabled, tooltip) in bindings.values() if binding.show)
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
