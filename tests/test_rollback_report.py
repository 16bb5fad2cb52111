"""A rollback is reported as done only once it is checked (run_step's verify_rollback).

On this machine: files that are not their backups again, and a daemon that no longer answers, make
the step FAILED with what state the host is in and what to do. On a real SysV client whose dockerd
cannot start with either settings: FAILED, saying dockerd is down, never "as it was before".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.clients.configure import ClientSpec, configure_clients
from app.clients.model import ClientKind, RegistryTarget
from app.dockerd import DockerService
from app.events import EventBus, EventKind, LogEvent
from app.remote_files import FileChange
from app.steps import Outcome, Plan, Status, Step, StepContext, run_step
from app.transport import Transport
from app.transport.local import LocalTransport
from tests.sshutil import root_by_password
from tests.testbed.hosts import TestHost


class _FailingWrite(Step):
    """Writes a file, then never verifies; ``undo`` says how far its rollback goes."""

    title = "write and fail"

    def __init__(self, path: Path, undo: str = "restore") -> None:
        self.path, self.undo = path, undo

    async def plan(self, ctx: StepContext) -> Plan:
        old = self.path.read_text() if self.path.exists() else None
        # the user's own files and backups (HOME is the test's)
        return Plan("write", changes=[FileChange(str(self.path), old, "new text\n")], files_sudo=False)

    async def apply(self, ctx: StepContext, plan: Plan) -> None:
        for change in plan.changes:
            await ctx.files.write(change)

    async def verify(self, ctx: StepContext) -> str | None:
        return "the service did not like the new text"

    async def rollback(self, ctx: StepContext) -> None:
        if self.undo == "restore":
            await ctx.files.restore_all()
        elif self.undo == "half":  # restored, then changed again by something the step started
            await ctx.files.restore_all()
            self.path.write_text("old text, almost\n")


class _DownService(DockerService):
    """A daemon that answered before the step and never again (no real dockerd on this machine)."""

    def __init__(self) -> None:
        super().__init__("sysv")
        self.calls = 0

    async def answers(self, transport: Transport) -> bool:
        self.calls += 1
        return self.calls == 1

    async def wait_until_answering(self, transport: Transport, wait: float) -> bool:
        return await self.answers(transport)


class _RestartsDaemon(_FailingWrite):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.service = _DownService()


async def _yes(plan: Plan) -> bool:
    return True


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))  # backups and the lock go to the test's own folder
    return tmp_path


async def test_a_checked_rollback_is_reported_as_rolled_back(home: Path) -> None:
    target = home / "app.conf"
    target.write_text("old text\n")
    async with LocalTransport() as t:
        result = await run_step(_FailingWrite(target), StepContext(t, EventBus().scoped(source="x")), _yes)
    assert result.outcome is Outcome.ROLLED_BACK, result.message
    assert result.message.endswith("Rolled back: the host is as it was before.")
    assert target.read_text() == "old text\n"


@pytest.mark.parametrize("undo, existed, word", [("none", True, "differs"), ("half", True, "differs"),
                                                  ("none", False, "still there")])
async def test_a_rollback_that_left_files_changed_is_a_failure(home: Path, undo: str, existed: bool,
                                                               word: str) -> None:
    target = home / "app.conf"
    if existed:
        target.write_text("old text\n")
    bus = EventBus()
    seen: list[LogEvent] = []
    bus.subscribe(seen.append)
    async with LocalTransport() as t:
        result = await run_step(_FailingWrite(target, undo), StepContext(t, bus.scoped(source="x")), _yes)
    assert result.outcome is Outcome.FAILED, result.message
    assert "as it was before" not in result.message
    assert result.message.startswith("the service did not like the new text. The rollback did not restore")
    assert f"{word}: {target}" in result.message
    assert ("cp -a " if existed else f"rm {target}") in result.message  # what to do by hand
    warnings = [" ".join(e.render_lines()) for e in seen if e.kind is EventKind.WARNING]
    assert not any("as it was before" in w for w in warnings), warnings


async def test_a_daemon_down_after_the_rollback_is_a_failure_saying_what_to_do(home: Path) -> None:
    target = home / "docker.conf"
    target.write_text("old text\n")
    step = _RestartsDaemon(target)
    async with LocalTransport() as t:
        result = await run_step(step, StepContext(t, EventBus().scoped(source="x")), _yes)
        label = t.label
    assert result.outcome is Outcome.FAILED, result.message
    assert target.read_text() == "old text\n"  # the files were restored; the daemon still does not run
    assert f"dockerd does not run with them either: it is down on {label}" in result.message
    assert "`/var/log/docker.log`" in result.message and "`sudo /etc/init.d/docker start`" in result.message
    assert "as it was before" not in result.message


async def test_sysv_dockerd_that_starts_with_neither_settings_is_reported_down(  # type: ignore[no-untyped-def]
        fresh_host, tmp_path: Path) -> None:
    host: TestHost = fresh_host("sysv_client")
    before = host.exec("cat", "/etc/default/docker").stdout
    # A daemon.json edited by hand and never applied: dockerd runs on, but no longer starts with it.
    # regwiz's change goes to DOCKER_OPTS, so the restore cannot fix this; dockerd is down afterwards.
    shown = host.exec("cat", "/etc/docker/daemon.json", check=False)
    config = json.loads(shown.stdout) if shown.returncode == 0 and shown.stdout.strip() else {}
    config["storage-driver"] = "regwiz-no-such-driver"
    host.exec("sh", "-c", "mkdir -p /etc/docker && cat > /etc/docker/daemon.json", input=json.dumps(config))
    assert host.exec("docker", "info", "--format", "{{.ID}}", check=False).returncode == 0  # still up, for now
    registry = RegistryTarget("203.0.113.7", 5000, tls=False, ca_pem=None)

    async def confirm_all(plans: list[tuple[str, Plan]]) -> bool:
        return True

    spec = ClientSpec(f"root@{host.address}", lambda: root_by_password(host, tmp_path), ClientKind.SYSV)
    bus = EventBus()
    seen: list[LogEvent] = []
    bus.subscribe(seen.append)
    [result] = await configure_clients([spec], registry, bus, confirm_all)
    assert result.status is Status.FAILURE, result.message
    assert "dockerd did not come back" in result.message  # why the step failed
    assert f"dockerd does not run with them either: it is down on root@{host.address}" in result.message
    assert "/etc/init.d/docker start" in result.message and "/var/log/docker.log" in result.message
    assert "as it was before" not in result.message
    lines = [" ".join(e.render_lines()) for e in seen]
    assert not any("the host is as it was before" in line for line in lines)
    assert any("did not come back with the old settings either" in line for line in lines)
    # The files were restored, and dockerd is really down: the message told the truth.
    assert host.exec("cat", "/etc/default/docker").stdout == before
    assert host.exec("docker", "info", "--format", "{{.ID}}", check=False).returncode != 0
    print(result.message)
