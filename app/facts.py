"""Typed host facts, gathered once per connection and kept with it (pyinfra's facts, in small).

A fact is a small typed value (a frozen dataclass such as ``DockerService``) read off a host by
one gathering function. ``fact(transport, DockerService, DockerService.detect)`` gathers it the
first time it is asked for on that connection and returns the same value after; steps' planning
asks for facts this way, so a planning test gives them with ``remember`` and runs no command for
them. A fact that can change under regwiz (Docker installed by a fix) is ``forget``-ed by what
changes it; what is not settled yet (no Docker init found) is not kept.

The diagnosis shares what one check learns with the next this way too (``HostSystem``,
``DockerState``, the network check's ``NetworkFacts``): the Docker check gathers ``DockerState`` and
the network check reads it; a fix that changes Docker forgets it.
"""

from __future__ import annotations

import asyncio
import re
import types
import weakref
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, TypeVar

from app.dockerd import DockerService
from app.events import ScopedEmitter
from app.transport import Transport, shell

T = TypeVar("T")

_FACTS: "weakref.WeakKeyDictionary[Transport, dict[type, object]]" = weakref.WeakKeyDictionary()
#: Facts being gathered: a second asker meanwhile (the diagnosis's checks run concurrently) waits for the
#: same answer instead of asking the host again.
_GATHERING: "weakref.WeakKeyDictionary[Transport, dict[type, asyncio.Future[Any]]]" = weakref.WeakKeyDictionary()


async def fact(transport: Transport, kind: type[T], gather: Callable[[Transport], Awaitable[T]],
               keep: Callable[[T], bool] = lambda value: True) -> T:
    known = _FACTS.setdefault(transport, {})
    value = known.get(kind)
    if isinstance(value, kind):
        return value
    gathering = _GATHERING.setdefault(transport, {})
    if kind in gathering:
        return await asyncio.shield(gathering[kind])  # type: ignore[no-any-return]
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    gathering[kind] = future
    try:
        gathered = await gather(transport)
    except BaseException as exc:
        pass_on_failure(future, exc)
        raise
    finally:
        gathering.pop(kind, None)
    if keep(gathered):
        known[kind] = gathered
    future.set_result(gathered)
    return gathered


def pass_on_failure(future: "asyncio.Future[Any]", exc: BaseException) -> None:
    """Work that others wait for through ``future`` failed with ``exc``: each of them gets the error (marked
    retrieved: it is raised where the work ran too), or, when the work was cancelled, a cancelled future."""
    if future.done():
        return
    if isinstance(exc, Exception):
        future.set_exception(exc)
        future.exception()
    else:
        future.cancel()


def remember(transport: Transport, value: object) -> None:
    """Give a fact (recorded facts in a planning test; a value gathered another way)."""
    _FACTS.setdefault(transport, {})[type(value)] = value


def forget(transport: Transport, kind: type) -> None:
    _FACTS.get(transport, {}).pop(kind, None)


def known(transport: Transport, kind: type[T]) -> T | None:
    """The fact of this kind already gathered on this connection, or None (nothing is run)."""
    value = _FACTS.get(transport, {}).get(kind)
    return value if isinstance(value, kind) else None


async def docker_service(transport: Transport) -> DockerService:
    """How this host's init runs dockerd (kept once an init is found: a missing Docker may be installed)."""
    return await fact(transport, DockerService, DockerService.detect, keep=lambda s: s.init != "none")


