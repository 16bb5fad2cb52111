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
from screens.steps import StepsPanel
from screens.target import TargetScreen


@pytest.fixture(autouse=True)
def english_after() -> Iterator[None]:
    i18n.use("en")
    yield
    i18n.use("en")


def footer_words(app: RegwizApp) -> list[str]:
    return [key.description for key in app.screen.query(FooterKey)]


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
