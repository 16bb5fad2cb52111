"""The code passes ruff and mypy as pyproject.toml configures them (part of the fast tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "app", "screens", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_mypy_finds_nothing() -> None:
    result = _run("mypy")  # the files and settings are in pyproject.toml
    assert result.returncode == 0 and "Success" in result.stdout, result.stdout[-4000:] + result.stderr[-2000:]
