"""What every snapshot test shares."""

from __future__ import annotations


async def steady(pilot) -> None:  # type: ignore[no-untyped-def]
    """No blinking cursor: whether it is drawn would depend on the moment the picture is taken."""
    from textual.widgets import Input

    for screen in pilot.app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False
    await pilot.pause()


async def settled_scrolling(pilot, frames: int = 3) -> None:  # type: ignore[no-untyped-def]
    """Wait until no widget's scroll position or size moved for ``frames`` pauses in a row (a focus or a
    page key scrolls over several frames, later on a loaded machine)."""
    def positions() -> list[tuple[object, ...]]:
        return [(id(w), w.scroll_x, w.scroll_y, w.size, w.virtual_size) for w in pilot.app.screen.query("*")]

    still, last = 0, positions()
    for _ in range(400):
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(0.02)
        now = positions()
        still = still + 1 if now == last else 0
        if still >= frames:
            return
        last = now
    raise AssertionError("the screen kept scrolling")
