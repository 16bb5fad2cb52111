"""Live logs: a remote command's 200,000 lines streamed into a step's log in the running app (headless),
against OpenSSH's `ssh HOST CMD > /dev/null`, both on an open connection to the same testbed host.

regwiz: the real app (RegwizApp, headless) shows the diagnosis screen; the command runs through
SSHTransport.stream_lines with the step's emitter, so each line goes the product's way: the event
bus, the redactor, the run's log file, and the screen's Log widget. Done when the widget holds every
line and has painted. Meanwhile a probe task sleeps 10 ms at a time and notes how late it wakes: the
event loop's longest stall, the longest a key press would wait.

OpenSSH: a ControlMaster connection is opened first, then the command is timed over it (the
handshake is excluded on both sides).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import Figure, interleaved, median
from benchmarks.hosts import known_hosts, openssh_options
from tests.testbed.hosts import Testbed, TestHost

DEFAULT_REPEAT = 3
LINES = 200_000
# Lines of a realistic length (72 characters), the same command on both sides.
COMMAND = ("awk 'BEGIN { for (i = 1; i <= %d; i++) "
           "printf \"%%06d step output: compiling module, writing layer, a line of usual length\\n\", i }'" % LINES)
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

        def regwiz() -> float:
            elapsed, stall = asyncio.run(_regwiz_once(host, work))
            stalls.append(stall)
            return elapsed

        try:
            samples = interleaved({"regwiz": regwiz, "openssh": lambda: openssh_seconds(host, options)}, repeat)
        finally:
            subprocess.run(["ssh", *options, "-O", "exit", f"root@{host.address}"], capture_output=True)
    rate = LINES / median(samples["regwiz"])
    baseline = LINES / median(samples["openssh"])
    worst_stall = max(stalls) * 1000
    return [Figure("live logs", rate, baseline, "lines/s", ">= 0.65x", 0.65, higher_is_better=True,
                   extra_pass=worst_stall <= STALL_GOAL_MS,
                   notes=[f"longest event-loop stall while streaming {worst_stall:.0f} ms "
                          f"(goal <= {STALL_GOAL_MS:.0f} ms); {LINES:,} lines of 72 characters"])]
