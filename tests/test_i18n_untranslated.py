"""No English sentence left in the Chinese interface: every ``--help`` of the parser tree, and the text of
the Chinese snapshot screens, scanned for runs of three or more English words.

A run of English words in Chinese output is a string nobody marked (or marked and left untranslated).
What may stay English is taken out first: command lines and option names, metavars (capitals), paths,
and the product and term names a Chinese engineer reads in English (Docker, TLS, containerd …).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = ROOT / "tests" / "__snapshots__"

#: Names and terms kept in English in the Chinese text (as Chinese Docker users write them).
ALLOWED = (
    "Docker Desktop", "Docker Engine", "Docker Hub", "Ansible inventory", "Ansible host pattern",
    "Rancher Desktop", "Let's Encrypt", "Colima", "OrbStack", "boot2docker", "Docker Toolbox",
    "Red Hat", "Rocky Linux", "Alma Linux", "Debian GNU/Linux", "Amazon Linux", "Oracle Linux",
    "no available network", "Simplified Chinese",
)
#: An English word: letters, perhaps an apostrophe ("registry's"), perhaps a comma or full stop after it.
#: Capitals-only words (metavars, TLS, CA, SSH) and words with digits, dashes or slashes (option names,
#: commands, paths, versions) are not counted.
WORD = re.compile(r"\(?[A-Za-z][a-z]+(?:'[a-z]+)?[,.;:)]?")


def english_runs(line: str, least: int = 3) -> list[str]:
    """The runs of ``least`` or more English words in ``line`` (allow-listed names taken out first)."""
    for name in ALLOWED:
        line = line.replace(name, " ")
    runs: list[str] = []
    current: list[str] = []
    for token in line.split() + [""]:
        if token and WORD.fullmatch(token):
            current.append(token)
            continue
        if len(current) >= least:
            runs.append(" ".join(current))
        current = []
    return runs


def test_english_runs_finds_sentences_and_leaves_commands_alone():
    assert english_runs("every repository and tag, with digest") == ["every repository and tag, with digest"]
    assert english_runs("What the registry holds, pruning old tags.") == ["What the registry holds, pruning old tags."]
    assert english_runs("之后用 regwiz apply FILE 原样执行") == []
    assert english_runs("  --trust-host-key SHA256:...") == []
    assert english_runs("配置此 Ansible inventory 中的主机") == []
    assert english_runs("两个词 only two 而已") == []


# --- --help ------------------------------------------------------------------------------------------


def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """``parser`` and every sub-command's parser beneath it, at every depth."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # (aliases would repeat a parser)
                yield from parsers(sub)


#: A help line's first column: an option with its metavar, or a sub-command's name, then two spaces.
NAME_COLUMN = re.compile(r"^\s+\S+(?: \S+)*\s{2,}")


def help_prose(text: str) -> Iterator[str]:
    """The lines of a help text a person reads as prose: the usage block (a command line) and the names
    column (options, sub-commands) left out."""
    in_usage = False
    for line in text.splitlines():
        if line.startswith("用法：") or line.startswith("usage: "):
            in_usage = True
            continue
        if in_usage and line.startswith(" "):
            continue
        in_usage = False
        yield NAME_COLUMN.sub("", line)


def test_help_prose_leaves_out_the_usage_and_the_names():
    text = ("usage: regwiz registry [-h] ACTION ...\n                  [--json]\n\n"
            "What the registry holds.\n  ACTION\n    ls        every repository and tag\n"
            "  --trust-host-key SHA256:...\n                        accept an unknown host key\n")
    assert [line.strip() for line in help_prose(text) if line.strip()] == [
        "What the registry holds.", "ACTION", "every repository and tag", "--trust-host-key SHA256:...",
        "accept an unknown host key"]


