"""The clients screen's table with 50 clients in the middle of a run (done, failed with a long detail,
still running): one line a client, bounded in height with its header kept, the selected client's detail
in full below it, reached by keys (Pilot), and a snapshot at 80x24."""

from __future__ import annotations

from app.clients.configure import ClientResult
from app.clients.model import ClientKind, RegistryTarget
from app.steps import Status
from app.targets import HostForm
from screens.app import RegwizApp
from screens.clients import ClientsScreen
from tests.snapshot_helpers import steady
from tests.test_tui_clients import text_of

REGISTRY = RegistryTarget("203.0.113.10", 5000, True, None)
LONG = ("the pull failed: this machine does not trust the CA that signed the registry's certificate; fix: put "
        "the CA in /etc/docker/certs.d/203.0.113.10:5000/ca.crt (no restart needed)")


def result(i: int) -> ClientResult:
    name = f"root@10.4.0.{i}"
    if i % 10 == 7:
        return ClientResult(name, ClientKind.LINUX, Status.FAILURE, LONG)
    if i > 45:
        return ClientResult(name, ClientKind.LINUX, Status.RUNNING)
    return ClientResult(name, ClientKind.LINUX, Status.OK, f"pulled 203.0.113.10:5000/regwiz/hello in 1.{i % 10} s")


RESULTS = [result(i) for i in range(1, 51)]


async def fifty(pilot) -> ClientsScreen:  # type: ignore[no-untyped-def]
    screen = ClientsScreen(pilot.app.bus, REGISTRY)
    await pilot.app.push_screen(screen)
    await steady(pilot)
    for i in range(1, 51):
        screen.add_client(HostForm(host=f"10.4.0.{i}"), None)
    for r in RESULTS:
        screen._update_row(r)
    await pilot.pause()
    return screen


async def test_fifty_clients_mid_run_one_line_each_and_the_failed_ones_readable_by_keys() -> None:
    from textual.widgets import Button, DataTable, Static

    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await fifty(pilot)
        table = screen.query_one("#clients", DataTable)
        assert table.row_count == 50
        assert all(row.height == 1 for row in table.rows.values())  # a long detail is cropped, not wrapped
        assert table.size.height <= 14, table.size  # scrolls inside a bounded height, the rest stays
        assert screen.query_one("#configure", Button).region.height > 0
        table.focus()
        await pilot.press(*["down"] * 46)  # the 47th client: failed, its detail is the long one
        await pilot.pause()
        assert table.cursor_row == 46 and table.scroll_y > 0
        assert screen.selected == "root@10.4.0.47"
        detail = text_of(screen.query_one("#client-detail", Static))
        assert "root@10.4.0.47" in detail and "(no restart needed)" in detail, detail  # in full, wrapped
        statuses = [str(table.get_row(f"root@10.4.0.{i}")[-2]) for i in (1, 7, 47, 50)]
        assert [s.split()[-1] for s in statuses] == ["ok", "failure", "failure", "running"], statuses


def test_clients_screen_with_fifty_clients_mid_run_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = await fifty(pilot)
        screen.query_one("#clients").focus()
        await pilot.press(*["down"] * 26)  # the 27th client (failed) selected, the table scrolled
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=(80, 24), run_before=setup)
