"""The 'steps ahead' panel shown beside every wizard screen."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widget import Widget

from app.i18n import N_, _

STEPS = (N_("Credentials"), N_("Diagnose"), N_("Deploy"), N_("Clients"), N_("Summary"))  # shown with _()


class StepsPanel(Widget):
    """Lists the wizard's steps, marking the current and the finished ones.

    One widget drawing its lines (styled by its component classes, so themes and
    the stylesheet still apply), not a label per step: every widget on the first
    screen costs start-up time.
    """

    COMPONENT_CLASSES = {"steps--title", "steps--step", "steps--current", "steps--done"}
    DEFAULT_CSS = """
    StepsPanel { height: 1fr; }
    StepsPanel:hover { background: $boost; }
    StepsPanel > .steps--title { text-style: bold; }
    StepsPanel > .steps--step { color: $text-muted; }
    StepsPanel > .steps--current { color: $accent; text-style: bold; }
    StepsPanel > .steps--done { color: $success; }
    """

    def __init__(self, current: int = 0, done: int = 0, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.current = current
        self.done = done

    def step_text(self, index: int) -> str:
        """A step's line as shown: its mark (✓ done, ▶ current), number and name."""
        mark = "✓" if index < self.done else ("▶" if index == self.current else " ")
        return f"{mark} {index + 1}. {_(STEPS[index])}"

    def render(self) -> Text:
        text = Text(end="")
        text.append(_("Steps"), style=self.get_component_rich_style("steps--title"))
        text.append("\n")
        for index in range(len(STEPS)):
            style = self.get_component_rich_style("steps--step")
            if index == self.current:
                style += self.get_component_rich_style("steps--current")
            if index < self.done:
                style += self.get_component_rich_style("steps--done")
            text.append("\n")
            text.append(self.step_text(index), style=style)
        return text

    def on_mount(self) -> None:
        # Going back never loses a tick: the app counts the steps done in this run.
        self.done = max(self.done, getattr(self.app, "steps_done", 0))

    def mark_done(self, done: int) -> None:
        self.done = max(self.done, done)
        self.refresh()

    def on_click(self, event: events.Click) -> None:
        """A click on a step's line asks to open that step (the app says whether it can)."""
        from screens.wizard import GoToStep

        offset = event.get_content_offset(self)
        index = offset.y - 2 if offset is not None else -1  # the title and a blank line come first
        if 0 <= index < len(STEPS) and index != self.current:
            self.post_message(GoToStep(index))
