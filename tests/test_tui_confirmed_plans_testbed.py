"""The Clients screen applies the plan it showed: a host changed between the confirmation and the
apply is refused, naming the file, never given a silently different change (Pilot, a real client)."""

from __future__ import annotations

import asyncio

from textual.widgets import DataTable, Static

from app.clients.model import RegistryTarget
from app.steps import Status
from app.transport.hostkeys import KnownHostsStore
from screens.plan import PlanScreen
from tests.test_tui_clients import RecordingApp, open_screen, status, text_of, type_client, wait_until
from tests.testbed.hosts import Testbed


async def test_a_client_changed_after_the_confirmation_is_refused(testbed: Testbed,
                                                                 tls_registry: RegistryTarget) -> None:
    [host] = testbed.start("linux_client")
    ca_path = f"/etc/docker/certs.d/{tls_registry.address}/ca.crt"
    try:
        store = KnownHostsStore.default()
        store.own.parent.mkdir(parents=True, exist_ok=True)
        host.write_known_hosts(store.own)
        app = RecordingApp()
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_screen(pilot, tls_registry)
            table = screen.query_one("#clients", DataTable)
            await type_client(pilot, host.address, host.root_password)
            await wait_until(pilot, lambda: table.row_count == 1, "the client added")
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda: isinstance(app.screen, PlanScreen) and bool(app.screen.query("#plan-diff")),
                             "the plan modal", timeout=180)
            plan = app.screen
            assert "ca.crt" in text_of(plan.query_one("#plan-diff", Static))
            # Someone else writes the file while the plan is on the screen.
            await asyncio.to_thread(host.exec, "sh", "-c",
                                    f'mkdir -p "$(dirname {ca_path})" && echo "written meanwhile" > {ca_path}')
            await wait_until(pilot, lambda: app.focused is plan.query_one("#cancel"), "Cancel focused")
            await pilot.press("shift+tab")
            await wait_until(pilot, lambda: app.focused is plan.query_one("#apply"), "Apply focused")
            await pilot.press("enter")
            await wait_until(pilot, lambda: "clients pull" in status(screen), "the outcome", timeout=300)
            assert status(screen).startswith("0 of 1 clients pull"), status(screen)
            [result] = screen.results
            assert result.status is Status.FAILURE and result.stale, result.message
            assert ca_path in result.message and "plan again" in result.message
        assert host.exec("cat", ca_path).stdout == "written meanwhile\n"
    finally:
        testbed.remove(host)
