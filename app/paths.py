"""Where regwiz keeps its files, per platformdirs.

``REGWIZ_HOME`` moves everything under one folder (tests use it so that a run
never touches the user's real configuration).
"""

from __future__ import annotations

import os
import tempfile
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


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write via a temp file in the same folder: a crash never leaves half a file.

    The temp file has its final mode before any byte is written (mkstemp makes it
    0600, then fchmod), so a secret is never readable by others, not for a moment,
    and the umask never decides the mode.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
