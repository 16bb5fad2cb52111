"""What the deployed registry refuses, who may read its secrets, and hostile profile values."""

from __future__ import annotations

import asyncio
import os
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from app.clients.model import RegistryTarget
from tests.cli_helpers import regwiz, trust
from tests.testbed.hosts import Testbed, TestHost

CANARY = "/tmp/regwiz-canary"


def _host_of(testbed: Testbed, registry: RegistryTarget) -> TestHost:
    return next(h for h in testbed.hosts if h.address == registry.host)


def _get(url: str, context: ssl.SSLContext | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10, context=context) as response:  # noqa: S310 - testbed only
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


async def test_default_registry_refuses_plain_http_and_anonymous_pulls(tls_registry: RegistryTarget) -> None:
    # Plain HTTP to the registry's port: Go's TLS server answers 400 and serves nothing.
    code, body = await asyncio.to_thread(_get, f"http://{tls_registry.address}/v2/")
    assert code == 400 and "HTTP request to an HTTPS server" in body
    code, _ = await asyncio.to_thread(_get, f"http://{tls_registry.address}/v2/regwiz/hello/manifests/latest")
    assert code == 400
    # Over TLS without credentials: the API root and a pushed image's manifest are both refused.
    assert tls_registry.ca_pem is not None
    trusted = ssl.create_default_context(cadata=tls_registry.ca_pem.decode())
    code, _ = await asyncio.to_thread(_get, f"https://{tls_registry.address}/v2/", trusted)
    assert code == 401
    code, body = await asyncio.to_thread(_get, f"https://{tls_registry.address}/v2/regwiz/hello/manifests/latest",
                                         trusted)
    assert code == 401 and "UNAUTHORIZED" in body


async def test_registry_secrets_are_readable_by_the_registry_only(testbed: Testbed,
                                                                 tls_registry: RegistryTarget) -> None:
    host = _host_of(testbed, tls_registry)
    for path in ("/etc/regwiz/registry/auth/htpasswd", "/etc/regwiz/registry/certs/server.key"):
        assert host.exec("stat", "-c", "%a %U %G", path).stdout.split() == ["600", "root", "root"], path
        # Another account on the host cannot read it ...
        denied = host.exec("runuser", "-u", host.sudo_user, "--", "cat", path, check=False)
        assert denied.returncode != 0 and "Permission denied" in denied.stderr
    # ... while the registry, which runs as root in its container, reads both (it answers with auth and TLS).
    pid = host.exec("docker", "inspect", "-f", "{{.State.Pid}}", "registry").stdout.strip()
    assert host.exec("ps", "-o", "user=", "-p", pid).stdout.strip() == "root"
    assert host.exec("docker", "inspect", "-f", "{{.State.Running}}", "registry").stdout.strip() == "true"


@pytest.mark.parametrize("table, line, field", [
    ("server", 'host = "10.0.0.1;touch /tmp/regwiz-canary"', "server.host"),
    ("server", 'host = "$(touch /tmp/regwiz-canary)"', "server.host"),
    ("server", 'host = "10.0.0.1"\nuser = "root`touch /tmp/regwiz-canary`"', "server.user"),
    ("server", 'host = "10.0.0.1"\nuser = "ro\\not"', "server.user"),
    ("registry", 'names = ["reg.example.com\';touch /tmp/regwiz-canary;\'"]', "registry.names[0]"),
    ("registry", 'storage = "/srv/registry:/etc:rw"', "registry.storage"),
    ("registry", '[[registry.users]]\nname = "ci;touch /tmp/regwiz-canary"\npassword_env = "P"',
     "registry.users[0].name"),
    ("registry", '[[registry.users]]\nname = "ci"\npassword = "$(touch /tmp/regwiz-canary)"',
     "registry.users[0].password"),
    ("clients", 'host = "laptop\\n.example.com"', "clients[0].host"),
])
def test_hostile_profile_values_are_refused_by_name(table: str, line: str, field: str,
                                                    regwiz_home: Path) -> None:
    regwiz_home.mkdir(parents=True, exist_ok=True)
    sections = {"server": "[server]\n", "registry": '[server]\nhost = "10.0.0.1"\n[registry]\n',
                "clients": '[server]\nhost = "10.0.0.1"\n[registry]\n[[clients]]\n'}
    profile = regwiz_home / "hostile.toml"
    profile.write_text(sections[table] + line + "\n")
    result = regwiz("diagnose", "--profile", str(profile), env={**os.environ, "REGWIZ_HOME": str(regwiz_home)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert field in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not Path(CANARY).exists()


async def test_a_storage_path_full_of_shell_is_only_a_folder_name(fresh_host, cli_env: dict[str, str],  # type: ignore[no-untyped-def]
                                                                  regwiz_home: Path) -> None:
    host: TestHost = fresh_host("ecs")
    trust(host, regwiz_home)
    storage = f"/srv/reg $(touch {CANARY}) `touch {CANARY}`; touch {CANARY} 'é\""
    regwiz_home.mkdir(parents=True, exist_ok=True)
    profile = regwiz_home / "storage.toml"
    escaped = storage.replace("\\", "\\\\").replace('"', '\\"')
    profile.write_text(f'[server]\nhost = "{host.address}"\npassword_env = "PW"\n\n[registry]\nstorage = "{escaped}"\n'
                       '[[registry.users]]\nname = "ci"\npassword_env = "REGISTRY_CI_PASSWORD"\n')
    env = {**cli_env, "PW": host.root_password}
    deployed = await asyncio.to_thread(regwiz, "deploy", "--profile", str(profile), "--yes", env=env)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr
    assert host.exec("test", "-e", CANARY, check=False).returncode != 0
    # The folder exists under exactly that name, and the registry keeps its blobs there.
    assert host.exec("test", "-d", storage, check=False).returncode == 0
    mounts = host.exec("docker", "inspect", "-f", "{{range .Mounts}}{{.Source}}\n{{end}}", "registry").stdout
    assert storage in mounts.splitlines()
    assert host.exec("sh", "-c", 'ls -A "$1" | head -1', "sh", storage).stdout.strip() != ""  # the proof pushed
