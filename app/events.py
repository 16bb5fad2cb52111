"""Log events: what every step and command reports, for the UI and log files.

A step never prints. It emits events to an ``EventBus``; the TUI renders them
into a step's live log, the CLI prints them, and a ``LogFileSink`` writes them
to disk. Every event passes through the run's ``Redactor`` first.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from app.redact import Redactor


class EventKind(enum.Enum):
    COMMAND = "command"  # a command about to run on a host
    STDOUT = "stdout"  # lines it printed
    STDERR = "stderr"
    EXIT = "exit"  # how it ended
    INFO = "info"  # a sentence from regwiz itself
    WARNING = "warning"
    ERROR = "error"
    STATUS = "status"  # a step or check changed state
    FILE_CHANGED = "file-changed"  # lines: the path, and its backup ("-" when it was new)


@dataclass(frozen=True, slots=True)
class LogEvent:
    kind: EventKind
    lines: tuple[str, ...]
    source: str = ""  # which step or check
    host: str = ""  # which host, as the user named it
    at: float = field(default_factory=time.time)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def render_lines(self) -> list[str]:
        """Plain text lines, as a log view or file shows them."""
        if self.kind is EventKind.COMMAND:
            return [f"$ {line}" for line in self.lines]
        if self.kind in (EventKind.STDOUT, EventKind.STDERR):
            return list(self.lines)
        prefix = {
            EventKind.EXIT: "exit:",
            EventKind.INFO: "--",
            EventKind.WARNING: "warning:",
            EventKind.ERROR: "error:",
            EventKind.STATUS: "status:",
            EventKind.FILE_CHANGED: "changed:",
        }[self.kind]
        return [f"{prefix} {line}" for line in self.lines]


class EventSink(Protocol):
    def __call__(self, event: LogEvent) -> None: ...


class EventBus:
    """Fans redacted events out to every subscribed sink."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        self.redactor = redactor or Redactor()
        self._sinks: list[EventSink] = []

    def subscribe(self, sink: EventSink) -> Callable[[], None]:
        self._sinks.append(sink)
        return lambda: self._sinks.remove(sink)

    def emit(
        self,
        kind: EventKind,
        lines: str | list[str] | tuple[str, ...],
        *,
        source: str = "",
        host: str = "",
    ) -> None:
        if isinstance(lines, str):
            lines = lines.splitlines() or [""]
        elif isinstance(lines, tuple):
            lines = list(lines)
        # One redaction per batch (a command's output comes in thousands of lines at a time).
        event = LogEvent(kind, tuple(self.redactor.lines(lines)), source, host)
        for sink in list(self._sinks):
            sink(event)

    def scoped(self, *, source: str = "", host: str = "") -> "ScopedEmitter":
        return ScopedEmitter(self, source, host)


@dataclass(slots=True)
class ScopedEmitter:
    """An emitter bound to one step and host, handed to transports and steps."""

    bus: EventBus
    source: str = ""
    host: str = ""

    def __call__(self, kind: EventKind, lines: str | list[str]) -> None:
        self.bus.emit(kind, lines, source=self.source, host=self.host)

    def info(self, text: str) -> None:
        self(EventKind.INFO, text)

    def warning(self, text: str) -> None:
        self(EventKind.WARNING, text)

    def error(self, text: str) -> None:
        self(EventKind.ERROR, text)


class MemorySink:
    """Keeps events in a list: for tests and for copying a step's log."""

    def __init__(self) -> None:
        self.events: list[LogEvent] = []

    def __call__(self, event: LogEvent) -> None:
        self.events.append(event)

    def lines(self, kind: EventKind | None = None) -> list[str]:
        return [
            line
            for event in self.events
            if kind is None or event.kind is kind
            for line in event.lines
        ]
