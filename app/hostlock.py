"""One regwiz run at a time changes a host.

The lock is held by a process on the host that lives exactly as long as regwiz's
connection: a shell that holds ``flock`` on ``/run/lock/regwiz.lock`` and waits
on its stdin. When the run ends, regwiz closes that stdin; when regwiz or its
SSH session dies, sshd (or the kernel, on this machine) closes it: either way the
process exits and the lock goes with it, so a dead run never blocks the next.
An info file beside the lock names the holder for whoever has to wait.

Without ``flock`` (boot2docker's busybox may lack it), the lock is a directory
made with ``mkdir``, holding the waiting shell's pid: a lock whose pid is gone
is a dead run's, and is cleared.

Only changes take it (``run_step``, right before the first apply): diagnosing
and planning never wait. A second run waits up to ``REGWIZ_LOCK_WAIT`` seconds
(10 by default), then stops with a message naming the run that holds the host.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import secrets
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Sequence

from app.events import ScopedEmitter
from app.i18n import _
from app.transport.base import CommandResult, Transport, TransportError, shell

LOCK_WAIT_ENV = "REGWIZ_LOCK_WAIT"
DEFAULT_WAIT = 10.0
POLL = 0.5
#: This process's mark in the info file: two connections of one run to one host never wait for each other.
RUN_TOKEN = secrets.token_hex(8)

COMMANDS = {"diagnose", "deploy", "clients", "setup", "onboard"}  # what the info file may name as the holder's
HELD, BUSY, CLEARED, DONE = "regwiz-lock: held", "regwiz-lock: busy", "regwiz-lock: cleared", "regwiz-lock: done"
#: The most a first answer may take (sudo that fails before the script starts prints no DONE).
ANSWER_TIMEOUT = 30.0

# $1: the holder's info (key=value lines); $2: "flock", or "mkdir" to use the fallback even where flock exists;
# $3: the lock's folder, else $4 says whose: "system" (through sudo: /run/lock) or "user" (steps that change
# only the user's own files, as Docker Desktop's: the user's state folder, like their backups).
# Prints HELD once the lock is ours, then waits for stdin to close; prints BUSY and the holder's info (exit 3)
# when another run has it; always ends with DONE (regwiz then closes stdin, which it otherwise keeps open).
# fd 9 is closed for `cat`, so the lock lives exactly as long as this shell.
LOCK_SCRIPT = r'''
set -u
trap 'echo "regwiz-lock: done"' EXIT
if [ -n "$3" ]; then
  d="$3"; mkdir -p "$d" || exit 4
elif [ "$4" = system ] && [ "$(id -u)" = 0 ]; then
  for d in /run/lock /var/lock /run /tmp; do [ -d "$d" ] && [ -w "$d" ] && break; done
else
  d="${HOME:-/tmp}/.local/state/regwiz"; mkdir -p "$d" || exit 4
fi
lock="$d/regwiz.lock"
hold() { echo "regwiz-lock: held $lock"; cat >/dev/null 9>&-; }
if [ "$2" = flock ] && command -v flock >/dev/null 2>&1; then
  exec 9>>"$lock" || exit 4
  if flock -n 9; then
    trap 'rm -f "$lock.info"; echo "regwiz-lock: done"' EXIT; trap 'exit 1' HUP INT TERM PIPE
    printf '%s\n' "$1" > "$lock.info.$$" && mv -f "$lock.info.$$" "$lock.info"
    hold; exit 0
  fi
  echo "regwiz-lock: busy"; cat "$lock.info" 2>/dev/null; exit 3
fi
dir="$lock.d"
for attempt in 1 2 3; do
  if mkdir "$dir" 2>/dev/null; then
    trap 'rm -rf "$dir"; echo "regwiz-lock: done"' EXIT; trap 'exit 1' HUP INT TERM PIPE
    echo "$$" > "$dir/pid"; printf '%s\n' "$1" > "$dir/info"
    hold; exit 0
  fi
  pid=$(cat "$dir/pid" 2>/dev/null || true)
  case "$pid" in ''|*[!0-9]*) break;; esac
  if kill -0 "$pid" 2>/dev/null || [ -d "/proc/$pid" ]; then break; fi
  # The holder is gone: move its lock aside (atomic, so only one run clears it), check it is the one
  # seen dead, and remove it.
  stale="$dir.stale.$$"
  if mv "$dir" "$stale" 2>/dev/null; then
    if [ "$(cat "$stale/pid" 2>/dev/null)" = "$pid" ]; then
      echo "regwiz-lock: cleared a lock left by a dead run (pid $pid on this host)"; cat "$stale/info" 2>/dev/null
      rm -rf "$stale"
    else
      mv "$stale" "$dir" 2>/dev/null || rm -rf "$stale"
    fi
  fi
done
echo "regwiz-lock: busy"; cat "$dir/info" 2>/dev/null; exit 3
'''


def _clean(text: str) -> str:
    """One line, no control characters: the info file is key=value lines."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()[:120]


