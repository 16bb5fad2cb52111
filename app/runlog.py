"""Every run's logs, one file per step and host, and a Markdown report of what changed.

Logs live under the state directory (``logs/<time>-<pid>-<random>/``), mode 0600,
and hold only what passed the run's redactor. The folder is created exclusively:
two runs started in the same second each get their own logs and report. The report lists every file changed on
every host with the path of its backup, so a person can undo by hand.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable

from app import paths
from app.events import EventKind, LogEvent, PlainLines

STEP_NAMES = {"credentials": "credentials", "diagnose": "diagnose", "fix": "diagnose", "deploy": "deploy",
              "prove": "deploy", "client": "clients", "onboard": "onboard", "dashboard": "dashboard"}


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]+", "_", text).strip("_") or "local"


def _random_part() -> str:
    """Six hex digits from the OS's random source (what secrets.token_hex(3) returns, without importing
    secrets, and with it hmac and hashlib, at start-up: tests/test_lazy_imports.py)."""
    return os.urandom(3).hex()


def new_run_directory(root: Path | None = None) -> Path:
    """A folder no other run has: the time (sortable), this process's id and a random part, made with
    an exclusive mkdir, so two regwiz runs never share a log file or a report."""
    root = root or paths.log_dir()
    paths.ensure_private_dir(root)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    while True:
        candidate = root / f"{stamp}-{os.getpid()}-{_random_part()}"
        try:
            candidate.mkdir(mode=0o700)  # fails if it exists: never two runs in one folder
        except FileExistsError:
            continue
        return candidate


@dataclass
class FileChangeRecord:
    host: str
    path: str
    backup: str | None
    step: str


@dataclass
class RunLogs:
    """An event sink: appends each event to its step's and host's log file."""

    directory: Path = field(default_factory=new_run_directory)
    changes: list[FileChangeRecord] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    _open: dict[Path, BinaryIO] = field(default_factory=dict, repr=False)  # each log file, opened once
    _files: dict[tuple[str, str], BinaryIO] = field(default_factory=dict, repr=False)  # (scope step, host) -> its file
    _unflushed: set[BinaryIO] = field(default_factory=set, repr=False)  # files holding buffered output (writer's)
    _flushed_at: float = field(default=0.0, repr=False)  # time.monotonic() of the last flush (writer's)
    _writer: "_Writer | None" = field(default=None, repr=False)  # writes a command's output off the event loop

    def __post_init__(self) -> None:
        paths.ensure_private_dir(self.directory.parent)
        paths.ensure_private_dir(self.directory)

    def step_of(self, event: LogEvent) -> str:
        prefix = event.scope.step
        return STEP_NAMES.get(prefix, _safe(prefix) or "regwiz")

    def path_for(self, step: str, host: str) -> Path:
        return self.directory / f"{step}--{_safe(host)}.log"

    #: A command's output is written through a buffer of this size and flushed at least this often, and at
    #: once with any other event (the command line, its exit, a step's words): whoever reads a log after a
    #: command ended finds all of it. A flush per output batch cost a write(2) per few thousand lines.
    BUFFER_BYTES = 1 << 20
    FLUSH_SECONDS = 0.5

    def _file_for(self, event: LogEvent) -> tuple[str, BinaryIO]:
        """The event's step name and log file, opened once per step and host (no path work per event)."""
        key = (event.scope.step, event.host)
        out = self._files.get(key)
        step = self.step_of(event)
        if out is None:
            path = self.path_for(step, event.host)
            out = self._open.get(path)
            if out is None:
                new = not path.exists()
                out = self._open[path] = path.open("ab", buffering=self.BUFFER_BYTES)  # (UTF-8, encoded per event)
                if new:
                    path.chmod(0o600)
            self._files[key] = out
        return step, out

    def __call__(self, event: LogEvent) -> None:
        step, out = self._file_for(event)
        # One write per event, to a file kept open: a command's output arrives in hundreds of events a
        # second, thousands of lines each; the stamp is formatted once and joined in, not per line.
        output = event.kind is EventKind.STDOUT or event.kind is EventKind.STDERR
        lines = event.lines if output else event.render_lines()  # (output is written as it came: no copy)
        if lines:
            head = time.strftime("%H:%M:%S", time.localtime(event.at)) + " "
            if type(lines) is PlainLines:  # the chunk's text as it came, each line stamped in one pass
                text = head + lines.joined.replace("\n", "\n" + head) + "\n"
            else:
                text = head + ("\n" + head).join(lines) + "\n"
            # (a binary file: no text layer's copy, ASCII is copied as it is)
            self._write_later(out, text.encode("utf-8"))
        if not output:
            self.flush()
        if event.kind is EventKind.FILE_CHANGED and event.lines:
            backup = event.lines[1] if len(event.lines) > 1 and event.lines[1] != "-" else None
            self.changes.append(FileChangeRecord(event.host, event.lines[0], backup, step))
        if event.kind is EventKind.STATUS:
            self.outcomes.append(f"{event.host or 'this machine'}: {event.text}")

    def _write_later(self, out: BinaryIO, data: bytes) -> None:
        """Hand ``data`` to the writer thread: a flood's megabytes a second go to the disk's page cache in
        write(2) calls that took a tenth of a second of a 200,000-line command on a loaded machine, and the
        event loop (the screen's keys) need not wait for them. The thread keeps the order of the writes."""
        if self._writer is None:
            self._writer = _Writer(self._write_now, self._flush_now)
        self._writer.put(out, data)

    def _write_now(self, out: BinaryIO, data: bytes) -> None:  # (in the writer thread)
        out.write(data)
        self._unflushed.add(out)
        if time.monotonic() - self._flushed_at >= self.FLUSH_SECONDS:
            self._flush_now()

    def _flush_now(self) -> None:  # (in the writer thread, or in the caller's once the writer stopped)
        for out in self._unflushed:
            out.flush()
        self._unflushed.clear()
        self._flushed_at = time.monotonic()

    def flush(self) -> None:
        """Everything written so far onto the disk's page cache (readable by anyone who opens the file): waits
        for the writer thread to write what it was handed. A write that failed (a full disk) is raised here."""
        if self._writer is not None:
            self._writer.drain()
        else:
            self._flush_now()

    def log_text(self, step: str, host: str) -> str:
        self.flush()
        path = self.path_for(step, host)
        return path.read_text() if path.exists() else ""

    def write_report(self) -> Path:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.stop()  # (everything handed to it written and flushed; a failed write is raised)
        for out in self._open.values():  # the run is over: its logs are complete
            out.close()
        self._open.clear()
        self._files.clear()
        self._unflushed.clear()
        lines = ["# regwiz run report", "",
                 f"Run: regwiz pid {os.getpid()} (each run has its own folder and report)", "",
                 f"Logs: `{self.directory}`", ""]
        lines += ["## Files changed", ""]
        if not self.changes:
            lines.append("No file was changed.")
        else:
            lines += ["| host | step | file | backup (copy it back to undo) |", "| --- | --- | --- | --- |"]
            for c in self.changes:
                backup = f"`{c.backup}`" if c.backup else "none: the file was new (delete it to undo)"
                lines.append(f"| {c.host or 'this machine'} | {c.step} | `{c.path}` | {backup} |")
        lines += ["", "## Steps", ""] + [f"- {o}" for o in self.outcomes[-200:]]
        report = self.directory / "report.md"
        report.write_text("\n".join(lines) + "\n")
        report.chmod(0o600)
        return report


