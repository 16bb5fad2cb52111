"""Textual's Footer, rebuilt only when the keys it shows change; key descriptions in the language in use."""

from __future__ import annotations

from dataclasses import replace

from textual.binding import ActiveBinding
from textual.screen import Screen
from textual.widget import Widget
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


class KeysFooter(Footer):
    """The same footer drawn as one widget: the keys are one line of text, not a widget each.

    Every widget on the first screen costs start-up time (Textual styles, lays out and renders each
    before the first key typed is answered); Textual's Footer is a widget per key. This one draws the
    same keys with the same styles (FooterKey's component classes and rules), runs a key's action on a
    click (a greyed-out key rings the bell, as FooterKey does) and lights the key under the pointer. The
    command palette's key stays Textual's own FooterKey, docked on the right.
    """

    COMPONENT_CLASSES = {"footer-key--key", "footer-key--description", "footer-key--hover"}
    DEFAULT_CSS = """
    KeysFooter {
        text-wrap: nowrap;
        .footer-key--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .footer-key--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        .footer-key--hover {
            color: $footer-key-foreground;
            background: $block-hover-background;
        }
    }
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._keys: list[tuple[str, str, str, bool]] = []  # (key, as shown, description, enabled)
        self._spans: list[tuple[int, int]] = []  # each key's columns
        self._hover: int | None = None

    def compose(self):  # type: ignore[no-untyped-def]
        self._shown = self._keys_shown()
        bindings = self.screen.active_bindings
        first: dict[str, tuple[str, str, str, bool]] = {}  # one key per action, as Textual's Footer
        for (_node, binding, enabled, _tooltip) in bindings.values():
            if binding.show and binding.action not in first:
                first[binding.action] = (binding.key, self.app.get_key_display(binding), binding.description,
                                         enabled)
        self._keys = list(first.values())
        self._hover = None
        for widget in TextualFooter.compose(self):
            if widget.has_class("-command-palette"):
                yield widget
        self.refresh()

    def render(self):  # type: ignore[no-untyped-def]
        from rich.style import Style
        from rich.text import Text

        key_style = self.get_component_rich_style("footer-key--key")
        description_style = self.get_component_rich_style("footer-key--description")
        text, self._spans = Text(end=""), []
        for index, (_key, shown, description, enabled) in enumerate(self._keys):
            start = len(text)
            part = Text.assemble((f" {shown} ", key_style), (f"{description} " if description else "",
                                                             description_style))
            if index == self._hover:
                part.stylize_before(self.get_component_rich_style("footer-key--hover"))
            if not enabled:
                part.stylize(Style(dim=True))
            text.append_text(part)
            self._spans.append((start, len(text)))
        return text

    def descriptions(self) -> list[str]:
        """The keys' descriptions as shown (what FooterKey.description holds in Textual's Footer)."""
        return [description for (_key, _shown, description, _enabled) in self._keys]

    def _key_at(self, x: int) -> int | None:
        return next((index for index, (start, end) in enumerate(self._spans) if start <= x < end), None)

    def on_mouse_move(self, event) -> None:  # type: ignore[no-untyped-def]
        hover = self._key_at(event.x) if event.y == 0 else None
        if hover != self._hover:
            self._hover = hover
            self.styles.pointer = "pointer" if hover is not None else "default"
            self.refresh()

    def on_leave(self) -> None:
        if self._hover is not None:
            self._hover = None
            self.refresh()

    def on_mouse_down(self, event) -> None:  # type: ignore[no-untyped-def]
        index = self._key_at(event.x)
        if index is None:
            return
        key, _shown, _description, enabled = self._keys[index]
        if enabled:
            self.app.simulate_key(key)
        else:
            self.app.bell()


class TitleBar(Widget):
    """Textual's Header (icon, title, the clock's space) drawn as one widget: the same cells, a click on the
    icon opens the command palette, a click elsewhere makes it tall or short again; the title follows
    the app's (the language's) title and sub-title."""

    DEFAULT_CSS = """
    TitleBar {
        dock: top;
        width: 100%;
        background: $panel;
        color: $foreground;
        height: 1;
        text-wrap: nowrap;
    }
    TitleBar.-tall { height: 3; }
    TitleBar > .title-bar--icon-hover { background: $foreground 10%; }
    """
    COMPONENT_CLASSES = {"title-bar--icon-hover"}
    ICON, ICON_WIDTH, CLOCK_WIDTH = "⭘", 8, 10

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._icon_hover = False

    def on_mount(self) -> None:
        for name in ("title", "sub_title"):
            self.watch(self.app, name, self._title_changed, init=False)
            self.watch(self.screen, name, self._title_changed, init=False)

    def _title_changed(self) -> None:
        self.refresh()

    def render(self):  # type: ignore[no-untyped-def]
        from textual.content import Content

        screen, app = self.screen, self.app
        title = app.format_title(screen.title if screen.title is not None else app.title,
                                 screen.sub_title if screen.sub_title is not None else app.sub_title)
        width = self.size.width
        room = max(0, width - self.ICON_WIDTH - self.CLOCK_WIDTH)
        if title.cell_length > room:
            title = title.truncate(room, ellipsis=True)
        left = (room - title.cell_length) // 2
        icon = Content(f" {self.ICON}".ljust(self.ICON_WIDTH))
        if self._icon_hover:
            icon = icon.stylize(self.get_component_rich_style("title-bar--icon-hover"))
        title_line = Content.assemble(" " * (self.ICON_WIDTH + left), title,
                                      " " * (room - left - title.cell_length + self.CLOCK_WIDTH))
        if self.has_class("-tall"):  # (as Textual's: the title on the first line, the icon on the second)
            return Content("\n").join([title_line, Content.assemble(icon, " " * (width - self.ICON_WIDTH)),
                                        Content(" " * width)])
        return Content.assemble(icon, title_line[self.ICON_WIDTH:])

    def on_mouse_move(self, event) -> None:  # type: ignore[no-untyped-def]
        hover = event.x < self.ICON_WIDTH
        if hover != self._icon_hover:
            self._icon_hover = hover
            self.tooltip = _("Open the command palette") if hover else None
            self.refresh()

    def on_leave(self) -> None:
        if self._icon_hover:
            self._icon_hover = False
            self.tooltip = None
            self.refresh()

    async def on_click(self, event) -> None:  # type: ignore[no-untyped-def]
        if event.x < self.ICON_WIDTH:
            await self.run_action("app.command_palette")
        else:
            self.toggle_class("-tall")
