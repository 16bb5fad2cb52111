"""The user's own settings of regwiz itself (not of a set-up): kept in ``<config>/settings.toml``.

Read with tomllib at start-up when the file exists (small and fast); written with tomlkit, so a comment the user
added survives. A file that cannot be read is ignored (defaults), never fatal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app import paths

KNOWN = {"theme": str, "language": str}


def settings_path() -> Path:
    return paths.config_dir() / "settings.toml"


def load_settings(path: Path | None = None) -> dict[str, Any]:
    """The saved settings of known names and types; {} when there is no usable file."""
    try:
        text = (path or settings_path()).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    import tomllib  # only when there is a file (start-up time: most runs have none)

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}
    return {key: value for key, value in data.items() if isinstance(value, KNOWN.get(key, type(None)))}


def save_setting(key: str, value: Any, path: Path | None = None) -> Path:
    """Set one setting, keeping the rest of the file (and its comments) as it was."""
    import tomlkit

    if key not in KNOWN or not isinstance(value, KNOWN[key]):
        raise ValueError(f"unknown setting {key!r} or wrong type")
    path = path or settings_path()
    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomlkit.exceptions.ParseError):
        document = tomlkit.document()
    document[key] = value
    paths.ensure_private_dir(path.parent)
    paths.write_atomic(path, tomlkit.dumps(document).encode("utf-8"), 0o600)
    return path
