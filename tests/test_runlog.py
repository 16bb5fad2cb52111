from __future__ import annotations

from app.events import EventBus, EventKind
from app.redact import Secret
from app.runlog import RunLogs


def test_logs_per_step_and_host_redacted_and_private(regwiz_home) -> None:  # type: ignore[no-untyped-def]
    bus = EventBus()
    bus.redactor.add(Secret("hunter2-secret"))
    logs = RunLogs()
    bus.subscribe(logs)
    assert logs.directory.is_relative_to(regwiz_home)
    bus.scoped(source="diagnose.network", host="10.0.0.5").info("routes read")
    bus.scoped(source="fix.network", host="10.0.0.5")(EventKind.FILE_CHANGED,
                                                       ["/etc/docker/daemon.json", "/var/backups/regwiz/x/etc/docker/daemon.json"])
    bus.scoped(source="deploy", host="10.0.0.5").info("password hunter2-secret")
    bus.scoped(source="client.web1", host="web1")(EventKind.FILE_CHANGED, ["/etc/docker/certs.d/a/ca.crt", "-"])
    names = sorted(p.name for p in logs.directory.iterdir())
    assert names == ["clients--web1.log", "deploy--10.0.0.5.log", "diagnose--10.0.0.5.log"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in logs.directory.iterdir())
    assert "hunter2-secret" not in logs.log_text("deploy", "10.0.0.5")
    report = logs.write_report().read_text()
    assert "`/etc/docker/daemon.json` | `/var/backups/regwiz/x/etc/docker/daemon.json`" in report
    assert "`/etc/docker/certs.d/a/ca.crt` | none: the file was new" in report


def test_two_runs_in_one_second_get_folders_and_reports_of_their_own(regwiz_home, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import app.runlog as runlog

    monkeypatch.setattr(runlog.time, "strftime", lambda fmt, *a: "20250101-120000" if "Y" in fmt else "12:00:00")
    # The random part collides once: the exclusive mkdir must notice and pick another name.
    parts = iter(["aaaaaa", "aaaaaa", "bbbbbb"])
    monkeypatch.setattr(runlog, "_random_part", lambda: next(parts))
    first, second = RunLogs(), RunLogs()
    assert first.directory != second.directory
    assert first.directory.name.startswith("20250101-120000-") and first.directory.name.endswith("-aaaaaa")
    assert second.directory.name.endswith("-bbbbbb")
    assert all(d.stat().st_mode & 0o777 == 0o700 for d in (first.directory, second.directory))
    for logs, word in ((first, "first-run-line"), (second, "second-run-line")):
        bus = EventBus()
        bus.subscribe(logs)
        bus.scoped(source="deploy", host="10.0.0.5").info(word)
    assert "second-run-line" not in first.log_text("deploy", "10.0.0.5")
    assert "first-run-line" not in second.log_text("deploy", "10.0.0.5")
    reports = {first.write_report(), second.write_report()}
    assert len(reports) == 2 and all(r.is_file() for r in reports)


def test_buffered_output_is_on_disk_once_the_command_ends(regwiz_home) -> None:  # type: ignore[no-untyped-def]
    """Output is written through a buffer; the command's exit (any event that is not output) flushes it, so
    a reader of the file itself (not log_text) finds every line of a command that ended."""
    bus = EventBus()
    logs = RunLogs()
    bus.subscribe(logs)
    emit = bus.scoped(source="diagnose.network", host="10.0.0.5")
    emit(EventKind.COMMAND, "ip route")
    emit(EventKind.STDOUT, [f"line {i}" for i in range(5000)])
    emit(EventKind.STDOUT, ["last output line"])
    emit(EventKind.EXIT, "0 (0.01 s)")
    text = logs.path_for("diagnose", "10.0.0.5").read_text()
    assert text.count(" line ") == 5000 and "last output line" in text and text.rstrip().endswith("exit: 0 (0.01 s)")
    assert logs.path_for("diagnose", "10.0.0.5").stat().st_mode & 0o777 == 0o600


def test_output_is_written_in_order_across_the_writers_idle_restarts(regwiz_home, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A command's output goes to its file through a writer thread (app/runlog.py), which ends when idle and
    starts again with the next output: every line reaches the file, in the order emitted, and a step's own
    words (not output) find the output before them on disk."""
    import time

    import app.runlog as runlog

    monkeypatch.setattr(runlog._Writer, "IDLE_SECONDS", 0.05)
    bus = EventBus()
    logs = RunLogs()
    bus.subscribe(logs)
    emit = bus.scoped(source="deploy", host="10.0.0.5")
    expected = []
    for round_ in range(3):
        batch = [f"round {round_} line {i}" for i in range(2000)]
        emit(EventKind.STDOUT, batch)
        expected += batch
        time.sleep(0.2)  # the writer is idle longer than IDLE_SECONDS: it ends, and the next output starts one
    emit(EventKind.INFO, "deployed")
    text = logs.path_for("deploy", "10.0.0.5").read_text()
    lines = [line.split(" ", 1)[1] for line in text.splitlines()]
    assert lines == expected + ["-- deployed"]


def test_a_failed_write_is_raised_to_the_caller(regwiz_home) -> None:  # type: ignore[no-untyped-def]
    """The writer thread's failed write (a full disk: /dev/full) is not lost in the thread: the next event or
    flush raises it in the caller, as a write on the caller's own thread did."""
    import pytest

    bus = EventBus()
    logs = RunLogs()
    bus.subscribe(logs)
    emit = bus.scoped(source="deploy", host="10.0.0.5")
    emit(EventKind.INFO, "starting")
    logs._files[("deploy", "10.0.0.5")] = open("/dev/full", "ab", buffering=0)  # noqa: SIM115 (closed below)
    try:
        emit(EventKind.STDOUT, ["output that cannot be written"])
        with pytest.raises(OSError) as failure:
            logs.flush()
        assert failure.value.errno == 28  # ENOSPC
        logs.flush()  # told once; the next flush has nothing new to say
    finally:
        logs._files[("deploy", "10.0.0.5")].close()
