"""Live logs: a remote command's 200,000 lines streamed into a step's log in the running app (headless),
against OpenSSH's `ssh HOST CMD > /dev/null`, both on an open connection to the same testbed host.

regwiz: the real app (RegwizApp, headless) shows the diagnosis screen; the command runs the way the product's
steps run theirs, ``SSHTransport.run(command, emit=the step's emitter)`` (output kept for the result, as the
steps keep it; no product code reads output line by line through ``stream_lines``, so the benchmark no longer
does), so each chunk of lines goes the product's way: the event bus, the redactor, the run's log file, and the
screen's LiveLog. Done when the widget holds every line (with the command's and its exit's) and has painted.
Meanwhile a probe task sleeps 10 ms at a time and notes how late it wakes: the event loop's longest stall, the
longest a key press would wait.

OpenSSH: a ControlMaster connection is opened first, then the command is timed over it (the
handshake is excluded on both sides).

Two floors, on a connection asyncssh opened before the repeats:
- floor (the table's: a ceiling here, the most lines per second): asyncssh alone runs the same command in a
  session whose data_received discards each chunk as it comes (no app, no splitting into lines, no decoding;
  only the bytes are counted, to prove all came). Any tool built on asyncssh, as the guide mandates for
  regwiz, reads at most this fast: its ratio to OpenSSH bounds the goal.
- textual floor (a note): asyncssh's session decodes and splits the data into lines and writes each chunk's
  lines into a stock Textual ``Log`` in a running headless app (same command, same done condition: the log
  holds every line and has painted). What a plain asyncssh + Textual tool reaches; a stock Log measures every
  line's width in a thread, which LiveLog does not, so regwiz may beat it: it says whether the goal is in
  reach with Textual's own widget, not a bound on regwiz.
All run in the same interleaved repeats ($REGWIZ_BENCH_TOOLS=floor,openssh: those alone; "floor" runs both).
"""

from __future__ import annotations

import asyncio
import os
import resource
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
# What runs: "floor" names both floors (asyncssh alone; asyncssh into a stock Textual Log).
RUNS = CONTENDERS + (("textual floor",) if "floor" in CONTENDERS else ())
STALL_GOAL_MS = 50.0
PROBE_S = 0.01
# CPU seconds of each run, by contender, beside the wall times: the machine is shared, and CPU time says what
# each side costs however loaded it is. This process's (every thread) for regwiz and the floors; for OpenSSH
# the ssh client's (a child). The testbed's sshd is the same on every side and counted on none.
CPU: dict[str, list[float]] = {}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def openssh_seconds(host: TestHost, options: list[str]) -> float:
    cpu = _children_cpu()
    started = time.perf_counter()
    subprocess.run(["ssh", *options, f"root@{host.address}", COMMAND], stdout=subprocess.DEVNULL,
                   check=True, timeout=300)
    elapsed = time.perf_counter() - started
    CPU.setdefault("openssh", []).append(_children_cpu() - cpu)
    return elapsed


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
        cpu = time.process_time()
        started = time.perf_counter()
        result = await transport.run(["sh", "-c", COMMAND], emit=emit, check=True)
        count = result.stdout.count("\n") + 1
        while log.line_count < LINES + 2:  # the command's line, its output, its exit line
            await asyncio.sleep(PROBE_S)
        await pilot.pause()  # the last lines painted
        elapsed = time.perf_counter() - started
        CPU.setdefault("regwiz", []).append(time.process_time() - cpu)
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

        cpu = time.process_time()
        started = time.perf_counter()
        channel, _session = await self.conn.create_session(Discard, COMMAND, encoding=None)
        await channel.wait_closed()
        elapsed = time.perf_counter() - started
        CPU.setdefault("floor", []).append(time.process_time() - cpu)
        assert received == BYTES, f"asyncssh alone received {received} bytes, not {BYTES}"
        return elapsed

    def textual_once(self) -> float:
        return self.loop.run_until_complete(self._textual_once())

    async def _textual_once(self) -> float:
        """The second floor: asyncssh's session splits the output into lines and writes each chunk's lines
        into a stock Textual ``Log`` in a running headless app; done when the log holds every line and has
        painted. No bus, no redaction, no log file: the least any asyncssh + Textual tool does to show them."""
        import asyncssh
        from textual.app import App, ComposeResult
        from textual.widgets import Log

        class OneLog(App[None]):
            def compose(self) -> ComposeResult:
                yield Log(highlight=False)

        app = OneLog()
        async with app.run_test(size=(120, 40)) as pilot:
            log = app.query_one(Log)
            await pilot.pause()

            class IntoLog(asyncssh.SSHClientSession[str]):
                tail = ""

                def data_received(self, data: str, datatype: asyncssh.DataType) -> None:
                    lines = (self.tail + data).split("\n")
                    self.tail = lines.pop()
                    if lines:
                        log.write_lines(lines)

            cpu = time.process_time()
            started = time.perf_counter()
            channel, _session = await self.conn.create_session(IntoLog, COMMAND, encoding="utf-8")
            await channel.wait_closed()
            while log.line_count < LINES:
                await asyncio.sleep(PROBE_S)
            await pilot.pause()  # the last lines painted
            elapsed = time.perf_counter() - started
            CPU.setdefault("textual floor", []).append(time.process_time() - cpu)
            assert log.line_count == LINES, f"the floor's log holds {log.line_count} lines, not {LINES}"
        return elapsed

    def close(self) -> None:
        self.conn.close()
        self.loop.run_until_complete(self.conn.wait_closed())
        self.loop.close()


