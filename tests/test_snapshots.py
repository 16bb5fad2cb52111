"""Snapshot tests of key screens (pytest-textual-snapshot). Update with --snapshot-update."""

from __future__ import annotations

from screens.app import RegwizApp
from screens.hostkey import HostKeyScreen


def test_first_screen_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(RegwizApp(), terminal_size=(80, 24))


def test_first_screen_with_key_auth_and_errors(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.click("#auth-key")
        await pilot.press(*"bad host!")
        await pilot.pause()

    assert snap_compare(RegwizApp(), terminal_size=(100, 34), run_before=setup)


def test_host_key_modal(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        pilot.app.push_screen(HostKeyScreen(
            "root@203.0.113.10", "ssh-ed25519", "SHA256:q8tqWKBvbRSKxMZ9mJ0kI5vQ0PVrR3s0PW9wJ3Wkf2E"))
        await pilot.pause()

    assert snap_compare(RegwizApp(), terminal_size=(100, 30), run_before=setup)


def test_diagnosis_screen_with_results(snap_compare) -> None:  # type: ignore[no-untyped-def]
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
        await pilot.pause()

    assert snap_compare(RegwizApp(), terminal_size=(100, 40), run_before=setup)


def test_plan_modal_with_typed_confirmation(snap_compare) -> None:  # type: ignore[no-untyped-def]
    from app.remote_files import FileChange
    from app.steps import Plan
    from screens.plan import PlanScreen

    plan = Plan("Delete 172.16.0.0/12 dev eth0 scope link",
                changes=[FileChange("/etc/network/interfaces", "auto eth0\nup route add -net 172.16.0.0 "
                                    "netmask 255.240.0.0 dev eth0\n", "auto eth0\n")],
                actions=["ip route del 172.16.0.0/12 dev eth0 scope link"], typed_confirmation="172.16.0.0/12")

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        pilot.app.push_screen(PlanScreen(plan))
        await pilot.pause()

    assert snap_compare(RegwizApp(), terminal_size=(110, 36), run_before=setup)
