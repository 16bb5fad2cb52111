"""The start-up floor: the smallest Textual app whose first screen takes input (one Input)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Input


class FloorApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Input(placeholder="floor input", id="input")

    def on_mount(self) -> None:
        self.query_one(Input).focus()


if __name__ == "__main__":
    FloorApp().run()
