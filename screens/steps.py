"""The 'steps ahead' panel shown beside every wizard screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Static

STEPS = ("Credentials", "Diagnose", "Deploy", "Clients", "Summary")


class StepsPanel(Vertical):
    """Lists the wizard's steps, marking the current and the finished ones."""

    def __init__(self, current: int = 0, done: int = 0, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.current = current
        self.done = done

    def compose(self) -> ComposeResult:
        yield Label("Steps", classes="panel-title")
        for index, name in enumerate(STEPS):
            yield Static(self._text(index, name), id=f"step-{index}", classes=self._step_classes(index))

    def _text(self, index: int, name: str) -> str:
        mark = "✓" if index < self.done else ("▶" if index == self.current else " ")
        return f"{mark} {index + 1}. {name}"

    def _step_classes(self, index: int) -> str:
        return "step" + (" done" if index < self.done else "") + (" current" if index == self.current else "")

    def mark_done(self, done: int) -> None:
        self.done = done
        for index, name in enumerate(STEPS):
            step = self.query_one(f"#step-{index}", Static)
            step.update(self._text(index, name))
            step.set_class(index < done, "done")
            step.set_class(index == self.current, "current")
