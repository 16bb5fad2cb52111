"""Pilot helpers for the TUI tests that run against real hosts."""

from __future__ import annotations

from textual.app import App
from textual.errors import NoWidget
from textual.pilot import Pilot
from textual.screen import Screen


def laid_out_on(app: App, screen_type: type[Screen], selector: str) -> bool:
    """The top screen is a ``screen_type`` whose ``selector`` widget has been laid out and is not covered.

    A modal is ``app.screen`` as soon as it is pushed, before its widgets have a place: a click then
    lands nowhere (Pilot.click says so by returning False), and a test waiting for what the click
    starts waits for nothing (seen on a loaded machine: the Apply button still at Region(0, 0, 0, 0)).
    """
    screen = app.screen
    if not isinstance(screen, screen_type) or app.focused is None:  # (focus: its on_mount has run)
        return False
    found = screen.query(selector)
    if not found:
        return False
    widget = found.first()
    if not widget.region.area:
        return False
    try:
        under, _region = screen.get_widget_at(*widget.region.offset)
    except NoWidget:
        return False
    return under is widget or widget in under.ancestors


async def click_when_laid_out(pilot: Pilot, screen_type: type[Screen], selector: str,  # type: ignore[type-arg]
                              seconds: float = 60) -> None:
    """Click ``selector`` on the top ``screen_type`` once it can be clicked; fail if it never could."""
    for _ in range(int(seconds / 0.1)):
        if laid_out_on(pilot.app, screen_type, selector):
            break
        await pilot.pause(0.1)
    else:
        raise AssertionError(f"{selector} on {screen_type.__name__} was never laid out: now {pilot.app.screen}")
    assert await pilot.click(selector), f"the click on {selector} landed elsewhere"
