"""The transport for this machine: the same interface, through /bin/sh."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import getpass
import socket

from app.redact import Secret
from app.transport.base import LineSink, Stdin, Transport, chunks_of, pump


class LocalTransport(Transport):
    def __init__(self, sudo_password: Secret | None = None) -> None:
        super().__init__(sudo_password)
        self.label = f"{getpass.getuser()}@{socket.gethostname()} (this machine)"

    async def _execute(self, command_line: str, stdin: Stdin, sink: LineSink,
                       keep_output: bool, timeout: float | None) -> tuple[int, list[str], list[str]]:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", command_line,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # no terminal: sudo must never prompt on it
        )
        out: list[str] | None = [] if keep_output else None
        err: list[str] = []

        async def feed() -> None:
            assert proc.stdin is not None
            try:
                async for chunk in chunks_of(stdin):
                    proc.stdin.write(chunk)
                    await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the command did not read all its input
            finally:
                proc.stdin.close()

        async def work() -> int:
            assert proc.stdout is not None and proc.stderr is not None
            tasks = [pump(proc.stdout.read, "stdout", sink, out), pump(proc.stderr.read, "stderr", sink, err)]
            if stdin is not None:
                tasks.append(feed())
            await asyncio.gather(*tasks)
            return await proc.wait()

        try:
            status = await asyncio.wait_for(work(), timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            # The whole process group: a child still holding the pipes would
            # otherwise keep the command "running" after sh is gone.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise
        return status, out or [], err