def run(repeat: int) -> list[Figure]:
    CPU.clear()
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
                "floor": alone.once if alone is not None else lambda: NAN,
                "textual floor": alone.textual_once if alone is not None else lambda: NAN}
        try:
            samples = interleaved({name: runs[name] for name in RUNS}, repeat)
        finally:
            subprocess.run(["ssh", *options, "-O", "exit", f"root@{host.address}"], capture_output=True)
            if alone is not None:
                alone.close()
    rates = {name: LINES / median(samples[name]) if samples.get(name) else NAN
             for name in ("regwiz", "openssh", "floor", "textual floor")}
    worst_stall = max(stalls) * 1000 if stalls else NAN
    notes = [f"{LINES:,} lines of 72 characters; runs: " + "; ".join(
        f"{name} " + "/".join(f"{t:.2f}" for t in samples[name]) + " s" for name in RUNS)]
    notes.append("CPU seconds (median): " + "; ".join(
        f"{name} {median(CPU[name]):.2f}" for name in RUNS if CPU.get(name)) + " (regwiz's CPU / OpenSSH's: "
        + (f"{median(CPU['regwiz']) / median(CPU['openssh']):.2f})" if CPU.get("regwiz") and CPU.get("openssh")
           else "n/a)"))
    if stalls:
        notes.insert(0, f"longest event-loop stall while streaming {worst_stall:.0f} ms "
                        f"(goal <= {STALL_GOAL_MS:.0f} ms)")
    if "floor" in CONTENDERS:
        notes.append(f"floor: asyncssh alone on an open connection, output discarded, {rates['floor']:,.0f} lines/s "
                     f"({rates['floor'] / rates['openssh']:.2f}x OpenSSH): no asyncssh-based tool reads faster here")
        textual = rates["textual floor"]
        notes.append(f"textual floor: asyncssh's session splitting lines into a stock Textual Log in a headless app, "
                     f"{textual:,.0f} lines/s ({textual / rates['openssh']:.2f}x OpenSSH, "
                     + ("goal reachable with a stock Log" if textual / rates["openssh"] >= 0.65
                        else "NO: out of reach with a stock Log") + f"; regwiz {rates['regwiz'] / textual:.2f}x it)")
    return [Figure("live logs", rates["regwiz"], rates["openssh"], "lines/s", ">= 0.65x", 0.65, higher_is_better=True,
                   extra_pass=not stalls or worst_stall <= STALL_GOAL_MS, notes=notes, floor=rates["floor"])]