@dataclass(frozen=True)
class Holder:
    """Who holds a host: their user@machine, regwiz's pid there, since when, doing what."""

    user: str
    machine: str
    pid: int
    since: float
    command: str
    origin: str = ""
    token: str = ""

    @classmethod
    def me(cls, origin: str = "") -> "Holder":
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
        verb = sys.argv[1] if len(sys.argv) > 1 else ""
        command = f"regwiz {verb}" if verb in COMMANDS else "regwiz"
        return cls(_clean(user), _clean(socket.gethostname()), os.getpid(), time.time(), _clean(command),
                   _clean(origin), RUN_TOKEN)

    def encode(self) -> str:
        return "\n".join(f"{key}={value}" for key, value in (
            ("user", self.user), ("machine", self.machine), ("pid", self.pid), ("since", f"{self.since:.0f}"),
            ("command", self.command), ("origin", self.origin), ("token", self.token)))

    @classmethod
    def parse(cls, lines: list[str]) -> "Holder | None":
        values = dict(line.split("=", 1) for line in lines if "=" in line)
        try:
            return cls(values.get("user", "?"), values.get("machine", "?"), int(values.get("pid", "0")),
                       float(values.get("since", "0")), values.get("command", "regwiz"), values.get("origin", ""),
                       values.get("token", ""))
        except ValueError:
            return None

    def describe(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        since = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(self.since))
        machine = f"{self.machine} ({self.origin})" if self.origin else self.machine
        return _("{user}@{machine} ({command}, pid {pid}), from {where}, since {since} ({ago:.0f} s ago)").format(
            user=self.user, machine=self.machine, command=f"`{self.command}`", pid=self.pid, where=machine,
            since=since, ago=max(0, now - self.since))


class HostBusy(TransportError):
    """Another regwiz run changes this host; the message names it and says what to do."""

    def __init__(self, host: str, holder: Holder | None, waited: float) -> None:
        who = holder.describe() if holder else _("another regwiz run (it has not said who yet)")
        super().__init__(
            _("another regwiz run is changing {host}: {who}. Waited {waited:.1f} s; nothing was changed by this "
              "run. Run again once it has finished (or set {variable}=SECONDS to wait longer); if that run "
              "is gone, its lock went with its connection").format(host=host, who=who, waited=waited,
                                                                    variable=LOCK_WAIT_ENV))
        self.holder = holder
        self.waited = waited


def lock_wait() -> float:
    """How long a run waits for another: ``REGWIZ_LOCK_WAIT`` seconds, else 10."""
    try:
        return max(0.0, float(os.environ.get(LOCK_WAIT_ENV, "")))
    except ValueError:
        return DEFAULT_WAIT


