"""Headless `regwiz diagnose` in Chinese against a real host: the text lines are Chinese, --json is English.

The host is an `ecs_conflict` testbed host: Docker installed and stopped, and link routes over every
default address pool (the Aliyun route conflict), so the Docker check and the route check both report
something to translate. Without --yes nothing on the host changes, so the runs can be compared.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.cli_helpers import json_lines, registry_profile, regwiz
from tests.testbed.hosts import TestHost

CJK = re.compile(r"[\u4e00-\u9fff]")


def _in(env: dict[str, str], lang: str) -> dict[str, str]:
    """``env`` with the language given by LANG alone (LC_ALL and LC_MESSAGES would take precedence)."""
    shown = {k: v for k, v in env.items() if k not in ("LC_ALL", "LC_MESSAGES", "LANGUAGE")}
    return {**shown, "LANG": lang}


#: What is measured afresh by each run, by check: the clock's offset (and its uncertainty), and the
#: disk's free bytes (other containers share the disk); their summaries quote those figures.
MEASURED = {"clock": ("skew_seconds", "uncertainty_seconds"), "disk": ("available_bytes",)}


def _comparable(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records without what legitimately differs between two runs of the same diagnosis on the same
    host: the report record (its path and logs folder are named by the run's start time), and the
    MEASURED figures with the summaries that quote them. Everything else must be equal."""
    kept = []
    for record in objects:
        if record["type"] == "report":
            continue
        measured = MEASURED.get(record.get("check", ""), ())
        if measured:
            record = {**record, "summary": None,
                      "data": {k: v for k, v in record["data"].items() if k not in measured}}
        kept.append(record)
    return kept


def test_diagnose_in_chinese_prints_chinese_and_the_same_json(fresh_host, cli_env: dict[str, str],  # type: ignore[no-untyped-def]
                                                               regwiz_home: Path) -> None:
    server: TestHost = fresh_host("ecs_conflict")
    regwiz_home.mkdir(parents=True, exist_ok=True)
    profile = str(registry_profile(regwiz_home, server, cli_env))

    text = regwiz("diagnose", "--profile", profile, env=_in(cli_env, "zh_CN.UTF-8"))
    assert text.returncode == 1, text.stdout[-3000:] + text.stderr
    checks = [line for line in text.stdout.splitlines() if line.startswith("== ")]
    by_title = {line.split(":", 1)[0]: line for line in checks}
    # The route check, its title, status and summary (predicted: Docker has never run here).
    assert by_title["== 检查 路由冲突"] == "== 检查 路由冲突: 失败 dockerd 将无法为 docker0 找到可用网段（预测）", checks
    # The Docker check: installed, never started.
    assert re.fullmatch(r"== 检查 Docker: 警告 Docker version \S+, build \S+：已安装，未运行（从未启动过）",
                        by_title["== 检查 Docker"]), checks
    assert by_title["== 检查 系统"].startswith("== 检查 系统: 正常 Debian"), checks
    assert any(line.startswith("== 报告: ") and "每个步骤的日志" in line for line in checks), checks
    assert all(CJK.search(line) for line in checks), checks
    assert "Traceback" not in text.stderr

    chinese = regwiz("diagnose", "--profile", profile, "--json", env=_in(cli_env, "zh_CN.UTF-8"))
    english = regwiz("diagnose", "--profile", profile, "--json", env=_in(cli_env, "en_US.UTF-8"))
    assert chinese.returncode == english.returncode == 1, chinese.stderr + english.stderr
    assert not CJK.search(chinese.stdout), chinese.stdout
    zh_objects, en_objects = json_lines(chinese.stdout), json_lines(english.stdout)
    network = next(o for o in en_objects if o.get("check") == "network")
    assert network["summary"] == "dockerd will find no available network for docker0 (predicted)"
    assert network["title"] == "Route conflict" and network["fixes"][0].startswith("Give Docker free address")
    assert _comparable(zh_objects) == _comparable(en_objects)
