"""Every run's logs, one file per step and host, and a Markdown report of what changed.

Logs live under the state directory (``logs/<time>-<pid>-<random>/``), mode 0600,
and hold only what passed the run's redactor. The folder is created exclusively:
two runs started in the same second each get their own logs and report. The report lists every file changed on
every host with the path of its backup, so a person can undo by hand.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import queue

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


class _Writer:
    """One thread that writes a run's log files, in the order the events came.

    A flood of output is megabytes a second of log; the kernel's part of each write(2) (page cache, the file
    system's allocation) took 10-80 ms per 15 MB here, all of it on the event loop, where a key press waits.
    In this thread the write runs beside the loop (write(2) releases the GIL). Writes are handed over
    ``HAND_OVER_BYTES`` at a time (each hand-over wakes the thread, which then takes the GIL), and at every
    flush. ``wait`` returns once every write so far is done, and raises the first error any of them met.
    """

    HAND_OVER_BYTES = 1 << 20
    _Jobs = list[tuple[BinaryIO, bytes | None]]

    def __init__(self) -> None:
        self._queue: "queue.SimpleQueue[_Writer._Jobs | threading.Event] | None" = None
        self._held: _Writer._Jobs = []
        self._held_bytes = 0
        self._error: BaseException | None = None

    def write(self, out: BinaryIO, data: bytes | None) -> None:
        """``out.write(data)`` in the thread (``data`` None: ``out.flush()``, handed over at once)."""
        self._held.append((out, data))
        if data is None:
            self._hand_over()
        else:
            self._held_bytes += len(data)
            if self._held_bytes >= self.HAND_OVER_BYTES:
                self._hand_over()

    def _hand_over(self) -> None:
        if not self._held:
            return
        if self._queue is None:
            import queue  # (at the first write, not at start-up)

            self._queue = queue.SimpleQueue()
            # A daemon: it never holds up the exit. Every command's end waits for its writes (``wait``).
            threading.Thread(target=self._work, args=(self._queue,), name="regwiz-run-logs", daemon=True).start()
        jobs, self._held, self._held_bytes = self._held, [], 0
        self._queue.put(jobs)

    def _work(self, queue: "queue.SimpleQueue[_Writer._Jobs | threading.Event]") -> None:
        while True:
            jobs = queue.get()
            if isinstance(jobs, threading.Event):
                jobs.set()
                continue
            for out, data in jobs:
                try:
                    if data is None:
                        out.flush()
                    else:
                        out.write(data)
                except BaseException as exc:  # noqa: BLE001 - raised again by wait(), on the loop's side
                    self._error = self._error or exc

    def wait(self) -> None:
        self._hand_over()
        if self._queue is not None:
            done = threading.Event()
            self._queue.put(done)
            done.wait()
        if self._error is not None:
            error, self._error = self._error, None
            raise error


@dataclass
class RunLogs:
    """An event sink: appends each event to its step's and host's log file."""

    directory: Path = field(default_factory=new_run_directory)
    changes: list[FileChangeRecord] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    _open: dict[Path, BinaryIO] = field(default_factory=dict, repr=False)  # each log file, opened once
    _files: dict[tuple[str, str], BinaryIO] = field(default_factory=dict, repr=False)  # (scope step, host) -> its file
    _unflushed: set[BinaryIO] = field(default_factory=set, repr=False)  # files holding buffered output
    _flushed_at: float = field(default=0.0, repr=False)  # time.monotonic() of the last flush
    _writer: _Writer = field(default_factory=_Writer, repr=False)  # output's writes, off the event loop
    _stamped_at: int = field(default=-1, repr=False)  # the second _stamp shows
    _stamp: str = field(default="", repr=False)  # "HH:MM:SS ", each line's stamp in the files

    def __post_init__(self) -> None:
        paths.ensure_private_dir(self.directory.parent)
        paths.ensure_private_dir(self.directory)

    def step_of(self, event: LogEvent) -> str:
        prefix = event.scope.step
        return STEP_NAMES.get(prefix, _safe(prefix) or "regwiz")

    def path_for(self, step: str, host: str) -> Path:
        return self.directory / f"{step}--{_safe(host)}.log"

    #: A command's output is written through a buffer of this size (by the writer thread) and flushed at least
    #: this often, and at once with any other event (the command line, its exit, a step's words), which also
    #: waits for the thread: whoever reads a log after a command ended finds all of it. A flush per output
    #: batch cost a write(2) per few thousand lines.
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
            second = int(event.at)
            if second != self._stamped_at:  # (formatted once a second, not once per batch)
                self._stamped_at, self._stamp = second, time.strftime("%H:%M:%S", time.localtime(second)) + " "
            head = self._stamp
            if type(lines) is PlainLines:
                # The chunk's text as it came (ASCII: encoded by a copy), each line stamped in one pass over its
                # bytes (bytes.replace is several times faster than str.replace here).
                stamp = head.encode("ascii")
                data = stamp + lines.joined.encode("ascii").replace(b"\n", b"\n" + stamp) + b"\n"
            else:
                data = (head + ("\n" + head).join(lines) + "\n").encode("utf-8")
            self._writer.write(out, data)  # (a binary file, no text layer's copy; written in the writer's thread)
            self._unflushed.add(out)
        if not output:
            self.flush()  # (and waits for the writer: the file holds the event once this returns)
        elif time.monotonic() - self._flushed_at >= self.FLUSH_SECONDS:
            self.flush(wait=False)  # (the writer flushes after what it holds: the loop goes on)
        if event.kind is EventKind.FILE_CHANGED and event.lines:
            backup = event.lines[1] if len(event.lines) > 1 and event.lines[1] != "-" else None
            self.changes.append(FileChangeRecord(event.host, event.lines[0], backup, step))
        if event.kind is EventKind.STATUS:
            self.outcomes.append(f"{event.host or 'this machine'}: {event.text}")

    def flush(self, wait: bool = True) -> None:
        """Everything written so far onto the disk's page cache (readable by anyone who opens the file), once
        this returns (``wait``) or soon after (the writer's thread flushes after the writes it holds)."""
        for out in self._unflushed:
            self._writer.write(out, None)
        self._unflushed.clear()
        if wait:
            self._writer.wait()
        self._flushed_at = time.monotonic()

    def log_text(self, step: str, host: str) -> str:
        self.flush()
        path = self.path_for(step, host)
        return path.read_text() if path.exists() else ""

    def write_report(self) -> Path:
        self._writer.wait()
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