class HostLock:
    """The lock on one transport's host, taken once and held until released or the connection dies."""

    def __init__(self, transport: Transport, sudo: bool = True, method: str = "flock", directory: str = "") -> None:
        self.transport = transport
        self.sudo = sudo
        self.method = method  # "mkdir": the fallback, even where flock exists (hosts without it use it anyway)
        self.directory = directory  # "": the host's usual place (/run/lock for root)
        self.path = ""
        self.shared = False  # another connection of this very run holds it
        self._task: asyncio.Task[CommandResult] | None = None
        self._release: asyncio.Event | None = None
        self._guard = asyncio.Lock()

    @property
    def held(self) -> bool:
        return self.shared or (self._task is not None and not self._task.done() and bool(self.path))

    async def _stdin(self) -> AsyncIterator[bytes]:
        """Nothing, until released: the holder on the host reads this until it closes."""
        assert self._release is not None
        await self._release.wait()
        return
        yield b""  # pragma: no cover - makes this an async generator

    async def _try(self, emit: ScopedEmitter | None) -> tuple[bool, Holder | None]:
        """One attempt: (True, None) once held, else (False, the holder)."""
        held: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        release = self._release = asyncio.Event()

        def on_lines(stream: str, lines: Sequence[str]) -> None:
            for line in lines:
                if stream == "stderr":
                    if line.startswith("sudo:"):
                        release.set()  # sudo refused: the script never runs, and our stdin must end
                elif line.startswith(HELD) and not held.done():
                    held.set_result(line[len(HELD):].strip())
                elif line == DONE:
                    release.set()  # the command is over (busy, or an error): end its stdin so run() returns
                elif line.startswith(CLEARED) and emit is not None:
                    emit.info(line.removeprefix("regwiz-lock: "))

        info = Holder.me(self.transport.origin()).encode()
        script = shell(LOCK_SCRIPT, info, self.method, self.directory, "system" if self.sudo else "user")
        task = asyncio.ensure_future(self.transport.run(script, sudo=self.sudo, stdin=self._stdin(),
                                                        on_lines=on_lines))
        either: set[asyncio.Future[Any]] = {task, held}
        done, _pending = await asyncio.wait(either, timeout=ANSWER_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        if not done:
            release.set()
            done, _pending = await asyncio.wait(either, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if not done:
            task.cancel()
            held.cancel()
            raise TransportError(_("regwiz's lock on {host} did not answer within {seconds:g} s: check that the host "
                                   "answers commands, then run again").format(host=self.transport.label,
                                                                              seconds=ANSWER_TIMEOUT))
        if held in done:
            self._task, self.path = task, held.result()
            task.add_done_callback(lambda t: self._lost(t, emit))
            return True, None
        held.cancel()
        result = task.result()  # a lost connection raises here: the caller says nothing was changed
        if result.exit_status == 3:
            lines = result.stdout.splitlines()
            after = lines[lines.index(BUSY) + 1:] if BUSY in lines else []
            return False, Holder.parse(after)
        raise TransportError(_("could not take regwiz's lock on {host} ({command} exited with {status}: {stderr}): "
                               "check that /run/lock or /tmp is writable there").format(
                                   host=self.transport.label, command=result.command, status=result.exit_status,
                                   stderr=result.stderr.strip()[-200:]))

    def _lost(self, task: asyncio.Task[CommandResult], emit: ScopedEmitter | None) -> None:
        if not task.cancelled():
            task.exception()  # retrieved: a dropped connection is reported by the step itself
        if self._release is not None and not self._release.is_set() and self._task is task and emit is not None:
            emit.warning(_("regwiz's lock on {host} went with its connection; it is taken again before the next "
                           "change").format(host=self.transport.label))

    async def acquire(self, emit: ScopedEmitter | None = None, wait: float | None = None) -> bool:
        """Hold the host; True when another run held it first (the caller plans again: the host changed)."""
        async with self._guard:
            if self.held:
                return False
            wait = lock_wait() if wait is None else wait
            loop = asyncio.get_running_loop()
            started = loop.time()
            waited = False
            while True:
                ok, holder = await self._try(emit)
                if ok:
                    if waited and emit is not None:
                        emit.info(_("took the lock on {host} after {seconds} s").format(
                            host=self.transport.label, seconds=f"{loop.time() - started:.1f}"))
                    return waited
                if holder is not None and holder.token == RUN_TOKEN:
                    self.shared = True  # this run, over another connection: it does not wait for itself
                    return False
                elapsed = loop.time() - started
                if elapsed >= wait:
                    raise HostBusy(self.transport.label, holder, elapsed)
                if not waited and emit is not None:
                    who = holder.describe() if holder else _("another regwiz run")
                    emit.warning(_("{host} is being changed by {who}: waiting up to {seconds} s").format(
                        host=self.transport.label, who=who, seconds=f"{wait:g}"))
                waited = True
                await asyncio.sleep(min(POLL, max(0.0, wait - elapsed)))

    async def release(self) -> None:
        """Let the holder on the host go (it removes its info file), and wait a moment for it."""
        async with self._guard:
            self.shared = False
            task, self._task, self.path = self._task, None, ""
            if self._release is not None:
                self._release.set()
            if task is None:
                return
            try:
                await asyncio.wait_for(asyncio.shield(task), 10)
            except (TransportError, asyncio.TimeoutError, OSError):
                pass  # the connection is gone: so is the lock


async def hold(transport: Transport, emit: ScopedEmitter | None = None, *, sudo: bool = True,
               wait: float | None = None) -> bool:
    """Make sure this transport holds its host's lock; True when another run held it first."""
    lock = transport.host_lock
    if lock is None or lock.sudo != sudo:
        if lock is not None:
            await lock.release()
        lock = transport.host_lock = HostLock(transport, sudo=sudo)
    return await lock.acquire(emit, wait)
