"""`regwiz setup --yes` plans its clients while the registry is deployed, and changes them only after.

Over a slow link each client's connection, detection and plan reads cost round trips; setup hides them
behind the registry host's own work (issue 16). What must not change: nothing on a client is confirmed or
changed before the registry is deployed, and nothing at all when the deploy fails.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from app.clients.configure import ClientSpec, configure_clients
from app.clients.model import RegistryTarget
from app.events import EventBus, MemorySink
from app.steps import Plan, Status
from tests.cli_helpers import json_lines, registry_profile, regwiz
from tests.sshutil import root_by_password
from tests.testbed.hosts import TestHost


def _ca_on(host: TestHost, address: str) -> bool:
    return host.exec("test", "-e", f"/etc/docker/certs.d/{address}/ca.crt", check=False).returncode == 0


async def test_clients_are_planned_before_the_registry_is_ready_and_changed_only_after(
        fresh_host, tls_registry: RegistryTarget, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client: TestHost = fresh_host("linux_client")
    spec = ClientSpec(f"root@{client.address}", lambda: root_by_password(client, tmp_path))
    confirmed: list[list[tuple[str, Plan]]] = []

    async def confirm_all(plans: list[tuple[str, Plan]]) -> bool:
        confirmed.append(plans)
        return True

    seen_at_gate: list[tuple[int, bool]] = []

    def gate(answer: bool):  # type: ignore[no-untyped-def]
        async def registry_ready() -> bool:
            # Asked once every client is planned: the plans exist, nothing is confirmed or written yet.
            seen_at_gate.append((len(confirmed), _ca_on(client, tls_registry.address)))
            await asyncio.sleep(0.2)
            return answer
        return registry_ready

    bus = EventBus()
    sink = MemorySink()
    bus.subscribe(sink)
    results = await configure_clients([spec], tls_registry, bus, confirm_all, registry_ready=gate(False))
    assert seen_at_gate == [(0, False)]
    assert [r.status for r in results] == [Status.SKIPPED], results
    assert results[0].plans and any("ca.crt" in p.diff() for p in results[0].plans), "it was planned"
    assert not confirmed and not _ca_on(client, tls_registry.address), "a registry not deployed changes nothing"

    results = await configure_clients([spec], tls_registry, bus, confirm_all, registry_ready=gate(True))
    assert seen_at_gate[1] == (0, False)
    assert [r.status for r in results] == [Status.OK], [r.message for r in results]
    assert len(confirmed) == 1 and _ca_on(client, tls_registry.address)


def test_setup_whose_deploy_fails_leaves_its_clients_untouched_and_unreported(
        fresh_host, regwiz_home: Path, cli_env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    server: TestHost = fresh_host("ecs")
    server.exec("/usr/sbin/sshd", "-p", "5000")  # the registry's port is taken: nothing is deployed
    client: TestHost = fresh_host("linux_client")
    profile = registry_profile(regwiz_home, server, cli_env, clients=[client])
    before = client.exec("sh", "-c", "ls -la --time-style=full-iso /etc/docker; cat /etc/docker/daemon.json",
                         check=False).stdout
    run = regwiz("setup", "--profile", str(profile), "--yes", "--json", env=cli_env)
    assert run.returncode != 0, run.stdout[-3000:]
    records = json_lines(run.stdout)
    assert not [r for r in records if r["type"] == "step" and r["outcome"] == "applied and verified"
                and "registry" in r["step"].lower()], records
    assert not [r for r in records if r["type"] in ("client", "plan")], records
    assert not _ca_on(client, f"{server.address}:5000")
    assert client.exec("sh", "-c", "ls -la --time-style=full-iso /etc/docker; cat /etc/docker/daemon.json",
                       check=False).stdout == before
    # It was connected and planned meanwhile (its log says what it read), and only that.
    logs = list((regwiz_home / "state" / "logs").rglob(f"clients--root@{client.address}.log"))
    assert logs, sorted(p.name for p in (regwiz_home / "state" / "logs").rglob("*.log"))
    text = logs[0].read_text()
    assert "detected" in text and "upload" not in text and "docker login" not in text, text[-2000:]
