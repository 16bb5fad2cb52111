"""Several reads in one round trip (facts.read_in_one): each snippet's output and exit status, on this
machine's shell; the diagnosis' port, disk, clock and firewall checks read in one command with it, and
decide from each snippet's own answer (recorded hosts)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.diagnose import DiagnosisContext, run_checks
from app.diagnose.resources import FIREWALL_QUESTIONS, ClockCheck, DiskCheck, FirewallCheck, PortCheck
from app.events import EventBus
from app.facts import Reply, read_in_one
from app.remote_files import RemoteFiles
from app.steps import Status
from app.transport import TransportError
from app.transport.local import LocalTransport
from tests.recorded import RecordedTransport


async def test_each_snippet_gives_its_output_and_its_exit_status() -> None:
    async with LocalTransport() as t:
        replies = await read_in_one(t, ["printf 'a\\nb\\n'", "echo gone >&2; false", "printf 'no newline'",
                                        "sh -c 'echo three; exit 3'", "command -v no-such-tool-here"])
    assert replies == [Reply("a\nb", 0), Reply("", 1), Reply("no newline", 0), Reply("three", 3),
                       Reply("", 127)]
    assert [r.ok for r in replies] == [True, False, True, False, False]


async def test_files_read_among_other_reads_as_prefetched_reads_them(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("line 1\nno newline")
    paths = [str(tmp_path / "a.conf"), str(tmp_path / "missing")]
    async with LocalTransport() as t:
        files = RemoteFiles(t, sudo=False)
        first, read, after = await read_in_one(t, ["echo before", files.read_snippet(paths), "echo after"])
        async with files.prefetched(paths, read=read):
            assert await files.read(paths[0]) == "line 1\nno newline"
            assert await files.read(paths[1]) is None
        # A file it cannot read ends only its own snippet (a subshell), with the status prefetched refuses.
        (tmp_path / "dir").mkdir()
        _, broken, still = await read_in_one(t, ["true", files.read_snippet([str(tmp_path / "dir")]), "echo still"])
    assert (first.text, after.text, still.text) == ("before", "after", "still")
    assert broken.status == 4
    with pytest.raises(TransportError, match="exited with 4"):
        async with files.prefetched([str(tmp_path / "dir")], read=broken):
            pass


class CutShort(RecordedTransport):
    """A command that ended after the first snippet's section and part of the second's."""

    async def _execute(self, command_line: str, stdin: object, sink: object, keep_output: bool,
                       timeout: float | None) -> tuple[int, list[str], list[str]]:
        self.commands.append(command_line)
        return 255, ["one", "@@regwiz-section@@ 0", "half"], []


async def test_a_section_the_command_never_finished_has_no_status() -> None:
    replies = await read_in_one(CutShort({}), ["echo one", "echo half; echo more", "echo three"])
    assert replies == [Reply("one", 0), Reply("half", None), Reply("", None)]
    assert not replies[1].ok and not replies[2].ok


class ResourcesHost(RecordedTransport):
    """A host whose port 5000 nc holds, with 3 GiB free, a clock 30 s fast, an iptables rule that drops
    5000, no ufw, and firewalld running with 5000/tcp open."""

    async def answer(self, command_line: str) -> tuple[int, list[str], list[str]]:
        if command_line.startswith("ss -ltnpH"):
            return 0, ['LISTEN 0 1 0.0.0.0:5000 0.0.0.0:* users:(("nc",pid=7,fd=3))'], []
        if "df -Pk" in command_line:
            return 0, [f"/dev/vda1 41152736 1000 {3 * 1024 * 1024} 10% /", "/var/lib"], []
        if command_line.startswith("date -u"):
            return 0, [f"{time.time() + 30:.6f}"], []
        answers = {FIREWALL_QUESTIONS[0]: (0, ["-P INPUT ACCEPT", "-A INPUT -p tcp --dport 5000 -j DROP"]),
                   FIREWALL_QUESTIONS[1]: (1, []),
                   FIREWALL_QUESTIONS[2]: (0, ["running", "5000/tcp"])}
        status, out = answers.get(command_line, (1, []))
        return status, out, []


async def test_the_resources_checks_read_in_one_command_and_decide_from_each_answer() -> None:
    host = ResourcesHost({})
    ctx = DiagnosisContext(host, EventBus(), "recorded")
    port, disk, clock, firewall = await run_checks([PortCheck(), DiskCheck(), ClockCheck(), FirewallCheck()], ctx)
    assert len(host.commands) == 1 and host.commands[0].startswith("sh -c ")  # one round trip, as root (recorded)
    assert (port.status, port.summary) == (Status.FAILURE, "5000/tcp is taken by nc")
    assert disk.status is Status.WARNING and disk.data["measured_at"] == "/var/lib"
    assert clock.status is Status.WARNING and 29 < clock.data["skew_seconds"] < 31
    # iptables' answer (status 0) drops the port; ufw's failed (absent: not asked about); firewalld opens it.
    assert (firewall.status, firewall.summary) == (Status.WARNING, "an iptables rule drops port 5000")
    # A second run on the same context (after a fix) reads the host again, not the first run's answers.
    await run_checks([FirewallCheck()], ctx)
    assert len(host.commands) == 2


async def test_a_failed_read_is_a_failed_check_not_a_crash() -> None:
    class NoDate(ResourcesHost):
        async def answer(self, command_line: str) -> tuple[int, list[str], list[str]]:
            return (2, [], []) if command_line.startswith("date") else await super().answer(command_line)

    [clock] = await run_checks([ClockCheck()], DiagnosisContext(NoDate({}), EventBus(), "recorded"))
    assert clock.status is Status.FAILURE and "exited with 2" in clock.summary
