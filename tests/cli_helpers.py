"""Running the real ``regwiz`` command against testbed hosts, as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.testbed.hosts import TestHost

ROOT = Path(__file__).resolve().parent.parent


def regwiz(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def json_lines(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def trust(host: TestHost, home: Path) -> None:
    """regwiz's own known_hosts accepts the host's real keys (as after a first TUI connect)."""
    state = home / "state"
    state.mkdir(parents=True, exist_ok=True)
    with (state / "known_hosts").open("a") as out:
        out.write("\n".join(host.known_hosts_lines()) + "\n")
