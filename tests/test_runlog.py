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