class _Writer:
    """A thread that writes a run's log output in the order it was handed over, and flushes on request. It
    ends once idle for ``IDLE_SECONDS`` (flushing first) and starts again with the next output."""

    IDLE_SECONDS = 2.0

    def __init__(self, write: Callable[[BinaryIO, bytes], None], flush: Callable[[], None]) -> None:
        self._write, self._flush = write, flush
        self._items: list[tuple[BinaryIO, bytes] | threading.Event] = []
        self._ready = threading.Condition()
        self._running = False  # a thread serves the items (under _ready)
        self._failed: BaseException | None = None
        # At exit (the app closed without its report), what was handed over still reaches the files.
        self._at_exit = functools.partial(_drain_at_exit, weakref.ref(self))
        atexit.register(self._at_exit)

    def put(self, out: BinaryIO, data: bytes) -> None:
        self._raise_failure()
        self._hand((out, data))

    def drain(self) -> None:
        """Wait until everything handed over is written and flushed; a write that failed is raised."""
        with self._ready:
            idle = not self._running and not self._items
        if not idle:
            done = threading.Event()
            self._hand(done)
            done.wait()
        self._raise_failure()

    def stop(self) -> None:
        """Drain, and no more at exit (the run's report closes the files)."""
        atexit.unregister(self._at_exit)
        self.drain()

    def _hand(self, item: "tuple[BinaryIO, bytes] | threading.Event") -> None:
        with self._ready:
            self._items.append(item)
            if self._running:
                self._ready.notify()
                return
            self._running = True
        threading.Thread(target=self._run, name="regwiz-run-log", daemon=True).start()

    def _raise_failure(self) -> None:
        if self._failed is not None:
            failed, self._failed = self._failed, None
            raise failed

    def _run(self) -> None:
        while True:
            with self._ready:
                if not self._items:
                    self._ready.wait(self.IDLE_SECONDS)
                if not self._items:
                    self._flush_safely()  # (under the lock: a new item waits for it, then starts a thread)
                    self._running = False
                    return
                items, self._items = self._items, []
            for item in items:
                if isinstance(item, threading.Event):
                    self._flush_safely()
                    item.set()
                elif self._failed is None:  # after a failure nothing more is written; the caller is told
                    try:
                        self._write(*item)
                    except BaseException as exc:  # noqa: BLE001 (raised again in the caller's thread)
                        self._failed = exc

    def _flush_safely(self) -> None:
        try:
            self._flush()
        except BaseException as exc:  # noqa: BLE001
            self._failed = self._failed or exc


def _drain_at_exit(ref: "weakref.ref[_Writer]") -> None:
    writer = ref()
    if writer is not None:
        try:
            writer.drain()
        except OSError:
            pass  # (exiting: nowhere left to say it)
