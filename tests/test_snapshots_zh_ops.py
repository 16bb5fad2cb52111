"""Snapshots in Simplified Chinese of the clients, dashboard, registry, summary and onboarding screens, at
80x24 and 120x40 (pytest-textual-snapshot; --snapshot-update, then read every SVG for cut or misaligned text).

The setups are the English snapshots' own (tests/test_snapshots_clients.py, _dashboard.py, _registry.py,
_summary.py, test_inventory_tui.py), run with zh_CN in use; English is restored after each test. Where a
setup writes a status line itself, it writes the screen's own message in the language in use. The
dashboard's rows are given Chinese titles and details too (as the engine's would read), so that the table's
cropping is seen measured in cells, a Chinese character taking two.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from app import i18n
from app.clients.model import RegistryTarget
from app.steps import Status
from screens.app import RegwizApp
from tests import test_snapshots_clients as clients_snaps
from tests import test_snapshots_summary as summary_snaps
from tests.snapshot_helpers import settled_scrolling, steady
from tests.test_inventory import with_ansible
from tests.test_inventory_tui import fleet
from tests.test_snapshots_registry import fixed_tags

SIZES = [(80, 24), (120, 40)]
IDS = ["80x24", "120x40"]


pytestmark = pytest.mark.usefixtures("chinese")  # (tests/conftest.py)


# -- clients --------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_clients_empty_zh(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(RegwizApp(), terminal_size=size, run_before=clients_snaps._open)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_clients_with_rows_and_a_long_detail_zh(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(RegwizApp(), terminal_size=size, run_before=clients_snaps._with_rows)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_clients_with_the_outcome_zh(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = await clients_snaps._with_rows(pilot)
        screen.show_results(clients_snaps.RESULTS)
        await pilot.pause()
        assert "能从镜像仓库拉取的客户端：2/3。" in screen.status_text()  # (the status is the screen's, in Chinese)

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)


def test_clients_field_errors_80x24_zh(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        await clients_snaps._open(pilot)
        await pilot.press(*"bad host!", "enter", "enter", "ctrl+a", "ctrl+k", *"ssh", "enter", "enter")
        await pilot.pause()

    assert snap_compare(RegwizApp(), terminal_size=(80, 24), run_before=setup)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_clients_with_fifty_inventory_rows_zh(snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                              size: tuple[int, int]) -> None:
    from screens.clients import ClientsScreen

    monkeypatch.setenv("PATH", with_ansible()["PATH"])
    inventory = fleet(tmp_path / "hosts.ini")

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = ClientsScreen(pilot.app.bus, RegistryTarget("203.0.113.10", 5000, True, None))
        await pilot.app.push_screen(screen)
        await pilot.pause()
        screen.query_one("#inventory-path", Input).value = str(inventory)
        screen.query_one("#inventory-limit", Input).value = "all:!staging"
        screen.action_add_inventory()
        await pilot.app.workers.wait_for_complete()
        table = screen.query_one("#clients", DataTable)
        assert table.row_count == 50
        assert "已从 hosts.ini 添加 50 个匹配 all:!staging 的客户端" in screen.status_text(), screen.status_text()
        screen.query_one("#inventory-path", Input).value = "hosts.ini"  # (the tmp path differs per run)
        table.focus()
        # A page is the table's height once laid out with its 50 rows: pressed before that, it moves less;
        # and the focused table is scrolled into view over a few frames: the picture waits for both.
        await settled_scrolling(pilot)
        await pilot.press("pagedown")
        await settled_scrolling(pilot)
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)


# -- dashboard ------------------------------------------------------------------------------------
def _chinese_rows():  # type: ignore[no-untyped-def]
    from app.dashboard import HealthRow

    return [HealthRow("host", "203.0.113.10 可连接", Status.OK, "已连接 root@203.0.113.10"),
            HealthRow("docker", "Docker 运行正常", Status.OK, "守护进程有响应"),
            HealthRow("bridge", "无网桥冲突", Status.OK, "docker0 172.17.0.0/16 与任何路由都不重叠"),
            HealthRow("registry", "镜像仓库在运行", Status.FAILURE,
                      "203.0.113.10:5000 上没有服务在监听；主机重启过，Docker 没有运行：它没有设为开机启动。"
                      "修复：regwiz diagnose --yes 会启用并启动它", "deploy"),
            HealthRow("tls", "TLS 证书", Status.WARNING, "有效，12 天后到期（TLSv1.3）", "deploy"),
            HealthRow("auth", "认证可用", Status.SKIPPED,
                      "已跳过：没有提供密码（设置 REGISTRY_CI_PASSWORD，或重新检查时输入）"),
            HealthRow("client:root@198.51.100.7", "root@198.51.100.7 能拉取", Status.OK, "linux：1.4 秒内拉取成功")]


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_dashboard_zh(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    from app.profiles import Profile, ServerProfile
    from screens.dashboard import DashboardScreen

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = DashboardScreen(pilot.app.bus, Profile(server=ServerProfile(host="203.0.113.10")), autorun=False)
        await pilot.app.push_screen(screen)
        for row in _chinese_rows():
            screen.show_row(row)
        # The status the screen writes after such a check (its own messages, in the language in use).
        parts = [i18n.ngettext("{failing} of {total} need attention: select a row and press f",
                               "{failing} of {total} need attention: select a row and press f", 7).format(
                     failing=2, total=7),
                 i18n.ngettext("{count} skipped for want of a secret: press r to enter it",
                               "{count} skipped for want of a secret: press r to enter it", 1).format(count=1)]
        screen.set_status(i18n._("; ").join(parts) + i18n._("."))
        screen.query_one("#health").move_cursor(row=3)
        await pilot.pause()

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)


# -- registry -------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_registry_zh(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    from app.registry.client import RegistryClient, RegistryEndpoint
    from app.registry.ops import RegistrySource
    from screens.registry import RegistryScreen

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        source = RegistrySource(RegistryClient(RegistryEndpoint("203.0.113.10", 5000, True, None, "ci", None)),
                                "/var/lib/registry", 5000, True, "https://203.0.113.10:5000")
        screen = RegistryScreen(pilot.app.bus, source, None, "203.0.113.10", autoload=False)  # type: ignore[arg-type]
        await pilot.app.push_screen(screen)
        screen.add_tags(fixed_tags())
        screen.usage, screen.free = 40_123_456_789, 211_987_654_321
        screen.show_storage()
        await pilot.press("space", "space")  # the first two tags marked: the screen writes its own status
        assert "已标记 2 个" in str(screen.query_one("#registry-status").render())
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)


# -- summary and onboarding -----------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_summary_zh(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(RegwizApp(), terminal_size=size,
                        run_before=summary_snaps._push_summary(summary_snaps._summary()))


def test_summary_without_profile_80x24_zh(snap_compare) -> None:  # type: ignore[no-untyped-def]
    summary = summary_snaps._summary()
    summary.profile_path = None
    assert snap_compare(RegwizApp(), terminal_size=(80, 24), run_before=summary_snaps._push_summary(summary))


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_onboard_zh(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        from screens.onboard import OnboardScreen

        await pilot.app.push_screen(OnboardScreen(pilot.app.bus))
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_onboard_host_zh(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """A team profile given (from the summary), a host chosen, a field with its error."""
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        from screens.onboard import OnboardScreen

        await pilot.app.push_screen(OnboardScreen(pilot.app.bus, team=summary_snaps.TEAM))
        await pilot.press("down", "enter", *"bad host!", "enter", "enter", "enter", "enter", "enter")
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)
