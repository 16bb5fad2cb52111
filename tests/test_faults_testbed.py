"""Faults on real hosts: a full disk and a killed session leave every file whole."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.events import EventBus
from app.remote_files import FileChange
from app.steps import StepContext
from app.transport import TransportError
from tests.sshutil import root_by_password
from tests.testbed.hosts import TestHost


async def test_full_disk_keeps_the_original_file(ecs: TestHost, tmp_path: Path) -> None:
    ecs.sh("mkdir -p /mnt/small && mount -t tmpfs -o size=16k tmpfs /mnt/small && "
           "printf 'original\\n' > /mnt/small/daemon.json")
    try:
        async with root_by_password(ecs, tmp_path) as t:
            ctx = StepContext(t, EventBus().scoped(source="fault"))
            with pytest.raises(TransportError):
                await ctx.files.write(FileChange("/mnt/small/daemon.json", "original\n", "x" * 200_000))
        assert ecs.exec("cat", "/mnt/small/daemon.json").stdout == "original\n"
        assert ecs.exec("ls", "/mnt/small").stdout.split() == ["daemon.json"]  # no temporary file left
    finally:
        ecs.sh("umount /mnt/small", check=False)


async def test_killed_session_leaves_no_partial_file(ecs: TestHost, tmp_path: Path) -> None:
    async def slow_chunks():  # type: ignore[no-untyped-def]
        yield b"first part of a big file\n" * 1000
        await asyncio.sleep(30)  # the session dies while the rest is awaited
        yield b"never sent\n"

    path = "/etc/regwiz-fault-test.conf"
    ecs.exec("sh", "-c", f"printf 'old\\n' > {path}")
    try:
        async with root_by_password(ecs, tmp_path) as t:
            size = len(b"first part of a big file\n" * 1000) + len(b"never sent\n")
            writing = asyncio.ensure_future(t.upload(slow_chunks(), path, mode=0o644, size=size))
            for _ in range(50):
                if ecs.sh(f"ls {path}.regwiz-tmp.* 2>/dev/null || true").stdout.strip():
                    break
                await asyncio.sleep(0.1)
            # Kill the sshd process serving this session (as a dropped connection would).
            # ('[s]' keeps pkill's own shell from matching its pattern.)
            ecs.sh("pkill -KILL -f '[s]shd: root@notty' || true")
            with pytest.raises(TransportError):
                await asyncio.wait_for(writing, 20)
        for _ in range(30):
            if not ecs.sh(f"ls {path}.regwiz-tmp.* 2>/dev/null || true").stdout.strip():
                break
            await asyncio.sleep(0.2)
        assert ecs.exec("cat", path).stdout == "old\n"
        assert ecs.sh(f"ls {path}.regwiz-tmp.* 2>/dev/null || true").stdout.strip() == ""
    finally:
        ecs.exec("rm", "-f", path)


async def test_hostile_values_are_data_on_a_real_host(ecs: TestHost, tmp_path: Path) -> None:
    """Paths, arguments and sudo input with shell syntax reach the host as data: the canary never appears."""
    from app.redact import Secret
    from app.transport import Command
    from app.transport.ssh import SSHTarget, SSHTransport
    from tests.sshutil import trusting_store

    canary = "/tmp/regwiz-canary"
    hostile_dir = "/tmp/hostile $(touch /tmp/regwiz-canary) `touch /tmp/regwiz-canary`; touch /tmp/regwiz-canary"
    target = SSHTarget(host=ecs.address, user=ecs.sudo_user, password=Secret(ecs.sudo_password), use_agent=False,
                       sudo_password=Secret(ecs.sudo_password), known_hosts=trusting_store(ecs, tmp_path))
    try:
        async with SSHTransport(target) as t:
            ctx = StepContext(t, EventBus().scoped(source="fault"))
            await t.run(Command("mkdir", "-p", hostile_dir), sudo=True, check=True)
            await ctx.files.write(FileChange(f"{hostile_dir}/x'\"\n.conf", None, "data $(touch /tmp/regwiz-canary)\n"))
            echoed = await t.run(Command("printf", "%s", "'; touch /tmp/regwiz-canary; '"), sudo=True, check=True)
            assert echoed.stdout == "'; touch /tmp/regwiz-canary; '"
        assert ecs.exec("test", "-e", canary, check=False).returncode != 0
        listing = ecs.exec("ls", "-b", hostile_dir).stdout
        assert "x\\'\\\"\\n.conf" in listing or "x'\"\\n.conf" in listing
    finally:
        ecs.sh("rm -rf /tmp/hostile* /tmp/regwiz-canary")


async def test_unreadable_config_files_are_refused_and_left_untouched(bare: TestHost, tmp_path: Path) -> None:
    from app.clients.model import RegistryTarget
    from app.clients.runtimes import ContainerdTrustStep
    from app.steps import Outcome, Plan, run_step

    async def yes(plan: Plan) -> bool:
        return True

    bare.sh("mkdir -p /etc/containerd /etc/docker && printf '[broken\\nnot toml' > /etc/containerd/config.toml "
            "&& printf '{not json' > /etc/docker/daemon.json")
    try:
        registry = RegistryTarget("10.0.0.5", 5000, False, None)
        async with root_by_password(bare, tmp_path) as t:
            result = await run_step(ContainerdTrustStep(registry), StepContext(t, EventBus().scoped(source="x")), yes)
            assert result.outcome is Outcome.REFUSED and "could not be read" in result.message
            from app.diagnose import DiagnosisContext
            from app.diagnose.network import NetworkCheck

            ctx = DiagnosisContext(t, EventBus(), bare.address)
            check = await NetworkCheck().run(ctx, EventBus().scoped(source="x"))
            assert check.status.value == "failure" and "not valid JSON" in check.summary
        assert bare.exec("cat", "/etc/containerd/config.toml").stdout == "[broken\nnot toml"
        assert bare.exec("cat", "/etc/docker/daemon.json").stdout == "{not json"
    finally:
        bare.sh("rm -rf /etc/containerd /etc/docker")


async def test_backups_keep_the_original_mode(ecs: TestHost, tmp_path: Path) -> None:
    path = "/etc/regwiz-mode-test.conf"
    ecs.sh(f"printf 'old\\n' > {path} && chmod 0640 {path}")
    try:
        async with root_by_password(ecs, tmp_path) as t:
            ctx = StepContext(t, EventBus().scoped(source="fault"))
            backup = await ctx.files.write(FileChange(path, "old\n", "new\n"))
        assert backup.backup_path is not None
        assert ecs.exec("stat", "-c", "%a", backup.backup_path).stdout.strip() == "640"
        assert ecs.exec("stat", "-c", "%a", path).stdout.strip() == "640"  # the new file keeps it too
        assert ecs.exec("cat", backup.backup_path).stdout == "old\n"
    finally:
        ecs.sh(f"rm -f {path}")
