"""Start-up: from exec until the first screen takes input, regwiz vs a one-Input Textual app (the floor).

Both run as ``python -m ...`` with the same interpreter, under a pseudo-terminal
of a fixed size (TERM=xterm-256color), with nothing but the terminal in common.
As soon as the first screen's text is on screen, a word is typed; the clock
stops when the focused Input shows it. So work deferred past the first frame
still counts: the figure is the time until a user's typing is answered.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

from benchmarks.common import Figure, interleaved, median

DEFAULT_REPEAT = 7
ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)"  # CSI, OSC
                  rb"|[PX^_][^\x1b]*\x1b\\|[()][A-Z0-9]|[=>NOM78c])")  # DCS/PM/APC, charsets, the rest
COLUMNS, LINES = 120, 40
TIMEOUT = 30.0


TYPED = b"benchkey"


def time_to_input(module: str, marker: bytes, env: dict[str, str]) -> float:
    """Seconds from spawning ``python -m module`` in a pty until a word typed at ``marker`` is echoed."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", module], stdin=slave, stdout=slave, stderr=slave,
                            cwd=ROOT, env=env, start_new_session=True, close_fds=True)
    os.close(slave)
    seen = b""
    want, typed_at = marker, 0
    try:
        while True:
            left = TIMEOUT - (time.perf_counter() - started)
            if left <= 0:
                raise TimeoutError(f"{module}: {marker!r} not on screen within {TIMEOUT:g} s; "
                                   f"last output: {ANSI.sub(b'', seen)[-300:]!r}")
            ready, _, _ = select.select([master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the program ended
                raise RuntimeError(f"{module} exited: {ANSI.sub(b'', seen)[-600:]!r}") from None
            seen += chunk
            if want in ANSI.sub(b"", seen[typed_at:]):
                if want == TYPED:
                    return time.perf_counter() - started
                os.write(master, TYPED)  # the first screen is up: type into its focused Input
                want, typed_at = TYPED, len(seen)
    finally:
        _quit(proc, master)


def _quit(proc: subprocess.Popen[bytes], master: int) -> None:
    try:
        os.write(master, b"\x11")  # ctrl+q
        deadline = time.monotonic() + 5
        while proc.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        os.close(master)


def run(repeat: int) -> list[Figure]:
    home = tempfile.mkdtemp(prefix="regwiz-bench-home-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL")}
    env.update(TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(LINES), REGWIZ_HOME=home,
               PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="")
    contenders = {
        "regwiz": lambda: time_to_input("app", b"Where should the registry run?", env),
        "floor": lambda: time_to_input("benchmarks.floor_app", b"floor input", env),
    }
    for measure in contenders.values():
        measure()  # warm the page cache and .pyc files once, uncounted
    samples = interleaved(contenders, repeat)
    regwiz, floor = median(samples["regwiz"]), median(samples["floor"])
    return [Figure("start-up", regwiz * 1000, floor * 1000, "ms", "<= 1.25x", 1.25,
                   notes=[f"samples regwiz {_ms(samples['regwiz'])}, floor {_ms(samples['floor'])}"])]


def _ms(values: list[float]) -> str:
    return "/".join(f"{v * 1000:.0f}" for v in values)
