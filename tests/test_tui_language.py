"""The palette's language: chosen there, in use at once (footer, steps panel, title), kept in settings.toml,
and in force at the next start; English back the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from textual.command import CommandPalette
from textual.widgets._footer import FooterKey

from app import i18n
from app.settings import load_settings
from screens.app import RegwizApp
from screens.footer import KeysFooter
from screens.steps import StepsPanel
from screens.target import TargetScreen


@pytest.fixture(autouse=True)
def english_after() -> Iterator[None]:
    i18n.use("en")
    yield
    i18n.use("en")


def footer_words(app: RegwizApp) -> list[str]:
    return [key.description for key in app.screen.query(FooterKey)] + \
        [word for footer in app.screen.query(KeysFooter) for word in footer.descriptions()]


async def wait_for(pilot, predicate, seconds: float = 10) -> None:  # type: ignore[no-untyped-def]
    for _step in range(int(seconds / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached in time")


async def choose_in_palette(pilot, app: RegwizApp, words: str) -> None:  # type: ignore[no-untyped-def]
    """ctrl+p, type the words, Enter on the first match (as a person does)."""
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
    await pilot.press(*words)
    palette = app.screen
    assert isinstance(palette, CommandPalette)
    await wait_for(pilot, lambda: palette._list_visible and palette.query_one("CommandList").option_count > 0)
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette))


async def test_chinese_from_the_palette_at_once_kept_and_at_the_next_start(regwiz_home: Path) -> None:
    settings = regwiz_home / "config" / "settings.toml"
    app = RegwizApp()
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen, TargetScreen)
        assert "Connect" in footer_words(app) and "Quit" in footer_words(app)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Language: 简体中文" in titles and "Language: English (in use)" in titles

        await choose_in_palette(pilot, app, "简体中文")
        await wait_for(pilot, lambda: "连接" in footer_words(app))
        assert "退出" in footer_words(app) and "Connect" not in footer_words(app)
        assert i18n.current() == "zh_CN"
        assert app.sub_title == "一步一步搭建私有 Docker 仓库"
        panel = app.screen.query_one(StepsPanel)
        assert panel.step_text(0) == "▶ 1. 登录信息"
        assert any("以后运行也保持" in str(n.message) for n in app._notifications)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "界面语言：English" in titles and "界面语言：简体中文（使用中）" in titles
    assert load_settings(settings) == {"language": "zh_CN"}

    # The next start: what app.cli does before the first screen (the setting wins over LANG).
    i18n.use("en")
    assert i18n.use_configured({"LANG": "en_US.UTF-8"}) == "zh_CN"
    again = RegwizApp()
    async with again.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "连接" in footer_words(again)
        assert str(again.screen.query_one("#connect").label) == "连接"

        await choose_in_palette(pilot, again, "English")
        await wait_for(pilot, lambda: "Connect" in footer_words(again))
        assert i18n.current() == "en" and again.sub_title == "a private Docker registry, step by step"
    assert load_settings(settings) == {"language": "en"}
    i18n.use("zh_CN")
    assert i18n.use_configured({"LANG": "zh_CN.UTF-8"}) == "en"  # kept: English even where LANG says Chinese


async def test_the_keys_panel_describes_the_keys_in_the_language_in_use() -> None:
    import io

    from rich.console import Console
    from textual.widgets._key_panel import BindingsTable

    i18n.use("zh_CN")
    app = RegwizApp()
    async with app.run_test(size=(120, 30)) as pilot:
        app.action_show_help_panel()
        await wait_for(pilot, lambda: bool(app.screen.query(BindingsTable)))
        table = app.screen.query_one(BindingsTable)
        console = Console(width=120, record=True, file=io.StringIO())
        console.print(table.render_bindings_table())
        rendered = console.export_text()
        assert "连接" in rendered and "Connect" not in rendered


async def test_the_open_screen_reads_in_the_new_language_at_once_keeping_what_was_typed() -> None:
    """The first screen: a host typed, key login chosen; the language switched from the palette twice. The
    labels, buttons and hints change in place; the typed host, the choice, the focus and the cursor stay."""
    from textual.widgets import Button, Input, Label, RadioButton, RadioSet

    app = RegwizApp()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, TargetScreen)
        await pilot.click("#auth-key")
        screen.query_one("#host").focus()
        await pilot.press(*"build-01.example")
        await pilot.press("left", "left")
        host = screen.query_one("#host", Input)

        def labels() -> set[str]:
            return {str(label.content) for label in screen.query(Label)}

        assert {"Address or ~/.ssh/config alias", "Where should the registry run?", "Log in with"} <= labels()

        await choose_in_palette(pilot, app, "简体中文")
        await wait_for(pilot, lambda: "连接" in footer_words(app))
        assert app.screen is screen  # the same screen, not a new one
        assert {i18n._("Address or ~/.ssh/config alias"), "仓库运行在哪里？", i18n._("Log in with")} <= labels()
        assert not {"Address or ~/.ssh/config alias", "Where should the registry run?"} & labels()
        assert str(screen.query_one("#connect", Button).label) == "连接"
        assert str(screen.query_one("#auth-key", RadioButton).label) == i18n._("Private key file") != \
            "Private key file"
        # A hint with a value filled in is written again in the new words, the value kept.
        assert screen.query_one("#identity_file", Input).placeholder == "例如 ~/.ssh/id_ed25519"
        # What the user typed and chose, and where they were, stay.
        assert host.value == "build-01.example" and host.cursor_position == len("build-01.example") - 2
        assert app.focused is host
        assert screen.query_one("#auth", RadioSet).pressed_button is screen.query_one("#auth-key", RadioButton)
        assert screen.query_one("#host", Input) is host  # (not composed again)

        await choose_in_palette(pilot, app, "English")
        await wait_for(pilot, lambda: "Connect" in footer_words(app))
        assert {"Address or ~/.ssh/config alias", "Where should the registry run?", "Log in with"} <= labels()
        assert str(screen.query_one("#connect", Button).label) == "Connect"
        assert str(screen.query_one("#auth-key", RadioButton).label) == "Private key file"
        assert screen.query_one("#identity_file", Input).placeholder == "e.g. ~/.ssh/id_ed25519"
        assert host.value == "build-01.example" and app.focused is host
        assert screen.query_one("#auth", RadioSet).pressed_button is screen.query_one("#auth-key", RadioButton)


async def test_the_clients_screen_relabels_its_table_and_select_keeping_the_rows_and_the_choice() -> None:
    from textual.widgets import DataTable, Input, Select

    from app.clients.model import RegistryTarget
    from app.targets import HostForm
    from screens.clients import ClientsScreen

    app = RegwizApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = ClientsScreen(app.bus, RegistryTarget("203.0.113.10", 5000, True, None))
        await app.push_screen(screen)
        await pilot.pause()
        screen.add_client(HostForm(host="198.51.100.7"), None)
        kind = screen.query_one("#client-kind", Select)
        kind.value = "sysv"
        screen.query_one("#client-host", Input).value = "build-02"
        await pilot.pause()
        table = screen.query_one("#clients", DataTable)

        def headings() -> list[str]:
            return [column.label.plain for column in table.columns.values()]

        assert headings()[:2] == ["client", "kind"] and table.get_cell("root@198.51.100.7", "kind") == "detect"

        await choose_in_palette(pilot, app, "简体中文")
        await wait_for(pilot, lambda: "退出" in footer_words(app))
        assert app.screen is screen
        assert headings()[:2] == [i18n._("client"), i18n._("kind")] != ["client", "kind"]
        assert table.get_cell("root@198.51.100.7", "kind") == i18n._("detect") != "detect"
        assert table.row_count == 1
        assert kind.value == "sysv" and screen.query_one("#client-host", Input).value == "build-02"
        assert (i18n._("detect"), "detect") in kind._options
        assert str(screen.query_one("#add-client").label) == i18n._("Add") != "Add"

        await choose_in_palette(pilot, app, "English")
        await wait_for(pilot, lambda: "Quit" in footer_words(app))
        assert headings()[:2] == ["client", "kind"] and table.get_cell("root@198.51.100.7", "kind") == "detect"
        assert kind.value == "sysv" and ("detect", "detect") in kind._options
