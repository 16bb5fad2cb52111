"""Where regwiz keeps its files, per platformdirs.

``REGWIZ_HOME`` moves everything under one folder (tests use it so that a run
never touches the user's real configuration).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "regwiz"


def _home_override() -> Path | None:
    value = os.environ.get("REGWIZ_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    home = _home_override()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME))


def state_dir() -> Path:
    home = _home_override()
    return home / "state" if home else Path(platformdirs.user_state_dir(APP_NAME))


def log_dir() -> Path:
    return state_dir() / "logs"


def known_hosts_path() -> Path:
    """regwiz's own known_hosts: host keys the user accepted in regwiz."""
    return state_dir() / "known_hosts"


def ensure_private_dir(path: Path) -> Path:
    """Create a directory readable by the user alone (it may hold keys)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path
