"""The live log every step shows: a Textual ``Log`` that writes what arrives once per frame.

``Log.write_lines`` schedules a repaint and starts a thread to measure the new
lines' width on every call. A command that prints thousands of lines a second
reaches the log in hundreds of batches a second, and the screen would spend its
time on those calls instead of answering keys. Here lines wait (at most
``FLUSH_SECONDS``) and go in together. Whoever reads the log (``lines``,
``line_count``) sees every line written so far.

The widest line sets the log's virtual width. ``Log`` measures every new line
with rich's ``cell_len`` in a thread (about 10 µs a line, holding the GIL, so
the event loop waits too); a printable ASCII line is as wide as it is long, and
only the other lines are measured that way here.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from rich.cells import cell_len
from textual.timer import Timer
from textual.widgets import Log


class LiveLog(Log):
    FLUSH_SECONDS = 1 / 20

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._pending: list[str] = []
        self._flush_timer: Timer | None = None

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> "LiveLog":
        self._pending.extend(lines)
        if scroll_end is not None or not self.is_mounted:
            self.flush(scroll_end)  # an explicit scroll request is honoured at once
        elif self._flush_timer is None:
            self._flush_timer = self.set_timer(self.FLUSH_SECONDS, self.flush)
        return self

    def flush(self, scroll_end: bool | None = None) -> None:
        """Write the waiting lines now."""
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        if self._pending:
            lines, self._pending = self._pending, []
            super().write_lines(lines, scroll_end)

    def _update_size(self, updates: int, lines: list[str]) -> None:
        """Textual's hook (a thread worker in ``Log``): the new lines' width, measured here at once."""
        if lines:
            widest = max(len(line) if line.isascii() and line.isprintable() else cell_len(self._process_line(line))
                         for line in lines)
            self._update_maximum_width(updates, widest)

    def clear(self) -> "LiveLog":
        self._pending.clear()
        super().clear()
        return self

    @property
    def lines(self) -> Sequence[str]:
        self.flush()
        return super().lines

    @property
    def line_count(self) -> int:
        self.flush()
        return super().line_count
