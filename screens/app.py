"""The Textual application: a wizard of screens over the engine in ``app``."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding

from app.events import EventBus
from screens.target import TargetScreen

STEPS = ("Credentials", "Diagnose", "Deploy", "Clients", "Summary")

class RegwizApp(App[None]):
    TITLE = "regwiz"
    SUB_TITLE = "a private Docker registry, step by step"
    CSS_PATH = "regwiz.tcss"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(self) -> None:
        super().__init__()
        self.bus = EventBus()

    def on_mount(self) -> None:
        self.push_screen(TargetScreen(self.bus))