def parse_os_release(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _sep, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"')
    return values


# Ends each snippet's section of one command's output, with the snippet's exit status; a line no file or
# tool prints on its own.
_SECTION = "@@regwiz-section@@"
_SECTION_END = re.compile(rf"{_SECTION} (\d+)\n?")


@dataclass(frozen=True)
class Reply:
    """What one snippet of ``read_in_one`` printed (stdout, as CommandResult.stdout: no final newline), and
    its exit status (None: it never finished)."""

    text: str
    status: int | None

    @property
    def ok(self) -> bool:
        return self.status == 0


async def read_in_one(transport: Transport, scripts: list[str], emit: ScopedEmitter | None = None,
                      sudo: bool = False, timeout: float | None = None) -> list[Reply]:
    """What each read-only shell snippet printed and how it exited, run as one remote command (one round
    trip, not len(scripts)).

    Each snippet's errors are its own (its stderr is dropped): one that fails leaves its section as far as
    it printed, with its status. A section the command never reached (cut short) has status None.
    The snippets are regwiz's own text, and none ends the shell (``exit``); values in them must already
    be quoted (shlex.quote).
    """
    joined = "; ".join(f"{{ {script}; }} 2>/dev/null; echo {_SECTION} $?" for script in scripts) + "; exit 0"
    out = (await transport.run(shell(joined), sudo=sudo, emit=emit, timeout=timeout)).stdout
    pieces = _SECTION_END.split(out)  # text, status, text, status, ..., what followed the last section
    # Each text as the snippet alone would give it (CommandResult.stdout): no newline after its last line.
    replies = [Reply(pieces[i].removesuffix("\n"), int(pieces[i + 1])) for i in range(0, len(pieces) - 1, 2)]
    if pieces[-1]:
        replies.append(Reply(pieces[-1], None))
    return (replies + [Reply("", None)] * len(scripts))[:len(scripts)]


@dataclass(frozen=True)
class HostSystem:
    """What the host is: its os-release, the machine's architecture, PID 1 (none of it changes under regwiz)."""

    os_release: Mapping[str, str]
    arch: str
    pid1: str

    @property
    def name(self) -> str | None:
        return self.os_release.get("PRETTY_NAME") or self.os_release.get("NAME") or None

    @classmethod
    async def gather(cls, transport: Transport, emit: ScopedEmitter | None = None) -> "HostSystem":
        # One round trip for the three reads (a missing file leaves its section empty).
        os_text, arch, pid1 = (reply.text for reply in await read_in_one(
            transport, ["cat /etc/os-release", "uname -m", "cat /proc/1/comm"], emit))
        return cls(types.MappingProxyType(parse_os_release(os_text)), arch.strip(), pid1.strip())


async def host_system(transport: Transport, emit: ScopedEmitter | None = None) -> HostSystem:
    return await fact(transport, HostSystem, lambda t: HostSystem.gather(t, emit))


@dataclass(frozen=True)
class DockerState:
    """Whether Docker is installed, its version line, whether the daemon answers, and its log if it did not."""

    installed: bool
    version: str | None  # as `dockerd --version` printed it
    running: bool
    log: str | None = None  # the daemon's recent log lines, read when it was not running
    enabled: bool | None = None  # started at boot (systemd only; None where the init cannot say)

    @classmethod
    async def gather(cls, transport: Transport, emit: ScopedEmitter | None = None) -> "DockerState":
        service = await docker_service(transport)
        # One round trip: the version (127: no Docker), whether the daemon answers (DockerService.answers)
        # and, on systemd, whether it starts at boot; its log only when it did not answer (the last
        # snippet reads the answer dockerd.ANSWERED left in the shell the snippets share).
        reads = ["if command -v dockerd >/dev/null 2>&1 || command -v docker >/dev/null 2>&1; then "
                 "dockerd --version 2>/dev/null || docker --version; else (exit 127); fi",
                 *service.state_reads(),
                 f'[ "$regwiz_s" = 0 ] && [ -n "$regwiz_v" ] || {{ {service.log_command()}; }}']
        version, *state, log = await read_in_one(transport, reads, emit, sudo=True, timeout=20)
        if version.status == 127:
            return cls(installed=False, version=None, running=False)
        running, enabled = service.state_of(state)
        return cls(installed=True, version=version.text.strip() or None, running=running,
                   log=None if running else log.text, enabled=enabled)


async def docker_state(transport: Transport, emit: ScopedEmitter | None = None) -> DockerState:
    """Docker's state as last gathered on this connection (the Docker check gathers it afresh)."""
    return await fact(transport, DockerState, lambda t: DockerState.gather(t, emit))
