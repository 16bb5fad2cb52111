"""The floor app with regwiz's first-screen widgets added group by group, in Textual's stock widgets.

``python -m benchmarks.floor_groups`` runs the app with the groups named in ``FLOOR_GROUPS``
(comma-separated, from ``GROUPS``; empty: the floor itself). Each group is what the first screen
shows, laid out as screens/target.py lays it out, but built from Textual's own widgets (a Static for
regwiz's steps panel; regwiz's Footer, which is Textual's without rebuilding itself when the keys shown
stay the same): what the groups cost is Textual's cost for showing them.
The focused Input keeps the floor's placeholder, so the harness types at the same text. What regwiz
does to start faster with any widgets is done here too (the garbage collector paused until the first
screen is drawn, no second styling of the screen when it first becomes active), so each line is the
least that showing those widgets costs.
``benchmarks.startup_groups`` counts each cumulative step under callgrind.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Header, Input, Label, Log, RadioButton, RadioSet, Static

from screens.footer import Footer  # Textual's Footer, without its rebuilds (the cheapest way to show the keys)

GROUPS = ("header", "footer", "steps", "fields", "radios", "buttons", "log", "css")
REGWIZ_CSS = Path(__file__).resolve().parent.parent / "screens" / "regwiz.tcss"


def _field(name: str, label: str, value: str = "", placeholder: str = "", password: bool = False,
           narrow: bool = False) -> Vertical:
    return Vertical(Label(label, classes="field-label"),
                    Input(value=value, placeholder=placeholder, password=password, id=name, compact=True),
                    classes="field narrow" if narrow else "field")


class GroupsScreen(Screen[None]):
    # Only what places the groups where the first screen has them (the steps beside the form, the form's
    # rows as tall as their content); the rest of regwiz's stylesheet is the "css" group.
    DEFAULT_CSS = """
    #steps { width: 22; }
    #remote-fields, .row, .field, #buttons, #status { height: auto; }
    .row .field { width: 1fr; }
    .row .field.narrow { width: 12; }
    #log { height: 1fr; }
    """
    BINDINGS = [Binding("escape", "back", "Back"), Binding("ctrl+n", "next", "Next: Diagnose"),
                Binding("ctrl+r", "primary", "Connect")]

    def __init__(self, groups: set[str]) -> None:
        super().__init__()
        self.groups = groups
        self._resumed_once = False

    def compose(self) -> ComposeResult:
        has = self.groups.__contains__
        if has("header"):
            yield Header()
        first = Input(placeholder="floor input", id="input", compact=has("fields"))
        if not has("steps"):
            yield first
        else:
            with Horizontal():
                yield Static("Steps\n\n▶ 1. Credentials\n  2. Diagnose\n  3. Deploy\n  4. Clients\n  5. Summary",
                             id="steps")
                with VerticalScroll(id="form"):
                    if has("fields"):
                        yield Label("Where should the registry run?", classes="question")
                    if has("radios"):
                        with RadioSet(id="target", compact=True):
                            yield RadioButton("A server I reach over SSH", value=True)
                            yield RadioButton("This machine")
                    with Vertical(id="remote-fields"):
                        if not has("fields"):
                            yield first
                        else:
                            with Horizontal(classes="row"):
                                yield Vertical(Label("Address or ~/.ssh/config alias", classes="field-label"), first,
                                               classes="field")
                                yield _field("port", "Port", value="22", narrow=True)
                            yield _field("user", "User", value="root")
                        if has("radios"):
                            yield Label("Log in with", classes="field-label")
                            with RadioSet(id="auth", compact=True):
                                yield RadioButton("Password", value=True)
                                yield RadioButton("Private key file")
                                yield RadioButton("ssh-agent")
                        if has("fields"):
                            yield _field("password", "Password", password=True)
                    if has("buttons"):
                        with Horizontal(id="buttons"):
                            yield Button("Connect", variant="primary", compact=True)
                            yield Button("Continue: Diagnose", variant="success", compact=True, disabled=True)
                        yield Static("", id="status")
                    if has("log"):
                        yield Log(id="log", highlight=False)
        if has("footer"):
            yield Footer()

    def on_mount(self) -> None:
        self.query_one("#input", Input).focus()

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # As regwiz's first screen does (screens/target.py): no second styling of every widget when the
        # screen first becomes active, a moment after each was styled on mounting.
        if not self._resumed_once:
            self._resumed_once = True
            event.refresh_styles = False


class FloorGroupsApp(App[None]):
    TITLE = "regwiz"
    SUB_TITLE = "a private Docker registry, step by step"

    def __init__(self, groups: set[str]) -> None:
        super().__init__(css_path=[REGWIZ_CSS] if "css" in groups else None)
        self.groups = groups

    def on_mount(self) -> None:
        self.push_screen(GroupsScreen(self.groups))
        self.call_after_refresh(self._resume_gc)

    def _resume_gc(self) -> None:
        gc.freeze()
        gc.enable()


if __name__ == "__main__":
    chosen = {name for name in os.environ.get("FLOOR_GROUPS", "").split(",") if name}
    unknown = chosen - set(GROUPS)
    if unknown:
        raise SystemExit(f"unknown groups: {', '.join(sorted(unknown))} (known: {', '.join(GROUPS)})")
    gc.disable()  # until the first screen is drawn, as regwiz does (app.cli._run_tui)
    FloorGroupsApp(chosen).run()
