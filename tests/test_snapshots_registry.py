"""Snapshots of the registry screen (layout only: fixed tags, no host or registry).

Update with --snapshot-update, then read the SVGs' text: the policy fields, the status line, the
buttons and the footer's keys must all be in view at 80x24.
"""

from __future__ import annotations

from app.registry.client import RegistryClient, RegistryEndpoint
from app.registry.ops import RegistrySource, TagInfo
from textual.widgets import Input

from screens.app import RegwizApp

PUSHED = 1_764_000_000.0  # a fixed time: the snapshot does not move with the clock


def fixed_tags() -> list[TagInfo]:
    tags = [TagInfo("ops/app", f"v{n}", f"sha256:{n:064x}", "application/vnd.docker.distribution.manifest.v2+json",
                    3_145_728 + n * 1000, pushed=PUSHED + n * 3600) for n in range(12)]
    tags += [TagInfo("team/very-long-repository-name/with/parts", "release-2026.12.01-build.4711",
                     "sha256:" + "ab" * 32, "application/vnd.oci.image.index.v1+json", 123_456_789, pushed=PUSHED)]
    return tags


def _registry():  # type: ignore[no-untyped-def]
    from screens.registry import RegistryScreen

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        source = RegistrySource(RegistryClient(RegistryEndpoint("203.0.113.10", 5000, True, None, "ci", None)),
                                "/var/lib/registry", 5000, True, "https://203.0.113.10:5000")
        screen = RegistryScreen(pilot.app.bus, source, None, "203.0.113.10", autoload=False)  # type: ignore[arg-type]
        await pilot.app.push_screen(screen)
        screen.add_tags(fixed_tags())
        screen.usage, screen.free = 40_123_456_789, 211_987_654_321
        screen.show_storage()
        await pilot.press("space", "space")  # the first two tags marked
        screen.set_status("2 marked: press d to see what deleting them frees.")
        for field in screen.query(Input):
            field.cursor_blink = False  # (whether a blinking cursor is drawn depends on the moment)
        await pilot.pause()

    return setup


def test_registry_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(RegwizApp(), terminal_size=(80, 24), run_before=_registry())


def test_registry_120x40(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(RegwizApp(), terminal_size=(120, 40), run_before=_registry())
