"""Many clients against one registry, on real hosts: a client that cannot be reached costs only its own
time-out (the others are worked on meanwhile, the run is not the sum), and a login the daemon gave up
waiting for (the registry did not answer) is tried once more, said so."""

from __future__ import annotations

import io
import time
from pathlib import Path

from app.clients.configure import ClientResult, ClientSpec, configure_clients, summary_table
from app.clients.model import ClientKind, RegistryTarget
from app.events import EventBus, EventKind, MemorySink
from app.progress import ClientProgress
from app.steps import Plan, Status
from tests.sshutil import root_by_password
from tests.testbed.hosts import Testbed

TIMEOUT = 6.0  # the blackholed client's connect time-out


async def test_one_unreachable_client_costs_only_its_own_timeout(testbed: Testbed, tls_registry: RegistryTarget,
                                                                 tmp_path: Path) -> None:
    hosts = testbed.start(*["linux_client"] * 4)
    dead = hosts[3]
    dead.exec("iptables", "-I", "INPUT", "-p", "tcp", "--dport", "22", "-j", "DROP")  # its SSH: a black hole
    try:
        specs = [ClientSpec(f"root@{h.address}", lambda h=h: root_by_password(h, tmp_path)) for h in hosts[:3]]
        specs.append(ClientSpec(f"root@{dead.address}",
                                lambda: root_by_password(dead, tmp_path, connect_timeout=TIMEOUT)))
        progress = ClientProgress(len(specs), io.StringIO())
        seen: dict[str, list[tuple[float, Status]]] = {s.name: [] for s in specs}
        started = time.monotonic()

        def on_update(result: ClientResult) -> None:
            seen[result.name].append((time.monotonic() - started, result.status))
            progress(result)

        async def confirm_all(plans: list[tuple[str, Plan]]) -> bool:
            return True

        results = await configure_clients(specs, tls_registry, EventBus(), confirm_all, on_update=on_update,
                                          limit=4)
        wall = time.monotonic() - started
        by_name = {r.name: r for r in results}
        lost = by_name[f"root@{dead.address}"]
        assert lost.status is Status.FAILURE and f"did not answer within {TIMEOUT:g} s" in lost.message, \
            lost.message
        others = [r for r in results if r is not lost]
        assert [r.status for r in others] == [Status.OK] * 3, summary_table(results)
        failed_at = next(t for t, s in seen[lost.name] if s is Status.FAILURE)
        assert TIMEOUT <= failed_at < TIMEOUT + 4, seen[lost.name]  # its own time-out, not queued behind others
        # The others were worked on from the start, not after the unreachable one gave up ...
        assert all(seen[r.name][0][0] < 2 for r in others), seen
        # ... so the run paid the time-out once, beside their work, not on top of each: less than the
        # time-out plus every other client's own time (each from its start to its pull).
        own = sum(seen[r.name][-1][0] - seen[r.name][0][0] for r in others)
        assert wall < TIMEOUT + own, (wall, own, seen)
        lines = progress.stream.getvalue().splitlines()  # type: ignore[attr-defined]
        assert lines[-1] == "== progress: 3 done, 1 failed, 0 running of 4 clients", lines
    finally:
        for host in hosts:
            testbed.remove(host)


async def test_a_login_the_registry_did_not_answer_in_time_is_tried_once_more(
        testbed: Testbed, tls_registry: RegistryTarget, tmp_path: Path) -> None:
    client, = testbed.start("linux_client")
    server = next(h for h in testbed.hosts if h.address == tls_registry.host)
    bus = EventBus()
    sink = MemorySink()
    bus.subscribe(sink)
    warned: list[str] = []

    def unfreeze_when_warned(event) -> None:  # type: ignore[no-untyped-def]
        # dockerd gave up waiting for the frozen registry: let it answer the second attempt.
        if event.kind is EventKind.WARNING and "did not answer the login in time" in event.text and not warned:
            warned.append(event.text)
            server.exec("docker", "unpause", "registry")

    bus.subscribe(unfreeze_when_warned)
    assert tls_registry.ca_pem is not None  # the client trusts the registry's CA (the trust step's file)
    client.sh(f"mkdir -p /etc/docker/certs.d/{tls_registry.address} && printf '%s' "
              f"'{tls_registry.ca_pem.decode()}' > /etc/docker/certs.d/{tls_registry.address}/ca.crt")
    server.exec("docker", "pause", "registry")  # the kernel still accepts its TCP connections; nothing answers
    try:
        async with root_by_password(client, tmp_path) as t:
            await ClientKind.LINUX.login(t, tls_registry, bus.scoped(source="client", host=client.address))
        assert len(warned) == 1, sink.lines()
        # The daemon's own words quoted: a frozen registry stalls its TLS handshake ("net/http: TLS handshake
        # timeout"); a registry busy with bcrypt answers the handshake and not the request ("context
        # deadline exceeded", the fan-out at 32).
        assert "Error response from daemon" in warned[0] and "timeout" in warned[0].lower(), warned
        logins = [line for line in sink.lines(EventKind.COMMAND) if "docker login" in line]
        assert len(logins) == 2, logins  # once more, not until it works
        config = client.exec("cat", "/root/.docker/config.json").stdout
        assert tls_registry.address in config
    finally:
        server.exec("docker", "unpause", "registry", check=False)
        testbed.remove(client)
