"""One regwiz run at a time changes a host (app/hostlock.py), on real hosts and on this machine.

Two real `regwiz deploy --yes` half a second apart: one deploys, the other waits and stops naming it;
a run killed with SIGKILL while it holds a host leaves no lock behind; diagnosis never waits; the
mkdir fallback (a host without flock) clears the lock of a dead holder.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app import hostlock
from app.events import EventBus, EventKind, LogEvent
from app.remote_files import FileChange
from app.steps import Outcome, Plan, Step, StepContext, run_step
from app.transport.local import LocalTransport
from tests.cli_helpers import ROOT, json_lines, registry_profile, regwiz
from tests.sshutil import root_by_password
from tests.testbed.hosts import TestHost

INFO = "/run/lock/regwiz.lock.info"


def _start(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """A real `regwiz` process (its pid is regwiz's own: the lock names it)."""
    return subprocess.Popen([sys.executable, "-m", "app", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, cwd=ROOT, env=env)


def _wait_for_info(host: TestHost, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        shown = host.exec("cat", INFO, check=False)
        if shown.returncode == 0 and "pid=" in shown.stdout:
            return shown.stdout
        time.sleep(0.2)
    raise AssertionError(f"no regwiz run took the lock on {host.name} within {seconds:g} s")


def _events(bus: EventBus) -> list[LogEvent]:
    seen: list[LogEvent] = []
    bus.subscribe(seen.append)
    return seen


@pytest.mark.parametrize("wait", ["1", "60"])
async def test_two_deploys_half_a_second_apart(wait: str, fresh_host, cli_env: dict[str, str],  # type: ignore[no-untyped-def]
                                               regwiz_home: Path) -> None:
    """With a wait shorter than the first run, the second stops naming it (exit 1); with a longer one,
    it takes the host once the first is done, plans again and finds nothing left to do (exit 0)."""
    server: TestHost = fresh_host("ecs")
    cli_env[hostlock.LOCK_WAIT_ENV] = wait
    regwiz_home.mkdir(parents=True, exist_ok=True)
    profile = registry_profile(regwiz_home, server, cli_env)
    args = ("deploy", "--profile", str(profile), "--yes", "--json")
    first = _start(*args, env=cli_env)
    time.sleep(0.5)
    second = _start(*args, env=cli_env)
    try:
        info = await asyncio.to_thread(_wait_for_info, server, 60)
        # Read-only diagnosis while a deploy holds the host: never waits, never names the lock.
        started = time.monotonic()
        diagnosed = await asyncio.to_thread(regwiz, "diagnose", "--profile", str(profile), "--json", env=cli_env,
                                            timeout=120)
        diagnose_seconds = time.monotonic() - started
        outputs = [(p, *p.communicate(timeout=600)) for p in (first, second)]
    finally:
        for p in (first, second):
            if p.poll() is None:
                p.kill()
    assert diagnosed.returncode in (0, 1) and "another regwiz run" not in diagnosed.stdout + diagnosed.stderr
    assert [o for o in json_lines(diagnosed.stdout) if o["type"] == "check"], diagnosed.stdout[-2000:]
    print(f"diagnose while a deploy held the host: {diagnose_seconds:.1f} s")

    # The holder is the run whose pid the lock's info file named.
    holder = next(o for o in outputs if f"pid={o[0].pid}" in info)
    other = next(o for o in outputs if o is not holder)
    (h_proc, h_out, h_err), (o_proc, o_out, o_err) = holder, other
    assert h_proc.returncode == 0, h_out[-3000:] + h_err
    proofs = [o for o in json_lines(h_out) if o["type"] == "proof"]
    assert proofs and all(p["status"] == "ok" for p in proofs), h_out[-3000:]
    code = server.exec("curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1:5000/v2/").stdout
    assert code == "401"
    assert server.exec("docker", "inspect", "-f", "{{.State.Running}}", "registry").stdout.strip() == "true"
    assert server.exec("test", "-e", INFO, check=False).returncode != 0  # released at the end of the runs

    # Each run has a log folder and a report of its own; only the holder changed files.
    def report_of(out: str) -> Path:
        return Path(next(o for o in json_lines(out) if o["type"] == "report")["path"])

    h_report, o_report = report_of(h_out), report_of(o_out)
    assert h_report.parent != o_report.parent and h_report.is_file() and o_report.is_file()
    h_logs = "".join(p.read_text() for p in h_report.parent.glob("*.log"))
    o_logs = "".join(p.read_text() for p in o_report.parent.glob("*.log"))
    assert f"waiting up to {wait} s" in o_logs and "waiting up to" not in h_logs
    assert "`/etc/regwiz/registry/auth/htpasswd`" in h_report.read_text()
    assert "No file was changed." in o_report.read_text()

    if wait == "60":
        assert o_proc.returncode == 0, o_out[-3000:] + o_err
        taken = re.search(r"took the lock on \S+ after ([\d.]+) s", o_logs)
        assert taken and "planning again" in o_logs and "nothing to do" in o_logs, o_logs[-3000:]
        print(f"the second run waited {float(taken.group(1)):.1f} s, then planned again: nothing to do")
        return
    assert o_proc.returncode == 1, o_out[-3000:] + o_err
    # It says who holds the host: user@machine, regwiz's pid, where from, since when; and what to do.
    message = o_err.strip().splitlines()[-1]
    assert message.startswith(f"regwiz: another regwiz run is changing root@{server.address}: "), message
    assert f"@{socket.gethostname()} (`regwiz deploy`, pid {h_proc.pid}), from {socket.gethostname()}" in message
    assert re.search(r"since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", message), message
    assert "Run again once it has finished" in message and hostlock.LOCK_WAIT_ENV in message
    waited = float(re.search(r"Waited ([\d.]+) s", message).group(1))  # type: ignore[union-attr]
    assert 1 <= waited < 3, message
    assert o_err.count("regwiz: ") == 1 and "Traceback" not in o_err
    print(f"the second run waited {waited:.1f} s, then stopped: {message}")


async def test_lock_of_a_killed_run_is_cleared(fresh_host, cli_env: dict[str, str], regwiz_home: Path,  # type: ignore[no-untyped-def]
                                               tmp_path: Path) -> None:
    server: TestHost = fresh_host("ecs")
    regwiz_home.mkdir(parents=True, exist_ok=True)
    profile = registry_profile(regwiz_home, server, cli_env)
    run = _start("deploy", "--profile", str(profile), "--yes", "--json", env=cli_env)
    try:
        info = await asyncio.to_thread(_wait_for_info, server, 60)
        # Into the deploy itself (the upload of the registry image), not only the diagnosis's fix.
        deadline, uploading = time.monotonic() + 60, False
        while time.monotonic() < deadline and run.poll() is None and not uploading:
            uploading = bool(server.sh("pgrep -f '[d]ocker load' || true").stdout.strip())
        assert run.poll() is None, "the run ended before it could be killed"
        print(f"killed {'during the image upload' if uploading else 'while it held the lock'}")
        run.send_signal(signal.SIGKILL)
        run.wait(10)
    finally:
        if run.poll() is None:
            run.kill()
    assert f"pid={run.pid}" in info
    killed_at = time.monotonic()
    async with root_by_password(server, tmp_path) as t:
        lock = hostlock.HostLock(t)
        waited = await lock.acquire(EventBus().scoped(source="test"), wait=30)
        took = time.monotonic() - killed_at
        assert lock.held
        holder = server.exec("cat", INFO).stdout
        assert f"pid={os.getpid()}" in holder and f"pid={run.pid}" not in holder
        await lock.release()
    print(f"the lock of the killed run was free {took:.2f} s after SIGKILL (waited: {waited})")
    assert took < 5, took
    # A new run takes the host at once (no wait allowed) and finishes the deploy.
    cli_env[hostlock.LOCK_WAIT_ENV] = "0"
    again = await asyncio.to_thread(regwiz, "deploy", "--profile", str(profile), "--yes", "--json", env=cli_env)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr
    assert "another regwiz run" not in again.stdout + again.stderr


async def test_without_flock_the_mkdir_lock_names_its_holder_and_a_dead_one_is_cleared(  # type: ignore[no-untyped-def]
        fresh_host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host: TestHost = fresh_host("bare")
    host.sh("for f in $(command -v flock); do mv \"$f\" \"$f.hidden\"; done")
    assert host.sh("command -v flock || true").stdout.strip() == ""
    bus = EventBus()
    seen = _events(bus)
    async with root_by_password(host, tmp_path) as a, root_by_password(host, tmp_path) as b:
        first = hostlock.HostLock(a)
        assert await first.acquire(bus.scoped(source="a"), wait=0) is False
        assert first.path.endswith("regwiz.lock") and first.held
        pid = host.exec("cat", "/run/lock/regwiz.lock.d/pid").stdout.strip()
        assert "pid=" in host.exec("cat", "/run/lock/regwiz.lock.d/info").stdout
        monkeypatch.setattr(hostlock, "RUN_TOKEN", "another-run")  # b stands for a second regwiz
        second = hostlock.HostLock(b)
        started = time.monotonic()
        with pytest.raises(hostlock.HostBusy) as busy:
            await second.acquire(bus.scoped(source="b"), wait=1.5)
        assert 1.5 <= time.monotonic() - started < 4
        assert f"pid {os.getpid()}" in str(busy.value) and socket.gethostname() in str(busy.value)
        # The holder dies without cleaning up (SIGKILL): its directory stays, naming a dead pid.
        host.exec("kill", "-KILL", pid)
        assert host.exec("test", "-d", "/run/lock/regwiz.lock.d", check=False).returncode == 0
        started = time.monotonic()
        assert await second.acquire(bus.scoped(source="b"), wait=5) is False
        print(f"mkdir lock of a dead holder cleared in {time.monotonic() - started:.2f} s")
        assert any("cleared a lock left by a dead run" in " ".join(e.render_lines()) for e in seen)
        new_pid = host.exec("cat", "/run/lock/regwiz.lock.d/pid").stdout.strip()
        assert new_pid != pid
        await second.release()
        await first.release()
    assert host.exec("test", "-e", "/run/lock/regwiz.lock.d", check=False).returncode != 0


# -- this machine (the local transport), in a folder of the test's own --------------------------------

class _WriteStep(Step):
    """Writes one file; counts its plans (a run that waited must plan again)."""

    title = "write a file"

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.text, self.plans = path, text, 0

    async def plan(self, ctx: StepContext) -> Plan:
        self.plans += 1
        old = self.path.read_text() if self.path.exists() else None
        return Plan("write", changes=[FileChange(str(self.path), old, self.text)], files_sudo=False)

    async def apply(self, ctx: StepContext, plan: Plan) -> None:
        for change in plan.changes:
            await ctx.files.write(change)

    async def verify(self, ctx: StepContext) -> str | None:
        return None


async def test_local_lock_waits_plans_again_and_names_the_holder(tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # the user's own lock folder and backups: the test's
    target = tmp_path / "file.conf"
    async with LocalTransport() as holder_t, LocalTransport() as t:
        holder = hostlock.HostLock(holder_t, sudo=False)
        await holder.acquire(None, wait=0)
        assert (tmp_path / ".local/state/regwiz/regwiz.lock.info").is_file()
        monkeypatch.setattr(hostlock, "RUN_TOKEN", "another-run")
        monkeypatch.setenv(hostlock.LOCK_WAIT_ENV, "1")
        bus = EventBus()
        seen = _events(bus)
        busy = await run_step(_WriteStep(target, "mine\n"), StepContext(t, bus.scoped(source="x")), _yes)
        assert busy.outcome is Outcome.FAILED and busy.busy and not target.exists()
        assert f"pid {os.getpid()}" in busy.message and "Run again once it has finished" in busy.message
        # The holder finishes (and changed the file meanwhile): the waiting run plans again and confirms that plan.
        monkeypatch.setenv(hostlock.LOCK_WAIT_ENV, "10")

        async def finish_holder() -> None:
            await asyncio.sleep(1)
            target.write_text("theirs\n")
            await holder.release()

        step = _WriteStep(target, "mine\n")
        confirmed: list[Plan] = []

        async def confirm(plan: Plan) -> bool:
            confirmed.append(plan)
            return True

        finishing = asyncio.ensure_future(finish_holder())
        result = await run_step(step, StepContext(t, bus.scoped(source="x")), confirm)
        await finishing
        assert result.outcome is Outcome.APPLIED, result.message
        assert step.plans == 2 and [p.changes[0].old for p in confirmed] == [None, "theirs\n"]
        assert target.read_text() == "mine\n"
        assert any("planning again" in " ".join(e.render_lines()) for e in seen if e.kind is EventKind.INFO)
        assert t.host_lock is not None and not t.host_lock.held  # each TUI step lets the host go at its end
        assert not (tmp_path / ".local/state/regwiz/regwiz.lock.info").exists()


async def test_a_second_connection_of_the_same_run_does_not_wait_for_itself(tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    async with LocalTransport() as one, LocalTransport() as two:
        first = hostlock.HostLock(one, sudo=False)
        await first.acquire(None, wait=0)
        second = hostlock.HostLock(two, sudo=False)
        started = time.monotonic()
        assert await second.acquire(None, wait=5) is False and second.shared
        assert time.monotonic() - started < 2
        await second.release()
        await first.release()


async def _yes(plan: Plan) -> bool:
    return True
