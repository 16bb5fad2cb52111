"""The translations: every marked string is in the zh_CN catalog with the same placeholders; the language
comes from the setting or the locale variables; JSON stays English.

Placeholders are compared as Python's own parser sees them (string.Formatter), so a catalog entry that
drops, renames or adds one fails here, not in front of a user as a KeyError.
"""

from __future__ import annotations

import ast
import json
import string
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from app import i18n

ROOT = Path(__file__).resolve().parent.parent
ZH_PO = ROOT / "app" / "locale" / "zh_CN" / "LC_MESSAGES" / "regwiz.po"


def zh_catalog():
    with ZH_PO.open("rb") as handle:
        return read_po(handle, locale="zh_CN", domain="regwiz")


def placeholders(text: str) -> list[str]:
    """The {fields} of a format string, with their format specs, in a stable order."""
    return sorted(f"{name}:{spec}" for _, name, spec, _ in string.Formatter().parse(text) if name is not None)


def forms(text: str | tuple[str, ...] | list[str]) -> list[str]:
    """The forms of an entry: one for a plain message, singular and plural (or each msgstr[n]) for ngettext."""
    return [text] if isinstance(text, str) else list(text)


def marked_messages() -> set[str | tuple[str, ...]]:
    return {message.id for message in i18n.extract(ROOT) if message.id}


def test_the_code_marks_strings_for_translation():
    # The extraction itself works: a string known to be marked is found (a broken keyword map finds none).
    assert "Disk space" in marked_messages()
    assert "{port}/tcp is free" in marked_messages()


def test_every_marked_string_is_translated_in_zh_cn():
    catalog = zh_catalog()
    translated = {m.id for m in catalog if m.id and all(forms(m.string)) and not m.fuzzy}
    missing = sorted(marked_messages() - translated)
    assert not missing, f"not in app/locale/zh_CN (run ./dev catalogs, then translate): {missing}"


def test_every_zh_cn_entry_keeps_the_placeholders():
    wrong = [(m.id, m.string) for m in zh_catalog() if m.id and all(forms(m.string))
             and any(placeholders(english) != placeholders(chinese)
                     for english in forms(m.id) for chinese in forms(m.string))]
    assert not wrong, f"placeholders differ between English and Chinese: {wrong}"


def test_the_placeholder_check_catches_a_renamed_or_dropped_field():
    # The comparison above can fail: a renamed field, a dropped one and a changed format spec all differ.
    assert placeholders("{port}/tcp is free") != placeholders("{端口}/tcp 空闲")
    assert placeholders("{a} and {b}") != placeholders("{a}")
    assert placeholders("{gib:.1f} GiB") != placeholders("{gib} GiB")
    assert placeholders("{gib:.1f} GiB free") == placeholders("可用 {gib:.1f} GiB")


def test_no_string_is_translated_at_import_time():
    """_() at module or class level would freeze the language of the first import: such strings take N_."""
    offenders = []
    for folder in i18n.SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    for inner in ast.walk(node):
                        inner.in_function = True  # type: ignore[attr-defined]
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_"
                        and not getattr(node, "in_function", False)):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"_() outside a function (use N_ there and _() where it is shown): {offenders}"


@pytest.mark.parametrize(("environ", "expected"), [
    ({"LANG": "zh_CN.UTF-8"}, "zh_CN"),
    ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}, "zh_CN"),
    ({"LANG": "zh_CN.UTF-8", "LC_MESSAGES": "en_GB.UTF-8"}, "en"),
    ({"LC_ALL": "zh_CN.UTF-8", "LC_MESSAGES": "en_GB.UTF-8", "LANG": "en_US.UTF-8"}, "zh_CN"),
    ({"LC_ALL": "", "LANG": "zh_SG.UTF-8"}, "zh_CN"),  # empty counts as unset, as in C
    ({"LANG": "zh_TW.UTF-8"}, "en"),  # traditional characters: no catalog, so English
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "fr_FR.UTF-8"}, "en"),
    ({}, "en"),
])
def test_the_language_follows_the_locale_variables(environ, expected):
    assert i18n.language_from_environment(environ) == expected


def test_the_saved_setting_wins_over_the_environment():
    assert i18n.choose("zh_CN", {"LANG": "en_US.UTF-8"}) == "zh_CN"
    assert i18n.choose("en", {"LANG": "zh_CN.UTF-8"}) == "en"
    assert i18n.choose("klingon", {"LANG": "zh_CN.UTF-8"}) == "zh_CN"  # an unknown setting is ignored
    assert i18n.choose(None, {"LANG": "zh_CN.UTF-8"}) == "zh_CN"


