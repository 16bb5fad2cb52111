from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

pytest_plugins = ["tests.testbed.fixtures"]


@pytest.fixture(autouse=True)
def regwiz_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own config and state folders: a user's are never touched."""
    home = tmp_path / "regwiz-home"
    monkeypatch.setenv("REGWIZ_HOME", str(home))
    yield home
