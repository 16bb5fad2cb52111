"""The clients screen's Ansible inventory form: 50 hosts read by the real ansible-inventory (its --limit
applied), the table readable with 50 rows (Pilot, and a snapshot at 80x24)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Button, DataTable, Input, Static

from app.clients.model import RegistryTarget
from screens.app import RegwizApp
from screens.clients import ClientsScreen
from tests.snapshot_helpers import settled_scrolling, steady
from tests.test_inventory import with_ansible
from tests.test_tui_clients import open_screen, status, text_of, wait_until

REGISTRY = RegistryTarget("203.0.113.10", 5000, True, None)


def fleet(path: Path, count: int = 52) -> Path:
    """``count`` hosts in two groups (web, db), a key for all of them; the last two are staging."""
    web = "\n".join(f"web{i:02d} ansible_host=10.3.0.{i}" for i in range(1, count // 2 + 1))
    db = "\n".join(f"db{i:02d} ansible_host=10.3.1.{i} ansible_user=deploy" for i in range(1, count // 2 - 1))
    path.write_text(f"[all:vars]\nansible_ssh_private_key_file=/keys/fleet\n\n[web]\n{web}\n\n[db]\n{db}\n\n"
                    "[staging]\nstage1 ansible_host=10.3.2.1\nstage2 ansible_host=10.3.2.2\n")
    return path


@pytest.fixture(autouse=True)
def ansible_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", with_ansible()["PATH"])


async def test_fifty_inventory_hosts_by_keys_and_the_table_stays_readable(tmp_path: Path) -> None:
    inventory = fleet(tmp_path / "hosts.ini")
    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        screen.query_one("#inventory-path", Input).focus()
        await pilot.press(*str(inventory), "enter", *"all:!staging", "enter")  # Enter: to the limit, then add
        table = screen.query_one("#clients", DataTable)
        await wait_until(pilot, lambda: table.row_count == 50, "the inventory's 50 hosts", timeout=30)
        assert "Added 50 clients from hosts.ini matching all:!staging." in status(screen), status(screen)
        assert "root@10.3.2.1" not in screen.rows and screen.forms["deploy@10.3.1.24"].identity_file == "/keys/fleet"
        # Readable: the table scrolls inside a bounded height (its header stays), the rest of the screen stays.
        assert table.size.height <= 14, table.size
        table.focus()
        await pilot.press("ctrl+end")  # the last row, by keys
        await pilot.pause()
        assert table.cursor_row == 49 and table.scroll_y > 0
        assert screen.selected == "deploy@10.3.1.24"
        assert "deploy@10.3.1.24" in text_of(screen.query_one("#client-detail", Static))
        assert screen.query_one("#configure", Button).region.height > 0


async def test_a_password_in_the_inventory_is_refused_in_the_form(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[web]\nweb1 ansible_host=10.3.0.1 ansible_password=in-a-file\n")
    app = RegwizApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        screen.query_one("#inventory-path", Input).value = str(inventory)
        screen.query_one("#add-inventory", Button).press()
        error = screen.query_one("#inventory-path-error", Static)
        await wait_until(pilot, lambda: "ansible_password holds a password in a file" in text_of(error),
                         "the refusal under the field", timeout=30)
        assert not screen.rows and "Nothing added from the inventory" in status(screen)


def test_clients_screen_with_fifty_inventory_rows_80x24(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    inventory = fleet(tmp_path / "hosts.ini")

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = ClientsScreen(pilot.app.bus, REGISTRY)
        await pilot.app.push_screen(screen)
        await pilot.pause()
        screen.query_one("#inventory-path", Input).value = str(inventory)
        screen.query_one("#inventory-limit", Input).value = "all:!staging"
        screen.action_add_inventory()
        await pilot.app.workers.wait_for_complete()
        table = screen.query_one("#clients", DataTable)
        assert table.row_count == 50
        screen.query_one("#inventory-path", Input).value = "hosts.ini"  # (the tmp path differs per run)
        table.focus()
        await settled_scrolling(pilot)  # laid out with its 50 rows and scrolled into view: see the zh twin
        await pilot.press("pagedown")
        await settled_scrolling(pilot)
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=(80, 24), run_before=setup)
