"""Live logs: a remote command's 200,000 lines streamed into a step's log in the running app (headless),
against OpenSSH's `ssh HOST CMD > /dev/null`, both on an open connection to the same testbed host.

regwiz: the real app (RegwizApp, headless) shows the diagnosis screen; the command runs through
SSHTransport.stream_lines with the step's emitter, so each line goes the product's way: the event
bus, the redactor, the run's log file, and the screen's Log widget. Done when the widget holds every
line and has painted. Meanwhile a probe task sleeps 10 ms at a time and notes how late it wakes: the
event loop's longest stall, the longest a key press would wait.

OpenSSH: a ControlMaster connection is opened first, then the command is timed over it (the
handshake is excluded on both sides).

The floor (a ceiling here: the most lines per second): asyncssh alone, on a connection it opened before
the repeats, runs the same command in a session whose data_received discards each chunk as it comes (no
app, no splitting into lines, no decoding; only the bytes are counted, to prove all came). Any tool built
on asyncssh, as the guide mandates for regwiz, reads at most this fast: its ratio to OpenSSH bounds the
goal. The three run in the same interleaved repeats ($REGWIZ_BENCH_TOOLS=floor,openssh: those alone).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import NAN, Figure, interleaved, median, selected
from benchmarks.hosts import known_hosts, openssh_options
from tests.testbed.hosts import Testbed, TestHost

DEFAULT_REPEAT = 3
LINES = 200_000
# Lines of a realistic length (72 characters), the same command on both sides.
COMMAND = ("awk 'BEGIN { for (i = 1; i <= %d; i++) "
           "printf \"%%06d step output: compiling module, writing layer, a line of usual length\\n\", i }'" % LINES)
# The bytes the command prints: every line has the same length.
BYTES = LINES * len("%06d step output: compiling module, writing layer, a line of usual length\n" % 1)
CONTENDERS = selected(("regwiz", "openssh", "floor"))
STALL_GOAL_MS = 50.0
PROBE_S = 0.01


def openssh_seconds(host: TestHost, options: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(["ssh", *options, f"root@{host.address}", COMMAND], stdout=subprocess.DEVNULL,
                   check=True, timeout=300)
    return time.perf_counter() - started


async def _regwiz_once(host: TestHost, work: Path) -> tuple[float, float]:
    from textual.widgets import Log

    from screens.app import RegwizApp
    from screens.diagnose import DiagnoseScreen
    from tests.sshutil import by_key

    app = RegwizApp(resume_gc=True)  # as `regwiz` starts it: what exists after start-up is frozen
    async with app.run_test(size=(120, 40)) as pilot, by_key(host, "root", work) as transport:
        screen = DiagnoseScreen(app.bus, transport, host.address, autorun=False)
        await app.push_screen(screen)
        await pilot.pause()
        log = screen.query_one("#log", Log)
        emit = app.bus.scoped(source=f"diagnose.{screen.selected}", host=host.address)
        stall = 0.0
        running = True

        async def probe() -> None:
            nonlocal stall
            while running:
                before = time.perf_counter()
                await asyncio.sleep(PROBE_S)
                stall = max(stall, time.perf_counter() - before - PROBE_S)

        prober = asyncio.create_task(probe())
        started = time.perf_counter()
        count = 0
        async for _ in transport.stream_lines(["sh", "-c", COMMAND], emit=emit):
            count += 1
        while log.line_count < LINES:
            await asyncio.sleep(PROBE_S)
        await pilot.pause()  # the last lines painted
        elapsed = time.perf_counter() - started
        running = False
        await prober
        assert count == LINES, f"streamed {count} lines"
    return elapsed, stall


class AsyncsshAlone:
    """One asyncssh connection, opened once (host key checked); each call runs COMMAND and discards its
    output in the session's data_received."""

    def __init__(self, host: TestHost, key: Path, known: Path) -> None:
        import asyncssh

        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(asyncssh.connect(
            host.address, username="root", client_keys=[str(key)], known_hosts=str(known), agent_path=None))

    def once(self) -> float:
        return self.loop.run_until_complete(self._once())

    async def _once(self) -> float:
        import asyncssh

        received = 0

        class Discard(asyncssh.SSHClientSession[bytes]):
            def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
                nonlocal received
                received += len(data)

        started = time.perf_counter()
        channel, _session = await self.conn.create_session(Discard, COMMAND, encoding=None)
        await channel.wait_closed()
        elapsed = time.perf_counter() - started
        assert received == BYTES, f"asyncssh alone received {received} bytes, not {BYTES}"
        return elapsed

    def close(self) -> None:
        self.conn.close()
        self.loop.run_until_complete(self.conn.wait_closed())
        self.loop.close()


def run(repeat: int) -> list[Figure]:
    stalls: list[float] = []
    work = Path(tempfile.mkdtemp(prefix="regwiz-bench-logs-"))
    os.environ.setdefault("REGWIZ_HOME", str(work / "home"))
    with Testbed() as bed:
        host, = bed.start("linux_client")
        assert bed.client_key is not None
        control = work / "control"
        options = openssh_options(bed.client_key.path, known_hosts([host], work / "known_hosts"))
        options += ["-o", f"ControlPath={control}", "-o", "ControlMaster=auto", "-o", "ControlPersist=300"]
        subprocess.run(["ssh", *options, f"root@{host.address}", "true"], check=True, timeout=60)
        alone = AsyncsshAlone(host, bed.client_key.path, work / "known_hosts") if "floor" in CONTENDERS else None

        def regwiz() -> float:
            elapsed, stall = asyncio.run(_regwiz_once(host, work))
            stalls.append(stall)
            return elapsed

        runs = {"regwiz": regwiz, "openssh": lambda: openssh_seconds(host, options),
                "floor": alone.once if alone is not None else lambda: NAN}
        try:
            samples = interleaved({name: runs[name] for name in CONTENDERS}, repeat)
        finally:
            subprocess.run(["ssh", *options, "-O", "exit", f"root@{host.address}"], capture_output=True)
            if alone is not None:
                alone.close()
    rates = {name: LINES / median(samples[name]) if samples.get(name) else NAN
             for name in ("regwiz", "openssh", "floor")}
    worst_stall = max(stalls) * 1000 if stalls else NAN
    notes = [f"{LINES:,} lines of 72 characters; runs: " + "; ".join(
        f"{name} " + "/".join(f"{t:.2f}" for t in samples[name]) + " s" for name in CONTENDERS)]
    if stalls:
        notes.insert(0, f"longest event-loop stall while streaming {worst_stall:.0f} ms "
                        f"(goal <= {STALL_GOAL_MS:.0f} ms)")
    if "floor" in CONTENDERS:
        notes.append(f"floor: asyncssh alone on an open connection, output discarded, {rates['floor']:,.0f} lines/s "
                     f"({rates['floor'] / rates['openssh']:.2f}x OpenSSH): no asyncssh-based tool reads faster here")
    return [Figure("live logs", rates["regwiz"], rates["openssh"], "lines/s", ">= 0.65x", 0.65, higher_is_better=True,
                   extra_pass=not stalls or worst_stall <= STALL_GOAL_MS, notes=notes, floor=rates["floor"])]
