"""containerd 2's fault cases on a real 2.1.9 node (sid): an ignored setting, a session lost mid-restart.

A setting containerd 2 ignores is a failure, rolled back.

The old bug, reproduced inside this test process: the planner reads sid's
version 3 config.toml as if it were version 2, so the clients step writes the
1.x table ``[plugins."io.containerd.grpc.v1.cri".registry] config_path`` into
it. containerd 2.1.9 starts with it and logs "Ignoring unknown key in TOML for
plugin ... key=registry plugin=io.containerd.grpc.v1.cri" (REFERENCE.md, seen
here); the CRI images plugin's config_path stays ''. Before the fix that was
reported ok (ctr's --hosts-dir pulls without config_path). Now the step must
fail quoting containerd's own log line, put config.toml back byte for byte,
bring containerd back, and the client must not be reported done.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from app.clients import runtimes
from app.clients.model import ClientKind, RegistryTarget
from app.clients.runtimes import ContainerdTrustStep
from app.events import EventBus, EventKind, LogEvent
from app.steps import Outcome, Plan, Status, StepContext, run_step
from tests.sshutil import root_by_password
from tests.test_clients_testbed import run_all, spec
from tests.test_session_loss_testbed import SessionKiller
from tests.testbed.hosts import TestHost

CONFIG = "/etc/containerd/config.toml"


def _images_config_path(host: TestHost) -> object:
    dump = tomllib.loads(host.exec("containerd", "config", "dump").stdout)
    return dump["plugins"]["io.containerd.cri.v1.images"]["registry"].get("config_path")


async def test_a_table_containerd_2_ignores_fails_and_is_rolled_back(
        fresh_host, tls_registry: RegistryTarget, tmp_path: Path,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    host: TestHost = fresh_host("containerd_node@sid")  # containerd 2.1.9, its own default config (version 3)
    assert "version = 3" in host.exec("cat", CONFIG).stdout
    before = host.exec("sha256sum", CONFIG).stdout
    before_text = host.exec("cat", CONFIG).stdout
    path_before = _images_config_path(host)
    log_size = int(host.sh("wc -c < /var/log/containerd.log").stdout)

    # The old planner: every file in the 1.x layout (version 2's table), whatever its version says.
    monkeypatch.setattr(runtimes, "config_version", lambda text, major: 2)
    results, confirmed, sink = await run_all([spec(host, tmp_path)], tls_registry)
    [result] = results

    # What the step planned is the old bug's change, so the test proves what it claims.
    [diff] = [plan.diff() for _, plan in confirmed[0] if CONFIG in plan.diff()]
    assert '[plugins."io.containerd.grpc.v1.cri".registry]' in diff or \
        "[plugins.'io.containerd.grpc.v1.cri'.registry]" in diff, diff

    # Not done, and no pull was tried.
    assert (result.status, result.kind) == (Status.FAILURE, ClientKind.CONTAINERD), result.message
    assert result.pull_seconds is None
    log = "\n".join(sink.lines())
    assert "ctr images pull" not in log
    # The failure quotes containerd's own words, as its log holds them (the file its SysV script writes).
    logged = host.sh(f"tail -c +{log_size + 1} /var/log/containerd.log").stdout.splitlines()
    ignored = [line for line in logged if runtimes.IGNORED_KEY in line]
    assert ignored and "plugin=io.containerd.grpc.v1.cri" in ignored[0], logged[-20:]
    assert "containerd ignored a setting: " in result.message, result.message
    quote = result.message.split("containerd ignored a setting: ", 1)[1].split(". Rolled back", 1)[0]
    assert runtimes.IGNORED_KEY in quote and any(quote in line for line in ignored), (quote, ignored)
    assert "Rolled back: the host is as it was before" in result.message

    # The host as it was: config.toml byte for byte, no hosts.toml left, containerd running, same config_path.
    assert host.exec("sha256sum", CONFIG).stdout == before
    assert host.exec("cat", CONFIG).stdout == before_text
    left = host.sh(f"ls -A /etc/containerd/certs.d/{tls_registry.address} 2>/dev/null", check=False).stdout
    assert left.split() == [], left  # hosts.toml and ca.crt gone (the empty folder the write made stays)
    assert host.exec("ctr", "version", check=False).returncode == 0
    assert host.exec("/etc/init.d/containerd", "status", check=False).returncode == 0
    assert _images_config_path(host) == path_before
    assert not path_before  # containerd's default: '' (unset)


class _KillAtRestart(SessionKiller):
    """Kills the SSH session `delay` s into the step's restart of containerd (stop done, start under way)."""

    def __call__(self, event: LogEvent) -> None:
        if event.kind is EventKind.COMMAND and self.applying and "restart" in event.text and "containerd" in event.text:
            self.k = self.count + 1  # this command, whichever its index
        super().__call__(event)


async def _yes(plan: Plan) -> bool:
    return True


async def test_session_killed_while_containerd_2_restarts_then_run_again(
        fresh_host, tls_registry: RegistryTarget, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The session-loss cases (tests/test_session_loss_testbed.py) on containerd 2: the version 3
    # config and the SysV restart of sid, where the kill lands as containerd is stopped and started.
    host: TestHost = fresh_host("containerd_node@sid")
    async with root_by_password(host, tmp_path) as t:
        bus = EventBus()
        killer = _KillAtRestart(host, 10**6, 0.1)
        bus.subscribe(killer)
        first = await run_step(ContainerdTrustStep(tls_registry), StepContext(t, bus.scoped(source="fault")), _yes)
        if killer.task is not None:
            await killer.task
        assert killer.killed_during is not None and "restart" in killer.killed_during, killer.killed_during
        assert killer.matched, "no sshd session process matched the kill"
        assert first.outcome in (Outcome.FAILED, Outcome.ROLLED_BACK), (first.outcome, first.message)
        assert "connection" in first.message and "lost" in first.message, first.message
        assert not host.sh("find /etc/containerd -name '*.regwiz-tmp.*' -o -name '*.regwiz-restore'").stdout.strip()
        tomllib.loads(host.exec("cat", CONFIG).stdout)  # whole, never truncated
        # Again, on the same transport: it reconnects, and the step completes with containerd running.
        again = await run_step(ContainerdTrustStep(tls_registry), StepContext(t, EventBus().scoped(source="again")),
                               _yes)
        assert again.outcome in (Outcome.APPLIED, Outcome.NOTHING_TO_DO), again.message
    assert host.exec("ctr", "version", check=False).returncode == 0, "containerd does not answer"
    assert _images_config_path(host) == "/etc/containerd/certs.d"
    assert "Ignoring unknown key" not in host.exec("cat", "/var/log/containerd.log").stdout
