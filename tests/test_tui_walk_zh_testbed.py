"""The wizard by keyboard alone in Simplified Chinese, on real hosts: first screen → connect → diagnose (Docker
fixed) → deploy → clients (the pull proven) → summary.

The helpers are the English walk's (tests/test_tui_walk_testbed.py). What the screens say is asserted in
Chinese: every expected text is the catalog's translation of the English message, taken while zh_CN is in
use; where this walk's screens own the words (the clients' status, the summary), they must hold Chinese
characters. Every wait is for a state of the screen, never a fixed time.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.widgets import Button, Input, Label, Static

from app import i18n
from screens.app import RegwizApp
from screens.deploy import DeployScreen
from screens.diagnose import DiagnoseScreen
from tests.testbed.hosts import Testbed, TestHost
from tests.test_tui_walk_testbed import accept_host_key, apply_plan, credentials_by_keys, tab_to, text_of, wait_for


CJK = re.compile(r"[\u4e00-\u9fff]")


pytestmark = [pytest.mark.testbed, pytest.mark.usefixtures("chinese")]  # chinese: tests/conftest.py


def words_before_placeholder(english_start: str) -> str:
    """The catalog's translation of the message that starts with ``english_start``, up to its first
    placeholder: what the screen's status starts with, whatever the placeholder is called. The English
    words themselves while that screen's message is not in the catalog (not marked yet)."""
    from babel.messages.pofile import read_po

    with i18n.catalog_path("zh_CN").open("rb") as handle:
        catalog = read_po(handle, locale="zh_CN", domain="regwiz")
    for message in catalog:
        if isinstance(message.id, str) and message.id.startswith(english_start) and message.string:
            return message.string.split("{", 1)[0].strip()
    return english_start


def has_chinese(text: str) -> bool:
    return bool(CJK.search(text))


