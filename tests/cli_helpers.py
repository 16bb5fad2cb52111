"""Running the real ``regwiz`` command against testbed hosts, as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Sequence

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


def registry_profile(home: Path, server: TestHost, env: dict[str, str], *, name: str = "ecs.toml",
                     comment: str = "", clients: Sequence[TestHost] = (), extra: str = "") -> Path:
    """The profile the testbed's command tests deploy from: ``server`` as the registry host (own CA,
    htpasswd user ``ci`` whose password is REGISTRY_CI_PASSWORD, filesystem storage), and each of
    ``clients`` as a ``[[clients]]`` entry. regwiz's known_hosts trusts every host, and ``env`` gets
    their root passwords (ECS_PASSWORD, CLIENT<n>_PASSWORD): the profile holds only those names.
    ``extra`` is TOML appended as it is (clients of other shapes)."""
    trust(server, home)
    env["ECS_PASSWORD"] = server.root_password
    entries = []
    for index, host in enumerate(clients):
        trust(host, home)
        env[f"CLIENT{index}_PASSWORD"] = host.root_password
        entries.append(f'\n[[clients]]\nhost = "{host.address}"\nuser = "root"\n'
                       f'password_env = "CLIENT{index}_PASSWORD"\n')
    profile = home / name
    profile.write_text((f"# {comment}\n" if comment else "") + f'''[server]
host = "{server.address}"
port = 22
user = "root"
password_env = "ECS_PASSWORD"

[registry]
port = 5000
tls = "own-ca"
auth = "htpasswd"
storage = "/var/lib/registry"
mode = "private"
[[registry.users]]
name = "ci"
password_env = "REGISTRY_CI_PASSWORD"
''' + "".join(entries) + extra)
    return profile
