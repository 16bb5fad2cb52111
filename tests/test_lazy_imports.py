"""The first screen starts fast: what it imports leaves SSH and crypto for later (README, Benchmarks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFERRED = ("asyncssh", "cryptography", "bcrypt", "tomlkit", "app.registry.deploy", "app.clients.configure")


def test_the_first_screen_imports_no_ssh_or_crypto() -> None:
    probe = ("import sys, app.cli, screens.app, screens.target; "
             f"print(','.join(m for m in {DEFERRED!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"imported at start-up: {result.stdout.strip()}"
