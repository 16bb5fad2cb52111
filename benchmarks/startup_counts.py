"""Start-up in instructions: the start-up benchmark's measure, counted by valgrind instead of timed.

``python -m benchmarks.startup_counts`` runs regwiz's first screen and the floor app
(``benchmarks/floor_app.py``) under ``valgrind --tool=callgrind`` in the same pseudo-terminal
as ``benchmarks.startup`` (120x40, xterm-256color), types a word once the first screen's text
is there, and asks callgrind for its count once the focused Input echoes it. The counts do not
depend on the machine's load, as wall times on a shared machine do; they are the figure to
compare two trees by. Both programs run with Input's cursor blink switched off: the blink is a
timer, and under valgrind (some 50x slower) it fires a number of times that depends on the
load. Needs valgrind (Debian: ``apt-get install valgrind``); not part of ``./dev bench``.
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

from benchmarks.startup import ANSI, COLUMNS, LINES, ROOT, TYPED

PROGRAMS = {"regwiz": ("app", b"Where should the registry run?"),
            "floor": ("benchmarks.floor_app", b"floor input")}
# The module run as ``python -m`` would run it, with the cursor blink's timer doing nothing, ending itself
# (callgrind writes its count at the exit) once the Input shows the typed word and the screen is refreshed:
# from then on, the count would only grow with the time the harness takes to see the echo.
BOOT = """
import os, runpy, sys
import textual.widgets._input as i
i.Input._toggle_cursor = lambda self: None
watch = i.Input._watch_value
def _watch_value(self, value):
    watch(self, value)
    if value == {typed!r}:
        self.call_after_refresh(lambda: (sys.stdout.write({typed!r} + "\\n"), sys.stdout.flush(), os._exit(0)))
i.Input._watch_value = _watch_value
sys.argv = [{module!r}]
runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
"""
TIMEOUT = 900.0


def instructions(module: str, marker: bytes, env: dict[str, str]) -> int:
    """Instructions from exec until the word typed at ``marker`` is echoed (the program ends there)."""
    out_dir = tempfile.mkdtemp(prefix="regwiz-counts-")
    out = os.path.join(out_dir, "callgrind.%p")
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no",
               sys.executable, "-c", BOOT.format(module=module, typed=TYPED.decode())]
    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env,
                            start_new_session=True, close_fds=True)
    os.close(slave)
    started, seen, want, typed_at = time.monotonic(), b"", marker, 0
    try:
        while True:
            if time.monotonic() - started > TIMEOUT:
                raise TimeoutError(f"{module}: not ready within {TIMEOUT:g} s under valgrind")
            if not select.select([master], [], [], 5)[0]:
                continue
            try:
                seen += os.read(master, 65536)
            except OSError:  # it ended: once it was typed to, it ended itself when the word was in its Input
                if want == TYPED:
                    break
                raise RuntimeError(f"{module} exited: {ANSI.sub(b'', seen)[-600:]!r}") from None
            if want in ANSI.sub(b"", seen[typed_at:]):
                if want == TYPED:
                    break
                os.write(master, TYPED)
                want, typed_at = TYPED, len(seen)
        if proc.wait(timeout=120) != 0:
            raise RuntimeError(f"{module} ended with {proc.returncode}: {ANSI.sub(b'', seen)[-600:]!r}")
        for path in Path(out_dir).glob("callgrind.*"):
            found = re.search(r"^summary: (\d+)", path.read_text(errors="replace"), re.M)
            if found:
                return int(found.group(1))
        raise RuntimeError(f"{module}: callgrind wrote no count")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)


def counting_env() -> dict[str, str]:
    """The environment every counted start-up runs in: the same terminal, a fresh home, a fixed hash seed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL")}
    env.update(TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(LINES),
               REGWIZ_HOME=tempfile.mkdtemp(prefix="regwiz-bench-home-"), PYTHONPATH=str(ROOT),
               PYTHONDONTWRITEBYTECODE="", PYTHONHASHSEED="0")
    return env


def main() -> int:
    only = sys.argv[1:] or list(PROGRAMS)
    env = counting_env()
    subprocess.run([sys.executable, "-m", "compileall", "-q", "app", "screens", "benchmarks"], cwd=ROOT,
                   stdout=subprocess.DEVNULL, check=False)  # no compiling inside the count
    counts = {name: instructions(*PROGRAMS[name], env) for name in only}
    for name, count in counts.items():
        print(f"{name:7} {count:>15,} instructions", flush=True)
    if len(counts) == 2:
        print(f"ratio   {counts['regwiz'] / counts['floor']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
