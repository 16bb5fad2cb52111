"""The diagnosis screen, driven with Pilot against a real host with the route conflict."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, DataTable, Log, Static

from app.transport.hostkeys import KnownHostsStore
from screens.app import RegwizApp
from screens.diagnose import DiagnoseScreen
from screens.plan import ChooseFixScreen, PlanScreen
from screens.target import TargetScreen
from tests.pilot_helpers import click_when_laid_out
from tests.testbed.hosts import TestHost


async def wait_for(pilot, predicate, seconds: float = 90) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.1)):
        if predicate():
            return
        await pilot.pause(0.1)
    raise AssertionError("condition not reached in time")


def cell(screen: DiagnoseScreen, row: str, column: str) -> str:
    return str(screen.query_one("#checks", DataTable).get_cell(row, column))


async def test_diagnose_and_fix_the_conflict_in_the_tui(fresh_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host: TestHost = fresh_host("ecs_conflict")
    # Trust the host as a user who accepted its key earlier would.
    store = KnownHostsStore.default()
    store.own.parent.mkdir(parents=True, exist_ok=True)
    host.write_known_hosts(store.own)
    app = RegwizApp()
    async with app.run_test(size=(110, 44)) as pilot:
        target = app.screen
        assert isinstance(target, TargetScreen)
        target.query_one("#host").value = host.address  # type: ignore[attr-defined]
        target.query_one("#password").value = host.root_password  # type: ignore[attr-defined]
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: not target.query_one("#next", Button).disabled)
        await pilot.click("#next")
        await wait_for(pilot, lambda: isinstance(app.screen, DiagnoseScreen) and bool(app.screen.query("#checks")))
        screen = app.screen
        assert isinstance(screen, DiagnoseScreen)
        await wait_for(pilot, lambda: "firewall" in screen.results)
        assert "no available network" in cell(screen, "network", "result")
        # Select the network row: its log, evidence and picture show.
        table = screen.query_one("#checks", DataTable)
        table.move_cursor(row=table.get_row_index("network"))
        await pilot.pause()
        evidence = str(screen.query_one("#evidence", Static).render())
        assert "routes to blame" in evidence and "172.16.0.0/12" in evidence
        assert "pools" in str(screen.query_one("#picture", Static).render())
        # The command that read the routes (with the addresses and resolv.conf, in one round trip), as it ran.
        assert any(line.startswith("$ ") and "ip -j -4 route" in line for line in screen.query_one("#log", Log).lines)
        await pilot.press("f")
        # Each modal is waited for until its widgets are mounted (it is the screen a moment before).
        await wait_for(pilot, lambda: isinstance(app.screen, ChooseFixScreen) and app.focused is not None
                       and app.focused.id == "fixes")
        await pilot.press("enter")  # the first: recommended
        await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen) and bool(app.screen.query("#plan-diff")))
        diff = str(app.screen.query_one("#plan-diff", Static).render())
        assert '"bip": "10.200.0.1/24"' in diff
        # Clicked once the button has its place: a click on the modal before its layout landed nowhere and
        # the wait below waited for a fix never applied (seen under load). The fix and the checks it reruns
        # took 6.5 s at a load average of 15-19 on 2 cores; 120 s is a bound, not an expectation.
        await click_when_laid_out(pilot, PlanScreen, "#apply")
        await wait_for(pilot, lambda: screen.results.get("network") is not None
                       and "no available network" not in cell(screen, "network", "result")
                       and "firewall" in screen.results, seconds=120)
        assert "10.200.0.0/24" in cell(screen, "network", "result")
