"""The first screen starts fast: what it imports leaves SSH and crypto for later (README, Benchmarks)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFERRED = ("asyncssh", "cryptography", "bcrypt", "tomlkit", "app.registry.deploy", "app.clients.configure",
            # the engine's steps come with the plan screen and the host-key modal's hint, not before
            "app.steps", "screens.plan",
            # the catalog tools (./dev catalogs) only; the settings' TOML only when there is a settings file
            "babel", "tomllib",
            # English needs no catalog (gettext), the run folder's random part no secrets (hmac, hashlib), and
            # the first paint neither the transport (shlex) nor the host-key modal: they come with Connect
            "gettext", "secrets", "hashlib", "app.transport", "app.transport.hostkeys", "screens.hostkey")


def test_the_first_screen_imports_no_ssh_or_crypto(tmp_path: Path) -> None:
    probe = ("import sys, app.cli, app.i18n; app.i18n.use_configured(); import screens.app, screens.target; "
             "from app.settings import load_settings; load_settings(); "
             f"print(','.join(m for m in {DEFERRED!r} if m in sys.modules))")
    # no settings file, as on a first run; an English locale (another language reads its catalog with gettext)
    env = {**os.environ, "REGWIZ_HOME": str(tmp_path), "LC_ALL": "C.UTF-8"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60,
                            env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"imported at start-up: {result.stdout.strip()}"


def test_a_settings_file_is_still_read(tmp_path: Path) -> None:
    """The TOML parser, deferred, still reads a saved theme (and ignores a broken file)."""
    from app.settings import load_settings

    path = tmp_path / "settings.toml"
    path.write_text('theme = "nord"\nlanguage = "zh_CN"\n', encoding="utf-8")
    assert load_settings(path) == {"theme": "nord", "language": "zh_CN"}
    path.write_text("theme = \n", encoding="utf-8")
    assert load_settings(path) == {}
    assert load_settings(tmp_path / "absent.toml") == {}
