"""Fan-out: configuring 1, 4 and 8 fresh `linux_client` hosts against one registry regwiz deployed,
with the engine's configure_clients (trust the CA, log in, prove a pull on each). Goal: 8 in at most
twice the time of 1. Each round starts fresh clients (a configured client has nothing left to do)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from app.clients.configure import ClientSpec, configure_clients
from app.clients.model import RegistryTarget
from app.events import EventBus
from app.steps import Status
from benchmarks.common import Figure, median
from tests.registry_helpers import deployed
from tests.sshutil import by_key
from tests.testbed.hosts import Testbed, TestHost

DEFAULT_REPEAT = 2
SIZES = (1, 4, 8)


async def configure(hosts: list[TestHost], registry: RegistryTarget, work: Path) -> float:
    specs = [ClientSpec(h.address, lambda h=h: by_key(h, "root", work)) for h in hosts]

    async def confirm_all(plans: object) -> bool:
        return True

    started = time.perf_counter()
    results = await configure_clients(specs, registry, EventBus(), confirm_all)
    elapsed = time.perf_counter() - started
    failed = [f"{r.name}: {r.message}" for r in results if r.status is not Status.OK]
    assert not failed, f"clients failed: {failed}"
    return elapsed


def run(repeat: int) -> list[Figure]:
    work = Path(tempfile.mkdtemp(prefix="regwiz-bench-fanout-"))
    samples: dict[int, list[float]] = {n: [] for n in SIZES}
    with Testbed() as bed:
        server, = bed.start("ecs")
        registry = asyncio.run(deployed(bed, server, work))
        for round_ in range(repeat):
            for n in (SIZES if round_ % 2 == 0 else tuple(reversed(SIZES))):
                clients = bed.start(*["linux_client"] * n)
                try:
                    samples[n].append(asyncio.run(configure(clients, registry, work)))
                finally:
                    for host in clients:
                        bed.remove(host)
    one, four, eight = (median(samples[n]) for n in SIZES)
    return [Figure("fan-out 8 vs 1 client", eight, one, "s", "<= 2x", 2.0,
                   notes=[f"1 client {one:.2f} s, 4 clients {four:.2f} s, 8 clients {eight:.2f} s "
                          f"(medians of {repeat})"])]
