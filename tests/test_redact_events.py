from __future__ import annotations

from pathlib import Path

from app.events import EventBus, EventKind, MemorySink
from app.redact import REDACTED, Redactor, Secret
from app.runlog import RunLogs


def test_secret_never_shows_itself() -> None:
    secret = Secret("hunter22")
    assert "hunter22" not in repr(secret)
    assert "hunter22" not in str(secret)
    assert "hunter22" not in f"{secret}"
    assert "hunter22" not in f"{secret!r}"
    assert secret.reveal() == "hunter22"


def test_redactor_masks_longest_first() -> None:
    redactor = Redactor()
    redactor.add(Secret("abc"))
    redactor.add("abcdef")
    assert redactor("x abcdef y abc") == f"x {REDACTED} y {REDACTED}"


def test_bus_redacts_before_any_sink(tmp_path: Path) -> None:
    bus = EventBus()
    bus.redactor.add(Secret("s3cr3t-pw"))
    memory = MemorySink()
    file_sink = RunLogs(tmp_path / "logs" / "run")
    bus.subscribe(memory)
    bus.subscribe(file_sink)
    bus.emit(EventKind.STDOUT, ["login with s3cr3t-pw", "plain"], source="t", host="h")
    assert memory.lines() == [f"login with {REDACTED}", "plain"]
    log_path = file_sink.path_for("t", "h")
    text = file_sink.log_text("t", "h")  # (output alone is flushed within FLUSH_SECONDS: log_text flushes now)
    assert text == log_path.read_text()
    assert "s3cr3t-pw" not in text and REDACTED in text
    assert log_path.stat().st_mode & 0o777 == 0o600


def test_render_lines_prefixes_by_kind() -> None:
    bus = EventBus()
    memory = MemorySink()
    bus.subscribe(memory)
    emit = bus.scoped(source="diagnose", host="h")
    emit(EventKind.COMMAND, "docker info")
    emit.warning("port 5000 is taken")
    assert memory.events[0].render_lines() == ["$ docker info"]
    assert memory.events[1].render_lines() == ["warning: port 5000 is taken"]
    assert memory.events[1].source == "diagnose" and memory.events[1].host == "h"


def test_unsubscribe_stops_delivery() -> None:
    bus = EventBus()
    memory = MemorySink()
    unsubscribe = bus.subscribe(memory)
    bus.emit(EventKind.INFO, "one")
    unsubscribe()
    bus.emit(EventKind.INFO, "two")
    assert memory.lines() == ["one"]


def test_batch_redaction_is_line_by_line_redaction() -> None:
    """A batch is masked as one text: exactly as masking each line, never a line more or less."""
    redactor = Redactor()
    for secret in ("s3cret", "s3cret-longer", "a\nb-multiline", "tail!"):
        redactor.add(secret)
    batches = [
        ["plain", "", "no secrets here"],
        ["x s3cret y", "s3cret-longer", "", "tail!tail!", "a", "b-multiline"],
        ["s3cret\r", "ends with s3cre", "t at the start"],
        ["one\nline holding s3cret and a newline", "other"],
    ]
    for batch in batches:
        assert redactor.lines(list(batch)) == [redactor(line) for line in batch]
    assert Redactor().lines(["s3cret"]) == ["s3cret"]


def test_run_log_stamps_every_line_of_a_batch(tmp_path: Path) -> None:
    logs = RunLogs(directory=tmp_path / "run")
    bus = EventBus()
    bus.subscribe(logs)
    bus.emit(EventKind.STDOUT, [f"line {i}" for i in range(1000)] + [""], source="diagnose.x", host="h")
    bus.emit(EventKind.STDOUT, [], source="diagnose.x", host="h")
    text = logs.log_text("diagnose", "h")
    lines = text.splitlines()
    assert len(lines) == 1001 and text.endswith("\n")
    assert all(line.split(" ", 1)[1] == f"line {i}" for i, line in enumerate(lines[:-1]))
    assert lines[-1].endswith(" ") and len(lines[-1].split(" ")[0]) == 8


def test_run_log_writes_plain_batches_as_any_other(tmp_path: Path) -> None:
    """A plain batch (the splitter's text written per chunk, each line stamped in one pass) reads back in the
    log file exactly as the same lines emitted as a list, secrets masked in both."""
    from app.transport.base import LineSplitter

    texts = []
    for plain in (True, False):
        logs = RunLogs(directory=tmp_path / f"run-{plain}")
        bus = EventBus()
        bus.redactor.add("hunter2-pw")
        bus.subscribe(logs)
        data = b"".join(b"line %d hunter2-pw\n" % i if i % 7 == 0 else b"line %d\n" % i for i in range(500)) + b"\n"
        batch = LineSplitter().feed(data)
        bus.emit(EventKind.STDOUT, batch if plain else list(batch), source="diagnose.x", host="h")
        texts.append(logs.log_text("diagnose", "h"))
    plain_text, list_text = texts
    assert [line[9:] for line in plain_text.splitlines()] == [line[9:] for line in list_text.splitlines()]
    assert len(plain_text.splitlines()) == 501 and "hunter2-pw" not in plain_text
    assert plain_text.splitlines()[7].endswith(" line 7 ********")
