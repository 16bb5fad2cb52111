"""A screen's own words in a newly chosen language, in place: nothing is composed again, so what the user
typed and chose, the focus and the scroll positions stay as they are.

Every widget text that is one of the catalog's messages as it was shown (a label, a button, a radio
button, an input's placeholder, a select's prompt and options, a table's column titles, a border title,
a tooltip) is replaced by the same message in the language now in use. Text with values filled in (a
status line, a result) is not a catalog message as it stands: it changes when the screen writes it
again. What hosts printed and what the user typed are never catalog messages, and stay.
"""

from __future__ import annotations

from typing import Callable

from rich.text import Text
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Select, Static
from textual.widgets._toggle_button import ToggleButton


def relabel(screen: Screen, again: Callable[[str], str]) -> None:  # type: ignore[type-arg]
    """Every widget of ``screen``: its catalog texts through ``again`` (app.i18n.retranslator)."""
    for widget in screen.query("*"):
        _relabel_widget(widget, again)


def _relabel_widget(widget: Widget, again: Callable[[str], str]) -> None:
    for attribute in ("border_title", "border_subtitle"):
        text = getattr(widget, attribute)
        if isinstance(text, str) and text and again(text) != text:
            setattr(widget, attribute, again(text))
    if isinstance(widget.tooltip, str) and widget.tooltip:
        widget.tooltip = again(widget.tooltip)
    if isinstance(widget, (Button, ToggleButton)):
        label = widget.label.plain if isinstance(widget.label, (Content, Text)) else str(widget.label)
        if label and again(label) != label:
            widget.label = again(label)
    elif isinstance(widget, Static):
        if isinstance(widget.content, str) and widget.content and again(widget.content) != widget.content:
            widget.update(again(widget.content))
    elif isinstance(widget, Input):
        if widget.placeholder and again(widget.placeholder) != widget.placeholder:
            widget.placeholder = again(widget.placeholder)
    elif isinstance(widget, Select):
        _relabel_select(widget, again)
    elif isinstance(widget, DataTable):
        for column in widget.columns.values():
            title = column.label.plain
            if title and again(title) != title:
                column.label = Text(again(title), style=column.label.style)
        for row_key, cells in list(widget._data.items()):  # cells that are a catalog message ("detect")
            for column_key, cell in list(cells.items()):
                if isinstance(cell, str) and cell and again(cell) != cell:
                    widget.update_cell(row_key, column_key, again(cell))
        widget.refresh()


def _relabel_select(select: Select, again: Callable[[str], str]) -> None:  # type: ignore[type-arg]
    """A select's prompt and option labels; the chosen value stays, and no Changed is posted (nothing was
    chosen)."""
    options = [(prompt, value) for prompt, value in select._options if value is not Select.NULL]
    words = [again(prompt) if isinstance(prompt, str) else prompt for prompt, _value in options]
    prompt = again(select.prompt) if isinstance(select.prompt, str) else select.prompt
    if words == [prompt for prompt, _value in options] and prompt == select.prompt:
        return
    chosen = select.value
    with select.prevent(Select.Changed):
        select.prompt = prompt
        select.set_options(list(zip(words, [value for _prompt, value in options], strict=True)))
        select.value = chosen
        select._watch_value(chosen)  # (the shown choice in its new words, also when the value is the first)
