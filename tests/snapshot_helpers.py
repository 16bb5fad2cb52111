"""What every snapshot test shares."""

from __future__ import annotations


async def steady(pilot) -> None:  # type: ignore[no-untyped-def]
    """No blinking cursor: whether it is drawn would depend on the moment the picture is taken."""
    from textual.widgets import Input

    for screen in pilot.app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False
    await pilot.pause()