def every_help(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    from app.cli import build_parser

    monkeypatch.setenv("COLUMNS", "80")
    return {sub.prog: sub.format_help() for sub in parsers(build_parser())}


@pytest.mark.usefixtures("chinese")
def test_every_help_is_in_chinese(monkeypatch):
    helps = every_help(monkeypatch)
    # The walk reaches the deepest sub-commands (a walk that stopped at the top would pass on nothing).
    assert {"regwiz", "regwiz registry", "regwiz registry users add", "regwiz cert renew",
            "regwiz ca rotate"} <= set(helps)
    from app.cli_help import columns

    too_wide = {prog: line for prog, text in helps.items() for line in text.splitlines() if columns(line) > 80}
    assert not too_wide, too_wide  # (wide characters measured as two columns)
    english = {prog: runs for prog, text in helps.items()
               if (runs := [run for line in help_prose(text) for run in english_runs(line)])}
    assert not english, f"English left in the Chinese --help (mark it with _ and translate it): {english}"


@pytest.mark.usefixtures("chinese")
def test_help_headings_use_the_full_width_colon(monkeypatch):
    for prog, text in every_help(monkeypatch).items():
        lines = text.splitlines()
        assert lines[0].startswith("用法：regwiz"), prog
        headings = [line for line in lines if line and not line.startswith(" ") and line.rstrip().endswith(
            (":", "："))]
        assert headings, prog
        assert all(line.endswith("：") for line in headings), (prog, headings)


def test_help_in_english_keeps_argparse_headings(monkeypatch):
    text = every_help(monkeypatch)["regwiz registry"]
    assert text.startswith("usage: regwiz registry")
    assert "\npositional arguments:\n" in text and "\noptions:\n" in text
    assert "What the registry holds, pruning old tags, and its users." in text


# --- the Chinese snapshot screens ---------------------------------------------------------------------


def svg_lines(path: Path) -> list[str]:
    """The text of a terminal snapshot, one string per screen row (the SVG draws each run of a row as a
    <text> at that row's y)."""
    rows: dict[float, list[tuple[float, str]]] = {}
    for element in ElementTree.parse(path).iter():
        if element.tag.endswith("}text") and element.text:
            y, x = float(element.get("y", 0)), float(element.get("x", 0))
            rows.setdefault(y, []).append((x, element.text.replace("\xa0", " ")))
    return ["".join(text for _x, text in sorted(row)) for _y, row in sorted(rows.items())]


ZH_SNAPSHOTS = sorted(SNAPSHOTS.glob("test_snapshots_zh_*/*.svg"))


def test_the_chinese_snapshots_are_found_and_read():
    assert len(ZH_SNAPSHOTS) >= 30
    text = "\n".join(svg_lines(SNAPSHOTS / "test_snapshots_zh_wizard" / "test_first_screen_zh[80x24].svg"))
    assert "仓库运行在哪里？" in text  # the rows are rebuilt (a reader that found nothing would pass every screen)


def shown_as_given() -> list[str]:
    """Text the Chinese screens show as it was given, not theirs to translate: the English setups' own
    test data standing for what a host or daemon printed (the zh snapshots reuse those setups), and
    command lines of a plan."""
    from tests import test_snapshots_clients, test_snapshots_summary

    summary = test_snapshots_summary._summary()
    return [result.message for result in test_snapshots_clients.RESULTS] + [
        line.message for line in summary.clients] + ["Docker version 20.10.24", "ip route del"]


@pytest.mark.parametrize("path", ZH_SNAPSHOTS, ids=lambda path: path.name)
def test_chinese_snapshot_has_no_english_sentence(path):
    given = [" ".join(text.split()) for text in shown_as_given()]
    runs = []
    for line in svg_lines(path):
        for text in given:  # (whole, where it fits on a row; else each run must be part of one)
            line = line.replace(text, " ")
        runs += [run for run in english_runs(line) if not any(run.strip("(") in text for text in given)]
    assert not runs, f"English left on a Chinese screen ({path.name}): {runs}"


# --- argparse's own usage errors ----------------------------------------------------------------------


def _usage_error(lang: str, *argv: str) -> str:
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "LANG": lang, "HOME": "/nonexistent-regwiz-home",
           "XDG_CONFIG_HOME": "/nonexistent-regwiz-config", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "app", *argv], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=60)
    assert run.returncode == 2 and run.stdout == ""
    return run.stderr.splitlines()[-1]


def test_usage_errors_are_in_the_language_in_use():
    assert _usage_error("zh_CN.UTF-8", "registry") == "regwiz registry：错误：缺少必需的参数：ACTION"
    assert _usage_error("zh_CN.UTF-8", "registry", "prune", "--keep", "x") == (
        "regwiz registry prune：错误：参数 --keep：无效的 int 值：'x'")
    assert _usage_error("zh_CN.UTF-8", "clients", "--profile", "p", "--forks", "0") == (
        "regwiz clients：错误：参数 --forks：请给出 1 到 256 之间的整数（收到的是 '0'）")
    assert _usage_error("en_US.UTF-8", "registry") == (
        "regwiz registry: error: the following arguments are required: ACTION")
    assert _usage_error("en_US.UTF-8", "clients", "--profile", "p", "--forks", "0") == (
        "regwiz clients: error: argument --forks: give a whole number from 1 to 256 (found '0')")
