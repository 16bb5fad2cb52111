"""The live log every step shows: a Textual ``Log`` that writes what arrives once per frame.

``Log.write_lines`` schedules a repaint and starts a thread to measure the new
lines' width on every call. A command that prints thousands of lines a second
reaches the log in hundreds of batches a second, and the screen would spend its
time on those calls instead of answering keys. Here lines wait (at most
``FLUSH_SECONDS``; ``FLOOD_FLUSH_SECONDS`` while output floods in) and go in
together. Whoever reads the log (``lines``, ``line_count``) sees every line
written so far.

The widest line sets the log's virtual width. ``Log`` measures every new line
with rich's ``cell_len`` in a thread (about 10 µs a line, holding the GIL, so
the event loop waits too); a printable ASCII line is as wide as it is long, and
only the other lines are measured that way here.

A batch is handled as a whole where Python allows it: ``Log.write_lines``
calls ``splitlines`` on every line and drops each new line's number from a
render cache one by one; here one check of the joined batch (no line-break
character, every line printable ASCII) lets 10,000 lines through with a few
calls into C, and the per-line paths remain for whatever fails the check.
"""

from __future__ import annotations

from typing import Callable, ClassVar, Iterable, Sequence

from rich.cells import cell_len
from textual import events, on
from textual.binding import ActiveBinding, Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Log, Static

from app.events import EventBus, LogEvent, PlainLines, Scope
from app.i18n import N_, _
from screens.footer import translated_bindings

# What str.splitlines splits on besides "\n": a batch holding none of these is already split.
_OTHER_LINE_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
# Printable ASCII, whose width is its length.
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def _printable_ascii(text: str) -> bool:
    """``text.isascii() and text.isprintable()``, several times faster on a long text."""
    return text.isascii() and not text.encode("ascii").translate(None, _PRINTABLE_ASCII)


_PRINTABLE_ASCII_LINES = _PRINTABLE_ASCII + b"\n"


def _printable_ascii_lines(text: str) -> bool:
    """Lines joined by "\n", each of them printable ASCII (as ``_printable_ascii`` of each line)."""
    return text.isascii() and not text.encode("ascii").translate(None, _PRINTABLE_ASCII_LINES)


class LiveLog(Log):
    # Ten writes a second: a person cannot read faster, and each one repaints (measured:
    # 20 a second cost a fifth of the streaming rate).
    FLUSH_SECONDS = 1 / 10
    # While a command floods the log (a flush wrote FLOOD_LINES or more: 10,000 lines a second and up, far
    # more than the log shows), four a second: each write repaints the whole screen's widgets that overlap
    # the log, and nobody reads lines going by that fast; the next quieter flush is back to ten a second.
    FLOOD_LINES = 1000
    FLOOD_FLUSH_SECONDS = 1 / 4

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._pending: list[str] = []
        self._pending_plain = True  # every waiting line is printable ASCII (PlainLines, or checked as it came)
        self._flush_timer: Timer | None = None
        self._flooded = False  # the last flush wrote FLOOD_LINES or more

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> "LiveLog":
        if type(lines) is not PlainLines and self._pending_plain:
            # Checked alone, now (a command's line, its exit: a few lines), so that a flood's PlainLines waiting
            # beside them are not joined and scanned again at the flush.
            lines = list(lines)
            text = "\n".join(lines)
            self._pending_plain = not lines or (text.count("\n") == len(lines) - 1 and _printable_ascii_lines(text))
        self._pending.extend(lines)
        if scroll_end is not None or not self.is_mounted:
            self.flush(scroll_end)  # an explicit scroll request is honoured at once
        elif self._flush_timer is None:
            self._flush_timer = self.set_timer(
                self.FLOOD_FLUSH_SECONDS if self._flooded else self.FLUSH_SECONDS, self.flush)
        return self

    def flush(self, scroll_end: bool | None = None) -> None:
        """Write the waiting lines now."""
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        if self._pending:
            lines, self._pending = self._pending, []
            plain, self._pending_plain = self._pending_plain, True
            self._flooded = len(lines) >= self.FLOOD_LINES
            self._append(lines, scroll_end, plain)

    def _append(self, lines: list[str], scroll_end: bool | None, known_plain: bool = False) -> None:
        """``Log.write_lines`` for a whole batch at once (the same steps, in the same order).

        ``known_plain``: every line is printable ASCII (they came as PlainLines): no line break in any, and
        each as wide as it is long.
        """
        is_vertical_scroll_end = self.is_vertical_scroll_end
        auto_scroll = self.auto_scroll if scroll_end is None else scroll_end
        if known_plain:
            plain = True
            new_lines = [line for line in lines if line] if "" in lines else lines  # (as Log: no empty lines)
        else:
            text = "\n".join(lines)
            whole = text.count("\n") == len(lines) - 1  # no line holds a "\n" of its own
            # One scan of the joined batch answers both questions at once, most of the time: printable ASCII
            # has no other line break either, and is as wide as it is long.
            plain = whole and _printable_ascii_lines(text)
            if plain or (whole and not any(char in text for char in _OTHER_LINE_BREAKS)):  # one fast scan each
                # Log drops empty lines ("".splitlines() is []); so does this.
                new_lines = [line for line in lines if line] if "" in lines else lines
            else:
                new_lines = [part for line in lines for part in line.splitlines()]
        start_line = len(self._lines)
        self._lines.extend(new_lines)
        if self.max_lines is not None and len(self._lines) > self.max_lines:
            self._prune_max_lines()
        if new_lines:
            widest = max(map(len, new_lines)) if plain else self._widest(new_lines)
            self._width = max(self._width, widest)
        self._set_virtual_size(Size(self._width, len(self._lines)))
        end_line = start_line + len(new_lines)
        cache = self._render_line_cache
        if len(cache):  # only lines already rendered can be stale: whichever of the two is fewer is walked
            stale = range(start_line, end_line) if len(new_lines) <= len(cache) else [
                y for y in cache.keys() if start_line <= y < end_line]
            for y in stale:
                cache.discard(y)
        # Only the new lines in view need painting: Textual marks every line of the region dirty one by one
        # (a set of 100,000 numbers for a flood's flush), and lines out of view are painted when scrolled to.
        top = self.scroll_offset.y
        first, last = max(start_line, top), min(end_line, top + self.size.height)
        if first < last:
            ScrollView.refresh_lines(self, first, last - first)
        if auto_scroll and not self.is_vertical_scrollbar_grabbed and is_vertical_scroll_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        else:
            self.refresh()

    def _widest(self, lines: list[str]) -> int:
        """The widest of some lines, in cells."""
        if _printable_ascii("".join(lines)):
            return max(map(len, lines))
        return max(len(line) if line.isascii() and line.isprintable() else cell_len(self._process_line(line))
                   for line in lines)

    def _update_size(self, updates: int, lines: list[str]) -> None:  # type: ignore[override]  # (Textual's thread worker)
        """Textual's hook (a thread worker in ``Log``): the new lines' width, measured here at once."""
        if lines:
            self._update_maximum_width(updates, self._widest(lines))

    def _set_virtual_size(self, size: Size) -> None:
        """Set the scrollable size without laying out the whole screen again.

        ``virtual_size`` is a reactive with ``layout=True``: every change reflows
        and repaints the screen, every widget of it, on every flush while a
        command prints. A log whose own size does not follow its content (its
        height is not ``auto``) needs only its scrollbars updated; a scrollbar
        that appears or goes asks for the layout itself.
        """
        if size == self.virtual_size:
            return
        styles = self.styles
        if styles.is_auto_width or styles.is_auto_height or not self.container_size:
            self.virtual_size = size
            return
        self.set_reactive(Log.virtual_size, size)
        self._scroll_update(size)
        self.refresh()

    def clear(self) -> "LiveLog":
        self._pending.clear()
        self._pending_plain = True
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


