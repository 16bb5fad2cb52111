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


def _deploy_screen(app):  # type: ignore[no-untyped-def]
    from app.transport.local import LocalTransport
    from screens.deploy import DeployScreen

    return DeployScreen(app.bus, LocalTransport(), "203.0.113.10", "203.0.113.10")


def test_deploy_screen_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.app.push_screen(_deploy_screen(pilot.app))
        await pilot.pause()

    assert snap_compare(RegwizApp(), terminal_size=(80, 24), run_before=setup)


def test_deploy_screen_insecure_choice_light_theme(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        pilot.app.theme = "textual-light"
        screen = _deploy_screen(pilot.app)
        await pilot.app.push_screen(screen)
        screen.query_one("#tls-none").value = True
        await pilot.pause()

    assert snap_compare(RegwizApp(), terminal_size=(100, 40), run_before=setup)


def test_clients_screen_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    from app.clients.model import RegistryTarget
    from app.targets import HostForm
    from screens.clients import ClientsScreen

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = ClientsScreen(pilot.app.bus, RegistryTarget("203.0.113.10", 5000, True, None))
        await pilot.app.push_screen(screen)
        screen.add_client(HostForm(host="198.51.100.7", user="root"), None)
        screen.add_client(HostForm(local=True), None)
        await pilot.pause()

    assert snap_compare(RegwizApp(), terminal_size=(80, 24), run_before=setup)


def test_dashboard_screen_with_rows(snap_compare) -> None:  # type: ignore[no-untyped-def]
    from app.dashboard import HealthRow
    from app.profiles import Profile, ServerProfile
    from app.steps import Status
    from screens.dashboard import DashboardScreen

    rows = [HealthRow("host", "203.0.113.10 reachable", Status.OK, "connected to root@203.0.113.10"),
            HealthRow("docker", "Docker healthy", Status.OK, "the daemon answers"),
            HealthRow("registry", "Registry up", Status.FAILURE, "nothing listens on 203.0.113.10:5000", "deploy"),
            HealthRow("tls", "TLS certificate", Status.WARNING, "valid, 12 days to expiry", "deploy")]

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = DashboardScreen(pilot.app.bus, Profile(server=ServerProfile(host="203.0.113.10")), autorun=False)
        await pilot.app.push_screen(screen)
        for row in rows:
            screen.show_row(row)
        screen.query_one("#health").move_cursor(row=2)
        await pilot.pause()

    assert snap_compare(RegwizApp(), terminal_size=(80, 24), run_before=setup)


def test_choose_fix_modal(snap_compare) -> None:  # type: ignore[no-untyped-def]
    from screens.plan import ChooseFixScreen

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        pilot.app.push_screen(ChooseFixScreen([
            "Give Docker free address ranges (daemon.json bip and default-address-pools)",
            "Delete the route 172.16.0.0/12 dev eth0 scope link (the seed's way)"]))
        await pilot.pause()

    assert snap_compare(RegwizApp(), terminal_size=(80, 24), run_before=setup)
