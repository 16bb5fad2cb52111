"""Typed host facts, gathered once per connection and kept with it (pyinfra's facts, in small).

A fact is a small typed value (a frozen dataclass such as ``DockerService``) read off a host by
one gathering function. ``fact(transport, DockerService, DockerService.detect)`` gathers it the
first time it is asked for on that connection and returns the same value after; steps' planning
asks for facts this way, so a planning test gives them with ``remember`` and runs no command for
them. A fact that can change under regwiz (Docker installed by a fix) is ``forget``-ed by what
changes it; what is not settled yet (no Docker init found) is not kept.
"""

from __future__ import annotations

import weakref
from typing import Awaitable, Callable, TypeVar

from app.dockerd import DockerService
from app.transport import Transport

T = TypeVar("T")

_FACTS: "weakref.WeakKeyDictionary[Transport, dict[type, object]]" = weakref.WeakKeyDictionary()


async def fact(transport: Transport, kind: type[T], gather: Callable[[Transport], Awaitable[T]],
               keep: Callable[[T], bool] = lambda value: True) -> T:
    known = _FACTS.setdefault(transport, {})
    value = known.get(kind)
    if isinstance(value, kind):
        return value
    gathered = await gather(transport)
    if keep(gathered):
        known[kind] = gathered
    return gathered


def remember(transport: Transport, value: object) -> None:
    """Give a fact (recorded facts in a planning test; a value gathered another way)."""
    _FACTS.setdefault(transport, {})[type(value)] = value


def forget(transport: Transport, kind: type) -> None:
    _FACTS.get(transport, {}).pop(kind, None)


async def docker_service(transport: Transport) -> DockerService:
    """How this host's init runs dockerd (kept once an init is found: a missing Docker may be installed)."""
    return await fact(transport, DockerService, DockerService.detect, keep=lambda s: s.init != "none")
