"""Snapshots of the dashboard and its secrets modal (layout only: the rows are stubbed, no host).

Update with --snapshot-update, then look at the SVGs: the status line, the selected
row's detail and the buttons must be in view at 80x24.
"""

from __future__ import annotations

import pytest

from app.dashboard import NeededSecret
from app.steps import Status
from screens.app import RegwizApp
from tests.snapshot_helpers import steady

LONG = ("nothing listens on 203.0.113.10:5000; the host restarted and Docker is not running: it is not "
        "enabled at boot. Fix: regwiz diagnose --yes enables and starts it")


def _rows():  # type: ignore[no-untyped-def]
    from app.dashboard import HealthRow

    return [HealthRow("host", "203.0.113.10 reachable", Status.OK, "connected to root@203.0.113.10"),
            HealthRow("docker", "Docker healthy", Status.OK, "the daemon answers"),
            HealthRow("bridge", "No bridge conflict", Status.OK, "docker0 172.17.0.0/16 overlaps no route"),
            HealthRow("registry", "Registry up", Status.FAILURE, LONG, "deploy"),
            HealthRow("tls", "TLS certificate", Status.WARNING, "valid, 12 days to expiry (TLSv1.3)", "deploy"),
            HealthRow("auth", "Auth working", Status.SKIPPED,
                      "skipped: no password given (set REGISTRY_CI_PASSWORD or re-check and enter it)"),
            HealthRow("client:root@198.51.100.7", "root@198.51.100.7 pulls", Status.OK, "linux: pulled in 1.4 s")]


def _dashboard(size: tuple[int, int]):  # type: ignore[no-untyped-def]
    from app.profiles import Profile, ServerProfile
    from screens.dashboard import DashboardScreen

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = DashboardScreen(pilot.app.bus, Profile(server=ServerProfile(host="203.0.113.10")), autorun=False)
        await pilot.app.push_screen(screen)
        for row in _rows():
            screen.show_row(row)
        screen.query_one("#dashboard-status").update(
            "2 of 7 need attention: select a row and press f; 1 skipped for want of a secret: press r to enter it.")
        screen.query_one("#health").move_cursor(row=3)
        await pilot.pause()

    return setup


def test_dashboard_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(RegwizApp(), terminal_size=(80, 24), run_before=_dashboard((80, 24)))


def test_dashboard_120x40(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(RegwizApp(), terminal_size=(120, 40), run_before=_dashboard((120, 40)))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_secrets_modal(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    from screens.secrets import SecretsScreen

    needed = [NeededSecret("server.password", "SSH password of root@203.0.113.10", None, optional=True),
              NeededSecret("registry.password", "password of registry user ci", "REGISTRY_CI_PASSWORD"),
              NeededSecret("client0.password", "SSH password of root@198.51.100.7", "CLIENT_PASSWORD")]

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        pilot.app.push_screen(SecretsScreen(needed))
        await pilot.pause()
        await pilot.press(*"hunter2")
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)
