"""Fan-out: configuring 1, 4 and 8 fresh `linux_client` hosts against one registry regwiz deployed,
with the engine's configure_clients (trust the CA, log in, prove a pull on each). Goal: 8 in at most
twice the time of 1. Each round starts fresh clients (a configured client has nothing left to do).

Only configure_clients is timed: the registry is deployed and its test image pushed before, and each
round's hosts are booted (systemd up, dockerd answering) before the clock starts. The notes say where
the 8 clients' time goes: regwiz's own CPU (its process) against the CPU the whole machine spent
meanwhile; here the hosts (sshd, sudo, docker CLI, dockerd, the registry checking bcrypt passwords)
run on the same cores as regwiz, which real clients would not."""

from __future__ import annotations

import asyncio
import os
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


def machine_busy_seconds() -> float:
    """CPU seconds this machine has spent busy (all cores, every process), from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return float("nan")
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


async def configure(hosts: list[TestHost], registry: RegistryTarget, work: Path,
                    cpu: dict[str, float] | None = None) -> float:
    specs = [ClientSpec(h.address, lambda h=h: by_key(h, "root", work)) for h in hosts]

    async def confirm_all(plans: object) -> bool:
        return True

    busy, own = machine_busy_seconds(), time.process_time()
    started = time.perf_counter()
    results = await configure_clients(specs, registry, EventBus(), confirm_all)
    elapsed = time.perf_counter() - started
    if cpu is not None:
        cpu["regwiz"], cpu["machine"] = time.process_time() - own, machine_busy_seconds() - busy
    failed = [f"{r.name}: {r.message}" for r in results if r.status is not Status.OK]
    assert not failed, f"clients failed: {failed}"
    return elapsed


def run(repeat: int) -> list[Figure]:
    work = Path(tempfile.mkdtemp(prefix="regwiz-bench-fanout-"))
    samples: dict[int, list[float]] = {n: [] for n in SIZES}
    cpus: dict[int, list[dict[str, float]]] = {n: [] for n in SIZES}
    with Testbed() as bed:
        server, = bed.start("ecs")
        registry = asyncio.run(deployed(bed, server, work))
        for round_ in range(repeat):
            for n in (SIZES if round_ % 2 == 0 else tuple(reversed(SIZES))):
                clients = bed.start(*["linux_client"] * n)
                try:
                    cpu: dict[str, float] = {}
                    samples[n].append(asyncio.run(configure(clients, registry, work, cpu)))
                    cpus[n].append(cpu)
                finally:
                    for host in clients:
                        bed.remove(host)
    one, four, eight = (median(samples[n]) for n in SIZES)
    cores = os.cpu_count() or 1

    def where(n: int) -> str:
        own = median([c["regwiz"] for c in cpus[n]])
        machine = median([c["machine"] for c in cpus[n]])
        return (f"{n}: regwiz's own CPU {own:.2f} s, the machine's {machine:.2f} s of "
                f"{cores * median(samples[n]):.2f} s ({cores} cores x wall)")

    return [Figure("fan-out 8 vs 1 client", eight, one, "s", "<= 2x", 2.0,
                   notes=[f"1 client {one:.2f} s, 4 clients {four:.2f} s, 8 clients {eight:.2f} s "
                          f"(medians of {repeat})",
                          "CPU while configuring (medians) " + "; ".join(where(n) for n in (1, 8))])]
