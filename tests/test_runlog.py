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