def test_use_switches_the_language_and_falls_back_to_english(tmp_path):
    try:
        assert i18n.use("zh_CN") == "zh_CN"
        assert i18n._("Disk space") == "磁盘空间"
        assert i18n._("{port}/tcp is free").format(port=5000) == "5000/tcp 空闲"
        assert i18n._("a string nobody marked") == "a string nobody marked"
        assert i18n.use("zh_CN", locale_dir=tmp_path) == "en"  # no compiled catalog there
        assert i18n._("Disk space") == "Disk space"
    finally:
        i18n.use("en")


def test_the_compiled_catalog_is_the_source_catalog(tmp_path):
    """The .mo that ./dev compiles says what the committed .po says."""
    import gettext
    import shutil

    folder = tmp_path / "zh_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    shutil.copy(ZH_PO, folder / "regwiz.po")
    assert i18n.compile_catalogs(tmp_path) == [folder / "regwiz.mo"]
    assert i18n.compile_catalogs(tmp_path) == []  # up to date: not written again
    translation = gettext.translation("regwiz", str(tmp_path), languages=["zh_CN"])
    for message in zh_catalog():
        if message.id and isinstance(message.id, str) and message.string:
            assert translation.gettext(message.id) == message.string
        elif message.id and all(forms(message.string)):  # (ngettext: zh_CN has one form, for every count)
            singular, plural = message.id
            assert translation.ngettext(singular, plural, 1) == translation.ngettext(singular, plural, 5) \
                == message.string[0]


def _diagnose_help_and_json(lang: str) -> tuple[str, str]:
    """A headless run in a language; --json of a profile that does not exist (no host needed)."""
    env = {"PATH": "/usr/bin:/bin", "LANG": lang, "HOME": "/nonexistent-regwiz-home",
           "XDG_CONFIG_HOME": "/nonexistent-regwiz-config", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "app", "diagnose", "--profile", "/nonexistent/p.toml", "--json"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    return run.stdout, run.stderr


def test_json_output_is_english_in_every_language():
    english, _ = _diagnose_help_and_json("en_US.UTF-8")
    chinese, _ = _diagnose_help_and_json("zh_CN.UTF-8")
    assert json.loads(english.splitlines()[-1])["type"] == "error"
    assert chinese == english


def test_check_results_are_shown_in_the_language_in_use():
    from app.diagnose.resources import iptables_blocks

    try:
        i18n.use("zh_CN")
        assert iptables_blocks("-P INPUT DROP", 5000) == "INPUT 链的默认策略丢弃所有未放行的流量，且没有规则放行 5000 端口"
    finally:
        i18n.use("en")
    assert iptables_blocks("-P INPUT DROP", 5000) == (
        "the INPUT policy drops everything not allowed, and no rule allows port 5000")


def test_help_lines_are_wrapped_by_display_columns():
    from app.cli_help import columns, wrap

    assert columns("仓库 registry") == 13
    text = "检查仓库主机：Docker、路由冲突、端口、磁盘、时钟、防火墙。加 --yes 时，对每项未通过的检查执行推荐的修复。"
    lines = wrap(text, 30)
    assert all(columns(line) <= 30 for line in lines) and len(lines) >= 3
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")  # nothing lost, nothing added
    assert wrap("read by ansible-inventory; passwords", 20) == ["read by", "ansible-inventory;", "passwords"]


@pytest.mark.parametrize("command", [[], ["diagnose"], ["clients"], ["onboard"], ["apply"]])
def test_help_in_chinese_fits_80_columns(command):
    from app.cli_help import columns

    env = {"PATH": "/usr/bin:/bin", "LANG": "zh_CN.UTF-8", "COLUMNS": "80", "HOME": "/nonexistent-regwiz-home",
           "XDG_CONFIG_HOME": "/nonexistent-regwiz-config", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "app", *command, "--help"], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("用法：regwiz") and "显示本帮助并退出" in run.stdout
    too_wide = [line for line in lines if columns(line) > 80]
    assert not too_wide, too_wide


def test_a_shown_text_is_written_again_in_the_new_language():
    """app.i18n.retranslator: exact messages, messages with values filled in (the values kept), and text
    the catalog does not know (left as it is), from English to Chinese and back."""
    try:
        i18n.use("en")
        again = i18n.retranslator()
        i18n.use("zh_CN")
        assert again("Connect") == "连接"
        assert again("e.g. 203.0.113.10") == "例如 203.0.113.10"
        shown = again("5000/tcp is free")
        assert shown == i18n._("{port}/tcp is free").format(port=5000) and shown != "5000/tcp is free"
        assert again("build-01.example") == "build-01.example"
        assert again("Docker version 20.10.24, build 297e128") == "Docker version 20.10.24, build 297e128"
        back = i18n.retranslator()
        i18n.use("en")
        assert back("连接") == "Connect" and back("例如 203.0.113.10") == "e.g. 203.0.113.10"
        assert back(shown) == "5000/tcp is free" and back("build-01.example") == "build-01.example"
    finally:
        i18n.use("en")
