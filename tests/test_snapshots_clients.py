"""Snapshots of the clients screen at 80x24 and 120x40 (pytest-textual-snapshot; --snapshot-update)."""

from __future__ import annotations

import pytest


from app.clients.configure import ClientResult
from app.clients.model import ClientKind, RegistryTarget
from app.steps import Status
from app.targets import HostForm
from screens.app import RegwizApp
from tests.snapshot_helpers import steady
from screens.clients import ClientsScreen

SIZES = [(80, 24), (120, 40)]
LONG_DETAIL = ("x509: certificate signed by unknown authority: the client does not trust the registry's CA; "
               "configure it again (ctrl+r) or check /etc/docker/certs.d/203.0.113.10:5000/ca.crt")
RESULTS = [
    ClientResult("root@198.51.100.7", ClientKind.LINUX, Status.OK, "pulled 203.0.113.10:5000/regwiz/hello in 1.2 s"),
    ClientResult("deploy@build-runner-01.internal", ClientKind.SYSV, Status.FAILURE, LONG_DETAIL),
    ClientResult("this machine", ClientKind.DESKTOP, Status.OK, "pulled 203.0.113.10:5000/regwiz/hello in 0.4 s"),
]


async def _open(pilot) -> ClientsScreen:  # type: ignore[no-untyped-def]
    screen = ClientsScreen(pilot.app.bus, RegistryTarget("203.0.113.10", 5000, True, None))
    await pilot.app.push_screen(screen)
    await steady(pilot)
    return screen


async def _with_rows(pilot) -> ClientsScreen:  # type: ignore[no-untyped-def]
    """Three clients, their results in; the long detail's row selected from the table (by keys)."""
    screen = await _open(pilot)
    screen.add_client(HostForm(host="198.51.100.7"), None)
    screen.add_client(HostForm(host="build-runner-01.internal", user="deploy"), ClientKind.SYSV)
    screen.add_client(HostForm(local=True), None)
    for result in RESULTS:
        screen._update_row(result)
    screen.query_one("#clients").focus()
    await pilot.pause()
    await pilot.press("down")
    await pilot.pause()
    return screen


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_clients_screen_empty(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(RegwizApp(), terminal_size=size, run_before=_open)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_clients_screen_with_rows_and_a_long_detail(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(RegwizApp(), terminal_size=size, run_before=_with_rows)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_clients_screen_with_the_outcome(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = await _with_rows(pilot)
        screen.show_results(RESULTS)
        await pilot.pause()

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)


def test_clients_screen_field_errors_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        await _open(pilot)
        await pilot.press(*"bad host!", "enter", "enter", "ctrl+a", "ctrl+k", *"ssh", "enter", "enter")
        await pilot.pause()

    assert snap_compare(RegwizApp(), terminal_size=(80, 24), run_before=setup)
