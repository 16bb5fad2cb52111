"""The clients screen, with Pilot: a list of machines configured at once, against the testbed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import DataTable, Input, Log, Static

from app.clients.model import RegistryTarget
from app.transport.hostkeys import KnownHostsStore
from screens.app import RegwizApp
from screens.clients import ClientsScreen, hosts_from_text, ssh_config_hosts
from screens.hostkey import HostKeyScreen
from screens.plan import PlanScreen
from tests.testbed.hosts import Testbed, TestHost


def test_host_lists_from_ssh_config_and_text(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host web1 web2\n  HostName 10.0.0.1\nHost *.internal\nhost db\n")
    assert ssh_config_hosts(config) == ["web1", "web2", "db"]
    assert hosts_from_text("# fleet\n10.0.0.1\nroot@10.0.0.2:2222  # db\n\n") == ["10.0.0.1", "root@10.0.0.2:2222"]


async def test_no_clients_is_refused() -> None:
    app = RegwizApp()
    async with app.run_test(size=(120, 50)) as pilot:
        screen = ClientsScreen(app.bus, RegistryTarget("203.0.113.10", 5000, True, None))
        await app.push_screen(screen)
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert "add at least one client" in str(screen.query_one("#clients-status", Static).render())


async def test_configure_two_clients_in_the_tui(testbed: Testbed, tls_registry: RegistryTarget) -> None:
    hosts: list[TestHost] = testbed.start("linux_client", "sysv_client")
    try:
        # One host is known already; the other's key is shown and accepted in the modal.
        store = KnownHostsStore.default()
        store.own.parent.mkdir(parents=True, exist_ok=True)
        hosts[0].write_known_hosts(store.own)
        app = RegwizApp()
        async with app.run_test(size=(130, 50)) as pilot:
            screen = ClientsScreen(app.bus, tls_registry)
            await app.push_screen(screen)
            for host in hosts:
                screen.query_one("#client-host", Input).value = host.address
                screen.query_one("#client-password", Input).value = host.root_password
                await pilot.click("#add-client")
                await pilot.pause()
            table = screen.query_one("#clients", DataTable)
            assert table.row_count == 2
            await pilot.press("ctrl+r")
            for _ in range(600):
                if isinstance(app.screen, (HostKeyScreen, PlanScreen)):
                    break
                await pilot.pause(0.1)
            assert isinstance(app.screen, HostKeyScreen)
            await pilot.pause(0.2)
            await pilot.click("#accept")
            for _ in range(600):
                if isinstance(app.screen, PlanScreen):
                    break
                await pilot.pause(0.1)
            assert isinstance(app.screen, PlanScreen), (app.screen, screen.logs,
                                                         str(screen.query_one("#clients-status", Static).render()))
            await pilot.pause(0.2)
            assert "ca.crt" in str(app.screen.query_one("#plan-diff", Static).render())
            await pilot.click("#apply")
            await pilot.pause()
            assert not isinstance(app.screen, PlanScreen), "the plan was not confirmed"
            for _ in range(1200):
                if "clients pull" in str(screen.query_one("#clients-status", Static).render()):
                    break
                await pilot.pause(0.1)
            status = str(screen.query_one("#clients-status", Static).render())
            assert status.startswith("2 of 2 clients pull"), status
            summary = str(screen.query_one("#clients-summary", Static).render())
            assert "linux" in summary and "sysv" in summary and "pulled" in summary
            log = screen.query_one("#log", Log)
            assert any("docker pull" in line for line in log.lines)
            for host in hosts:
                assert host.root_password not in "\n".join(log.lines)
            # Tunnel mode for the selected client: its localhost:5000 leads to the registry.
            table.move_cursor(row=0)
            await pilot.pause()
            await pilot.click("#tunnel")
            for _ in range(100):
                if "Tunnel open" in str(screen.query_one("#clients-status", Static).render()):
                    break
                await pilot.pause(0.1)
            assert "Tunnel open" in str(screen.query_one("#clients-status", Static).render())
            assert f"docker pull localhost:{tls_registry.port}/" in \
                str(screen.query_one("#clients-summary", Static).render())
            # In a thread: the tunnel's traffic is carried by this test's own event loop.
            answer = await asyncio.to_thread(hosts[0].exec, "curl", "-sk", "-o", "/dev/null", "-w",
                                             "%{http_code}", f"https://127.0.0.1:{tls_registry.port}/v2/")
            assert answer.stdout == "401"  # the registry itself answers through the tunnel
    finally:
        for host in hosts:
            testbed.remove(host)