# ctrl+y, on every screen with a live log. Each screen lists it in its own BINDINGS, where its footer
# shows it (a binding of the base class would come first in every footer).
COPY_LOG = Binding("ctrl+y", "copy_log", N_("Copy log"))


class LiveLogScreen(Screen[None]):
    """A screen that shows the engine's events in its live log (``#log``) and has a status line.

    While mounted it is subscribed to the event bus (``self.bus``, set by the subclass); the
    events of the steps in ``LOG_STEPS`` go to its log (``on_log_event``: override it to route
    them further, e.g. a log per check or per client). ctrl+y copies the log (``COPY_LOG``),
    ``set_status`` writes the status line (``#STATUS_ID``).

    The subscription is made by ``@on`` handlers of this class: Textual calls each class's
    handlers in the MRO, so a subclass's own ``on_mount``/``on_unmount`` run as well, with no
    ``super()`` call.
    """

    LOG_STEPS: ClassVar[frozenset[str]] = frozenset()  # the Scope.step values this screen shows
    STATUS_ID: ClassVar[str] = "status"
    STATUS_SCROLLS: ClassVar[bool] = False  # scroll the status line into view on each change

    bus: EventBus
    _stop_log: Callable[[], None] | None = None

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """The keys, described in the language in use (the footer and the keys panel read them here)."""
        return translated_bindings(super().active_bindings)

    @on(events.Mount)
    def _subscribe_log(self) -> None:
        self._stop_log = self.bus.subscribe(self._log_event)

    @on(events.Unmount)
    def _unsubscribe_log(self) -> None:
        if self._stop_log is not None:
            self._stop_log()
            self._stop_log = None

    def _log_event(self, event: LogEvent) -> None:
        if not self.is_attached:
            return  # the screen is gone (the app is closing); the run's log files keep the events
        if self.shows(event.scope):
            self.on_log_event(event)

    def shows(self, scope: Scope) -> bool:
        """Whether events of this scope belong in this screen's log."""
        return scope.step in self.LOG_STEPS

    def on_log_event(self, event: LogEvent) -> None:
        """An event of this screen's: into its log."""
        self.query_one("#log", Log).write_lines(event.render_lines())

    def set_status(self, text: str, kind: str | None = None) -> None:
        """The status line says ``text``; ``kind`` (ok, error, busy) colours it."""
        if not self.is_attached:
            return  # (a worker ending after the screen closed)
        status = self.query_one(f"#{self.STATUS_ID}", Static)
        status.update(text)
        if kind is not None:
            status.set_classes(kind)
        if self.STATUS_SCROLLS:
            status.scroll_visible(animate=False)  # a message below the fold is a message not read

    def action_copy_log(self) -> None:
        """ctrl+y: the live log, redacted as it is shown, to the clipboard."""
        lines = self.query_one("#log", Log).lines
        self.app.copy_to_clipboard("\n".join(lines))
        self.notify(_("Copied {count} log lines").format(count=len(lines)))
