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