async def test_the_whole_wizard_by_keyboard_in_chinese(fresh_host, testbed: Testbed, regwiz_home: Path,  # type: ignore[no-untyped-def]
                                                       monkeypatch) -> None:
    from screens.clients import ClientsScreen
    from screens.summary import SummaryScreen
    from tests.registry_helpers import unreachable_probe

    server: TestHost = fresh_host("ecs")  # Docker installed, not running: a fix to apply on the way
    client: TestHost = fresh_host("linux_client")
    assert testbed.images is not None
    monkeypatch.setenv("REGWIZ_UPLOAD_IMAGE", testbed.images.registry)
    monkeypatch.setenv("REGWIZ_HUB_PROBE_URL", unreachable_probe(testbed))
    _ = i18n._
    app = RegwizApp()
    async with app.run_test(size=(120, 40)) as pilot:
        # 1. Credentials, then connected.
        await credentials_by_keys(pilot, server, connected=words_before_placeholder("Connected to"))
        await pilot.press("ctrl+n")

        # 2. Diagnose: Docker is stopped; its fix applied by keys; the diagnosis again.
        await wait_for(pilot, lambda: isinstance(app.screen, DiagnoseScreen), 5, "the diagnosis screen")
        diagnose = app.screen
        assert isinstance(diagnose, DiagnoseScreen)
        await wait_for(pilot, lambda: diagnose.step_complete, 120, "the diagnosis")
        assert diagnose.results["docker"].status.value != "ok", diagnose.results["docker"]
        assert app.focused is diagnose.query_one("#checks")
        await pilot.press("down")  # the Docker row
        assert diagnose.selected == "docker"
        await pilot.press("f")
        await apply_plan(pilot)
        await wait_for(pilot, lambda: "docker" in diagnose.results and
                       diagnose.results["docker"].status.value == "ok", 180, "Docker to run after the fix")
        await wait_for(pilot, lambda: len(diagnose.results) == len(diagnose.checks), 120, "the diagnosis again")
        await pilot.press("ctrl+n")

        # 3. Deploy: a user added with Enter, the plan applied, proven from this machine.
        await wait_for(pilot, lambda: isinstance(app.screen, DeployScreen), 5, "the deploy screen")
        deploy = app.screen
        assert isinstance(deploy, DeployScreen) and app.focused is deploy.query_one("#port", Input)
        await tab_to(pilot, "user-password")
        await pilot.press(*"walk-Pass-42", "enter")
        assert "ci" in deploy.users
        await pilot.press("ctrl+r")
        await apply_plan(pilot, 60)
        status = deploy.query_one("#deploy-status", Static)
        await wait_for(pilot, lambda: deploy.step_complete or status.has_class("error"), 600,
                       "the deploy and its proof")
        works = words_before_placeholder("The registry works")
        assert works in text_of(deploy, "#deploy-status"), text_of(deploy, "#deploy-status")
        assert deploy.step_complete
        await pilot.press("ctrl+n")

        # 4. Clients: the screen's words are Chinese; a client added by keys, configured, its pull proven.
        await wait_for(pilot, lambda: isinstance(app.screen, ClientsScreen), 5, "the clients screen")
        clients = app.screen
        assert isinstance(clients, ClientsScreen)
        assert str(clients.query_one("#configure", Button).label) == _("Configure all") == "全部配置"
        heading = str(clients.query_one(".question", Label).render())
        assert heading == _("Clients of {url}").format(url=clients.registry.url) and has_chinese(heading)
        assert app.focused is clients.query_one("#client-host", Input)
        await pilot.press(*client.address, "enter")
        while app.focused is not clients.query_one("#client-password", Input):  # user and port as they are
            await pilot.press("enter")
        await pilot.press(*client.root_password, "enter")  # Enter in the last field adds the client
        await wait_for(pilot, lambda: len(clients.forms) == 1, 5, "the client in the list")
        added = clients.status_text()
        name = f"root@{client.address}"
        assert added == _("Added {name}. Add another, or configure all (ctrl+r).").format(name=name), added
        assert has_chinese(added)
        await pilot.press("ctrl+r")
        await accept_host_key(pilot)
        diff = await apply_plan(pilot, 120)
        assert "ca.crt" in diff, diff
        await wait_for(pilot, lambda: clients.step_complete or clients.query_one("#clients-status").has_class("error"),
                       300, "the client's pull")
        done = clients.status_text()
        expected = i18n.ngettext("{ok} of {total} clients pull from the registry. Next: Summary (ctrl+n).",
                                 "{ok} of {total} clients pull from the registry. Next: Summary (ctrl+n).",
                                 1).format(ok=1, total=1)
        assert done == expected == "能从镜像仓库拉取的客户端：1/1。下一步：总结（ctrl+n）。", done
        status = clients.rows[name].status
        assert status == f"✓ {_('ok')}" and has_chinese(status), clients.rows[name]
        await pilot.press("ctrl+n")

        # 5. Summary: its title, headings and buttons in Chinese; the client's line and the commands there.
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen), 5, "the summary")
        summary = app.screen
        assert isinstance(summary, SummaryScreen)
        title = text_of(summary, "#summary-title")
        url = summary.summary.url
        assert title == _("Summary: {url}: {clients}").format(
            url=url, clients=i18n.ngettext("{done} of {total} clients pull from it",
                                           "{done} of {total} clients pull from it", 1).format(done=1, total=1))
        assert title == f"总结：{url}：1/1 个客户端可拉取", title
        headings = [str(label.render()) for label in summary.query(".summary-head").results(Label)]
        assert headings[:3] == [_("Registry"), _("Users"), "客户端（已完成 1/1）"], headings
        assert all(has_chinese(heading) for heading in headings), headings
        assert str(summary.query_one("#dashboard", Button).label) == "打开仪表盘"
        registry = text_of(summary, "#summary-registry")
        assert registry.startswith(f"地址：{url}") and "CA SHA256 指纹：" in registry, registry
        shown = "\n".join(str(w.render()) for w in summary.query(Static))
        assert client.address in shown and "docker login" in shown
