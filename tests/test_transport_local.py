"""The transport interface, on this machine (the same code paths SSH uses)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.events import EventBus, EventKind, MemorySink
from app.transport import Command, CommandFailed, TransportError, shell
from app.transport.base import LineSplitter
from app.transport.local import LocalTransport


async def test_run_captures_output_and_status() -> None:
    async with LocalTransport() as t:
        result = await t.run(shell('echo out; echo err >&2; exit 3'))
    assert (result.exit_status, result.stdout, result.stderr) == (3, "out", "err")
    assert not result.ok
    with pytest.raises(CommandFailed, match="exited with 3"):
        result.check()


async def test_events_stream_command_output_and_exit() -> None:
    bus = EventBus()
    memory = MemorySink()
    bus.subscribe(memory)
    async with LocalTransport() as t:
        await t.run(Command("printf", "a\\nb\\n"), emit=bus.scoped(source="s"))
    kinds = [e.kind for e in memory.events]
    assert kinds[0] is EventKind.COMMAND and kinds[-1] is EventKind.EXIT
    assert memory.lines(EventKind.STDOUT) == ["a", "b"]


async def test_stream_lines_yields_every_line_in_order() -> None:
    async with LocalTransport() as t:
        lines = [line async for line in t.stream_lines(Command("seq", "1", "20000"))]
    assert lines == [str(i) for i in range(1, 20001)]


async def test_stream_lines_raises_when_the_command_fails() -> None:
    async with LocalTransport() as t:
        with pytest.raises(CommandFailed):
            async for _ in t.stream_lines(shell("echo partial; exit 4")):
                pass


@pytest.mark.parametrize("hostile", [
    "$(touch {canary})", "`touch {canary}`", "; touch {canary}", "' ; touch {canary}; '",
    "\"; touch {canary}; \"", "a\ntouch {canary}", "| touch {canary}", "&& touch {canary}",
])
async def test_hostile_arguments_are_data_not_code(tmp_path: Path, hostile: str) -> None:
    canary = tmp_path / "canary"
    value = hostile.format(canary=canary)
    async with LocalTransport() as t:
        echoed = await t.run(Command("printf", "%s", value), check=True)
        scripted = await t.run(shell('printf %s "$1"', value), check=True)
    assert echoed.stdout == value and scripted.stdout == value
    assert not canary.exists()


async def test_upload_is_atomic_and_sets_mode(tmp_path: Path) -> None:
    target = tmp_path / "dir with space" / "daemon.json"
    target.parent.mkdir()
    target.write_text("old")
    async with LocalTransport() as t:
        await t.upload(b'{"bip": "10.200.0.1/24"}\n', str(target), mode=0o600)
    assert target.read_text() == '{"bip": "10.200.0.1/24"}\n'
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["daemon.json"]


async def test_failed_upload_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "file"
    async with LocalTransport() as t:
        with pytest.raises(CommandFailed):
            await t.upload(b"data", str(target))
    assert not target.exists()


async def test_stdin_reaches_the_command() -> None:
    async with LocalTransport() as t:
        result = await t.run(Command("wc", "-c"), stdin=b"12345")
    assert result.stdout.strip() == "5"


async def test_timeout_kills_and_explains() -> None:
    async with LocalTransport() as t:
        with pytest.raises(TransportError, match="did not finish within"):
            await t.run(Command("sleep", "5"), timeout=0.3)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the sudo path is skipped only for root")
async def test_sudo_as_root_runs_directly() -> None:
    async with LocalTransport() as t:
        assert await t.is_root()
        assert not await t.sudo_needs_password()
        result = await t.run(Command("id", "-u"), sudo=True, check=True)
    assert result.stdout == "0" and result.command == "sudo id -u"


def test_line_splitter_keeps_partial_lines_and_multibyte_chars() -> None:
    splitter = LineSplitter()
    data = "héllo\r\nwörld\nta".encode()
    out = []
    for i in range(len(data)):  # one byte at a time: splits inside a character
        out += splitter.feed(data[i:i + 1])
    assert out == ["héllo", "wörld"]
    assert splitter.flush() == ["ta"]
