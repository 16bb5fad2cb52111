"""Log events: what every step and command reports, for the UI and log files.

A step never prints. It emits events to an ``EventBus``; the TUI renders them
into a step's live log, the CLI prints them, and a ``LogFileSink`` writes them
to disk. Every event passes through the run's ``Redactor`` first.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol, Sequence

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
class Scope:
    """Which step an event belongs to, and which part of it (a check, a client, a fix): what screens
    route log lines by. Written as ``step.part`` (``diagnose.network``, ``client.web1``) in log files."""

    step: str = ""  # "credentials", "diagnose", "fix", "deploy", "prove", "client", "registry", …
    part: str = ""  # the check's id or the client's name, when the step has several

    @classmethod
    def parse(cls, source: str) -> "Scope":
        """``"client.root@10.0.0.5"`` -> Scope("client", "root@10.0.0.5") (the part may hold dots)."""
        step, _, part = source.partition(".")
        return cls(step, part)

    def __str__(self) -> str:
        return f"{self.step}.{self.part}" if self.part else self.step


class PlainLines(tuple[str, ...]):
    """Lines known to hold printable ASCII only (no control character, so no line break of any kind): how the
    splitter marks a chunk of command output whose bytes it checked in one scan. A log view can then take
    them as they are (each as wide as it is long) without checking every line again. A tuple: an event
    keeps them as they came, and every sink may share them.

    ``joined`` is the lines joined by "\n": the splitter hands over the chunk's text it split them from, so
    the redactor searches it and the run's log file writes it per chunk, with no join per line."""

    _joined: str | None

    def __new__(cls, lines: Iterable[str] = (), joined: str | None = None) -> "PlainLines":
        self = super().__new__(cls, lines)
        self._joined = joined  # (trusted: the splitter split these lines from it)
        return self

    @classmethod
    def split(cls, text: str) -> "PlainLines":
        """The lines of ``text`` (printable ASCII and "\n" only), keeping ``text`` as their ``joined``."""
        return cls(text.split("\n"), text)

    @property
    def joined(self) -> str:
        """The lines joined by "\n" (the splitter's text, else joined once)."""
        if self._joined is None:
            self._joined = "\n".join(self)
        return self._joined


@dataclass(frozen=True, slots=True)
class LogEvent:
    kind: EventKind
    lines: tuple[str, ...]
    scope: Scope = Scope()  # which step or check
    host: str = ""  # which host, as the user named it
    at: float = field(default_factory=time.time)

    @property
    def source(self) -> str:
        """The scope as text, as log files and the report name it."""
        return str(self.scope)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def render_lines(self) -> Sequence[str]:
        """Plain text lines, as a log view or file shows them."""
        if self.kind is EventKind.COMMAND:
            return [f"$ {line}" for line in self.lines]
        if self.kind is EventKind.STDOUT or self.kind is EventKind.STDERR:
            return self.lines if type(self.lines) is PlainLines else list(self.lines)  # (shared: a tuple)
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
        lines: str | Sequence[str],
        *,
        source: str = "",
        host: str = "",
        scope: Scope | None = None,
    ) -> None:
        if isinstance(lines, str):
            lines = lines.splitlines() or [""]
        # One redaction per batch (a command's output comes in thousands of lines at a time). Masking keeps
        # plain lines plain (it only puts REDACTED, printable ASCII, in a secret's place).
        kept: tuple[str, ...]
        if type(lines) is PlainLines:
            kept = lines  # (kept as they came: no copy)
            if self.redactor.active:  # their joined text is searched as it came: no join per line
                masked = self.redactor.joined(lines.joined)
                if masked is not lines.joined:
                    kept = PlainLines.split(masked)
        else:
            kept = tuple(self.redactor.lines(lines))
        event = LogEvent(kind, kept, scope or Scope.parse(source), host)
        for sink in list(self._sinks):
            sink(event)

    def scoped(self, *, source: str = "", host: str = "", scope: Scope | None = None) -> "ScopedEmitter":
        """An emitter for one scope: ``scope=Scope("client", name)``, or its text, ``source="client.NAME"``."""
        return ScopedEmitter(self, scope or Scope.parse(source), host)


@dataclass(slots=True)
class ScopedEmitter:
    """An emitter bound to one step and host, handed to transports and steps."""

    bus: EventBus
    scope: Scope = Scope()
    host: str = ""

    @property
    def source(self) -> str:
        return str(self.scope)

    def __call__(self, kind: EventKind, lines: str | Sequence[str]) -> None:
        self.bus.emit(kind, lines, scope=self.scope, host=self.host)

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
