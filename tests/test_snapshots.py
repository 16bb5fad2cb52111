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
