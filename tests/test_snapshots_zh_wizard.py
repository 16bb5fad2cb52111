"""The wizard's screens and modals in Simplified Chinese, at 80x24 and 120x40 (pytest-textual-snapshot).

The same screens as tests/test_snapshots.py, with zh_CN in use (the fixture puts English back after each
test). Wide characters take two cells: each picture was reviewed for cut labels, columns out of line and
text wrapped badly when updated (--snapshot-update). What a check found is the test's own content, in
Chinese as the engine's catalog words it.
"""

from __future__ import annotations


import pytest

from app import i18n
from screens.app import RegwizApp
from screens.hostkey import HostKeyScreen
from tests.snapshot_helpers import steady

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


pytestmark = pytest.mark.usefixtures("chinese")  # (tests/conftest.py)


@pytest.mark.parametrize("size", SIZES)
def test_first_screen_zh(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(RegwizApp(), terminal_size=size, run_before=steady)


@pytest.mark.parametrize("size", SIZES)
def test_first_screen_with_key_auth_and_errors_zh(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()  # (the first screen is the app's default screen: composed once the app is ready)
        await pilot.click("#auth-key")
        pilot.app.screen.query_one("#host").focus()
        await pilot.press(*"bad host!")
        pilot.app.screen.set_status(i18n._("Fix the fields marked in red first."), "error")
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)


@pytest.mark.parametrize("size", SIZES)
def test_host_key_modal_zh(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        pilot.app.push_screen(HostKeyScreen(
            "root@203.0.113.10", "ssh-ed25519", "SHA256:q8tqWKBvbRSKxMZ9mJ0kI5vQ0PVrR3s0PW9wJ3Wkf2E"))
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)


@pytest.mark.parametrize("size", SIZES)
def test_diagnosis_screen_with_results_zh(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    """Fixed results (no host), with the route picture of the failing check selected."""
    from app.diagnose.base import CheckResult
    from app.steps import Status
    from app.transport.local import LocalTransport
    from screens.diagnose import DiagnoseScreen

    results = [
        CheckResult("system", "系统", Status.OK, "Debian GNU/Linux 12 (bookworm), x86_64, systemd"),
        CheckResult("docker", "Docker", Status.WARNING, "Docker version 20.10.24：已安装，未运行"),
        CheckResult("network", "路由冲突", Status.FAILURE,
                    'dockerd 分不到地址段："no available network"',
                    evidence=["导致冲突的路由：172.16.0.0/12 dev eth0 scope link"],
                    picture=["172.16.0.0/12：每格一个 /16", "路由（link）  # # # #", "Docker 地址池  . . . ."]),
        CheckResult("port", "端口 5000", Status.OK, i18n._("{port}/tcp is free").format(port=5000)),
    ]

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        app = pilot.app
        screen = DiagnoseScreen(app.bus, LocalTransport(), "203.0.113.10", autorun=False)
        await app.push_screen(screen)
        for result in results:
            screen.record_result(result)
        screen.query_one("#checks").move_cursor(row=2)
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)


@pytest.mark.parametrize("size", SIZES)
def test_plan_modal_with_typed_confirmation_zh(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    from app.remote_files import FileChange
    from app.steps import Plan
    from screens.plan import PlanScreen

    plan = Plan("删除路由 172.16.0.0/12 dev eth0 scope link",
                changes=[FileChange("/etc/network/interfaces", "auto eth0\nup route add -net 172.16.0.0 "
                                    "netmask 255.240.0.0 dev eth0\n", "auto eth0\n")],
                actions=["ip route del 172.16.0.0/12 dev eth0 scope link"], typed_confirmation="172.16.0.0/12")

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        pilot.app.push_screen(PlanScreen(plan))
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)


@pytest.mark.parametrize("size", SIZES)
def test_choose_fix_modal_zh(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    from screens.plan import ChooseFixScreen

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        pilot.app.push_screen(ChooseFixScreen([
            "为 Docker 分配空闲的地址段（daemon.json 的 bip 和 default-address-pools）",
            "删除路由 172.16.0.0/12 dev eth0 scope link（种子脚本的做法）"]))
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)


@pytest.mark.parametrize("size", SIZES)
def test_deploy_screen_zh(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    from app.transport.local import LocalTransport
    from screens.deploy import DeployScreen

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = DeployScreen(pilot.app.bus, LocalTransport(), "203.0.113.10", "203.0.113.10",
                              saved_users=["ci"])
        await pilot.app.push_screen(screen)
        screen.query_one("#tls-none").value = True  # the warning shows as well
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)


@pytest.mark.parametrize("size", SIZES)
def test_secrets_modal_zh(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    from app.dashboard import NeededSecret
    from screens.secrets import SecretsScreen

    needed = [NeededSecret("server.password", "root@203.0.113.10 的 SSH 密码", None, optional=True),
              NeededSecret("registry.password", "仓库用户 ci 的密码", "REGISTRY_CI_PASSWORD"),
              NeededSecret("client0.password", "root@198.51.100.7 的 SSH 密码", "CLIENT_PASSWORD")]

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        pilot.app.push_screen(SecretsScreen(needed))
        await pilot.pause()
        await pilot.press(*"hunter2")
        await steady(pilot)

    assert snap_compare(RegwizApp(), terminal_size=size, run_before=setup)
