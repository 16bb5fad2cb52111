"""Snapshot tests of key screens (pytest-textual-snapshot). Update with --snapshot-update.

Every screen at the smallest size regwiz supports (80x24) and a common larger one (120x40),
reviewed for cut text when updated. The clients, dashboard, summary and onboarding screens
have files of their own (tests/test_snapshots_*.py).
"""

from __future__ import annotations

import pytest

from screens.app import RegwizApp
from screens.hostkey import HostKeyScreen
from tests.snapshot_helpers import steady

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.mark.parametrize("size", SIZES)
def test_first_screen(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(RegwizApp(), terminal_size=size, run_before=steady)


def test_first_screen_with_key_auth_and_errors(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()  # (the first screen is the app's default screen: composed once the app is ready)
        await pilot.click("#auth-key")
        pilot.app.screen.query_one("#host").focus()
        await pilot.press(*"bad host!")
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=(80, 24), run_before=setup)


@pytest.mark.parametrize("size", SIZES)
def test_host_key_modal(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        pilot.app.push_screen(HostKeyScreen(
            "root@203.0.113.10", "ssh-ed25519", "SHA256:q8tqWKBvbRSKxMZ9mJ0kI5vQ0PVrR3s0PW9wJ3Wkf2E"))
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)


@pytest.mark.parametrize("size", SIZES)
def test_diagnosis_screen_with_results(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    """The diagnosis screen rendering fixed results (no host: the content is the test's)."""
    from app.diagnose.base import CheckResult
    from app.steps import Status
    from app.transport.local import LocalTransport
    from screens.diagnose import DiagnoseScreen

    results = [
        CheckResult("system", "System", Status.OK, "Debian GNU/Linux 12 (bookworm), x86_64, systemd"),
        CheckResult("docker", "Docker", Status.WARNING, "Docker version 20.10.24: installed, not running"),
        CheckResult("network", "Route conflict", Status.FAILURE,
                    'dockerd gets no address range: "no available network"',
                    evidence=["routes to blame: 172.16.0.0/12 dev eth0 scope link"],
                    picture=["172.16.0.0/12:  a cell per /16", "routes (link)  # # # #"]),
        CheckResult("port", "Registry port", Status.OK, "5000/tcp is free"),
    ]

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        app = pilot.app
        screen = DiagnoseScreen(app.bus, LocalTransport(), "203.0.113.10", autorun=False)
        await app.push_screen(screen)
        for result in results:
            screen.record_result(result)
        table = screen.query_one("#checks")
        table.move_cursor(row=2)
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)


@pytest.mark.parametrize("size", SIZES)
def test_plan_modal_with_typed_confirmation(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    from app.remote_files import FileChange
    from app.steps import Plan
    from screens.plan import PlanScreen

    plan = Plan("Delete 172.16.0.0/12 dev eth0 scope link",
                changes=[FileChange("/etc/network/interfaces", "auto eth0\nup route add -net 172.16.0.0 "
                                    "netmask 255.240.0.0 dev eth0\n", "auto eth0\n")],
                actions=["ip route del 172.16.0.0/12 dev eth0 scope link"], typed_confirmation="172.16.0.0/12")

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        pilot.app.push_screen(PlanScreen(plan))
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)


def _deploy_screen(app):  # type: ignore[no-untyped-def]
    from app.transport.local import LocalTransport
    from screens.deploy import DeployScreen

    return DeployScreen(app.bus, LocalTransport(), "203.0.113.10", "203.0.113.10")


@pytest.mark.parametrize("size", SIZES)
def test_deploy_screen(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.app.push_screen(_deploy_screen(pilot.app))
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)


def test_deploy_screen_insecure_choice_light_theme(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        pilot.app.theme = "textual-light"
        screen = _deploy_screen(pilot.app)
        await pilot.app.push_screen(screen)
        screen.query_one("#tls-none").value = True
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=(120, 40), run_before=setup)


@pytest.mark.parametrize("size", SIZES)
def test_choose_fix_modal(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    from screens.plan import ChooseFixScreen

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        pilot.app.push_screen(ChooseFixScreen([
            "Give Docker free address ranges (daemon.json bip and default-address-pools)",
            "Delete the route 172.16.0.0/12 dev eth0 scope link (the seed's way)"]))
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)
