"""A link with a delay, for every tool alike: this kernel has no netem, so a small asyncio TCP forwarder
delays the bytes each way by N ms, and an iptables rule (nat OUTPUT, REDIRECT) sends this machine's SSH
connections to a host through it. The tools connect to the host's own address as always (their profile,
inventory and known_hosts are unchanged); the forwarder's own connection to the host carries a firewall
mark the rule skips. Only SSH goes through the link (the registry's HTTPS from this machine does not).

``measure(...)`` shows the delay it really adds: 1-byte round trips through a forwarder in front of a
local echo server, against the same without it, and a tiny SSH command on an open connection, direct
against through the link.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Coroutine
from typing import Any

MARK = 0x5247  # "RG": the forwarder's own connections to the hosts, which the rule lets by
SO_MARK = getattr(socket, "SO_MARK", 36)


class DelayForwarder:
    """Listens on 127.0.0.1; each connection is forwarded to ``target`` with every chunk of bytes
    delivered ``delay`` seconds after it arrived (in order; a chunk's delay does not add to the next's)."""

    def __init__(self, target: tuple[str, int], delay_ms: float, mark: bool = True) -> None:
        self.target, self.delay, self.mark = target, delay_ms / 1000, mark
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.connections = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if self.mark:
            sock.setsockopt(socket.SOL_SOCKET, SO_MARK, MARK)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.get_running_loop().sock_connect(sock, self.target)
        return await asyncio.open_connection(sock=sock)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            up_reader, up_writer = await self._connect()
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                                 return_exceptions=True)
        except asyncio.CancelledError:
            # The link closing: end quietly (asyncio's stream callback asks a cancelled task for its
            # exception and prints the CancelledError as a traceback otherwise).
            writer.close()
            up_writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                data = await reader.read(65536)
                queue.put_nowait((time.monotonic() + self.delay, data))
                if not data:
                    break
            await sender
        except (ConnectionError, OSError):
            sender.cancel()
        finally:
            if sender.done() or sender.cancelled():
                writer.close()


async def _cancel_others() -> None:
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


class Link:
    """A background event loop holding one forwarder per host, and the iptables rules that use them."""

    def __init__(self, delay_ms: float) -> None:
        self.delay_ms = delay_ms
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="delay-link", daemon=True)
        self.thread.start()
        self.rules: list[list[str]] = []
        self.forwarders: list[DelayForwarder] = []

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def add(self, address: str, port: int = 22) -> DelayForwarder:
        """From now on this machine's connections to ``address:port`` go through the delay."""
        forwarder = DelayForwarder((address, port), self.delay_ms)
        local = self._call(forwarder.start())
        rule = ["-t", "nat", "-I", "OUTPUT", "-p", "tcp", "-d", address, "--dport", str(port),
                "-m", "mark", "!", "--mark", str(MARK), "-j", "REDIRECT", "--to-ports", str(local)]
        subprocess.run(["iptables", *rule], check=True, capture_output=True, timeout=30)
        self.rules.append(rule)
        self.forwarders.append(forwarder)
        return forwarder

    def close(self) -> None:
        for rule in self.rules:
            subprocess.run(["iptables", *[("-D" if part == "-I" else part) for part in rule]],
                           check=False, capture_output=True, timeout=30)
        self.rules.clear()
        for forwarder in self.forwarders:
            self._call(forwarder.close())
        self._call(_cancel_others())  # (connections the tools left open end with the link)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    def __enter__(self) -> "Link":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _echo_round_trips(delay_ms: float, count: int) -> tuple[float, float]:
    """Median 1-byte round trip (ms) to a local echo server: direct, and through a forwarder."""
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    forwarder = DelayForwarder(("127.0.0.1", port), delay_ms, mark=False)
    through = await forwarder.start()
    medians = []
    for target in (port, through):
        reader, writer = await asyncio.open_connection("127.0.0.1", target)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = []
        for _ in range(count):
            started = time.perf_counter()
            writer.write(b"x")
            await writer.drain()
            await reader.readexactly(1)
            times.append((time.perf_counter() - started) * 1000)
        writer.close()
        medians.append(statistics.median(times))
    await asyncio.sleep(2 * delay_ms / 1000 + 0.05)  # (the EOFs pass the delay; the echo ends)
    await forwarder.close()
    server.close()
    return medians[0], medians[1]


def echo_round_trips(delay_ms: float, count: int = 20) -> tuple[float, float]:
    return asyncio.run(_echo_round_trips(delay_ms, count))


def ssh_command_ms(address: str, key: str, known: str, count: int = 10) -> float:
    """Median wall time (ms) of `true` on one open SSH connection (asyncssh, host key checked against
    ``known``): what a remote command costs a tool that keeps its connection open."""
    import asyncssh

    async def measure() -> float:
        async with asyncssh.connect(address, username="root", client_keys=[key], known_hosts=known,
                                    agent_path=None) as conn:
            await conn.run("true", check=True)  # (the first one warms up)
            times = []
            for _ in range(count):
                started = time.perf_counter()
                await conn.run("true", check=True)
                times.append((time.perf_counter() - started) * 1000)
            return statistics.median(times)

    return asyncio.run(measure())
