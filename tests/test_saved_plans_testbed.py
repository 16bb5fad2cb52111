"""Saved plans against real hosts: what was planned (and confirmed) is exactly what is applied.

--plan-out changes nothing; `regwiz apply` writes exactly the planned texts; a planned file changed
on the host in between refuses that host, naming the file, and nothing is changed there; planning
again and applying that succeeds. In-process, the clients' engine applies the plans confirmed,
and refuses when the host changed between the confirmation and the apply.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from app.clients.configure import ClientSpec, configure_clients
from app.events import EventBus
from app.profiles import load_profile
from app.session import registry_target
from app.steps import Plan, Status
from tests.cli_helpers import json_lines, registry_profile, regwiz, trust
from tests.sshutil import root_by_password
from tests.testbed.hosts import TestHost


def _profile(home: Path, server: TestHost, client: TestHost, env: dict[str, str]) -> Path:
    trust(client, home)
    env["CLIENT_PASSWORD"] = client.root_password
    return registry_profile(home, server, env, name="plans.toml", extra=f'''
[[clients]]
host = "{client.address}"
user = "root"
password_env = "CLIENT_PASSWORD"
kind = "sysv"
''')


def _planned_changes(path: Path) -> list[dict]:  # type: ignore[type-arg]
    data = json.loads(path.read_text())
    return [c for h in data["hosts"] for s in h["steps"] for c in s["plan"]["changes"] if c["changes"]]


def _on_host(host: TestHost, path: str) -> str | None:
    shown = host.exec("sh", "-c", f'[ -e "{path}" ] && base64 < "{path}" || echo absent', check=False).stdout
    return None if shown.strip() == "absent" else base64.b64decode(shown).decode()


async def test_saved_plans_apply_exactly_and_refuse_a_changed_file(fresh_host, cli_env: dict[str, str],  # type: ignore[no-untyped-def]
                                                                   regwiz_home: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    server: TestHost = fresh_host("ecs")
    client: TestHost = fresh_host("sysv_client")
    regwiz_home.mkdir(parents=True, exist_ok=True)
    profile = _profile(regwiz_home, server, client, cli_env)
    secrets = (server.root_password, client.root_password, cli_env["REGISTRY_CI_PASSWORD"])

    # The diagnosis's fixes (this host's Docker is stopped and not enabled): planned, then applied.
    diagnose_plan = tmp_path / "diagnose.json"
    planned = regwiz("diagnose", "--profile", str(profile), "--yes", "--plan-out", str(diagnose_plan), "--json",
                     env=cli_env)
    assert planned.returncode == 0, planned.stdout[-3000:] + planned.stderr
    steps = [s for h in json.loads(diagnose_plan.read_text())["hosts"] for s in h["steps"]]
    assert [s["step"] for s in steps] == ["fix-enable-docker"] and steps[0]["plan"]["decision"] == {"enable": True}
    assert server.exec("systemctl", "is-enabled", "docker", check=False).stdout.strip() != "enabled"
    applied = regwiz("apply", str(diagnose_plan), "--json", env=cli_env)
    assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr
    assert server.exec("systemctl", "is-enabled", "docker", check=False).stdout.strip() == "enabled"

    # The registry: planned (nothing changed), reviewed, applied; the host ends as the plan says.
    deploy_plan = tmp_path / "deploy.json"
    planned = regwiz("deploy", "--profile", str(profile), "--plan-out", str(deploy_plan), "--json", env=cli_env)
    assert planned.returncode == 0, planned.stdout[-3000:] + planned.stderr
    assert server.exec("test", "-e", "/etc/regwiz/registry", check=False).returncode != 0
    assert server.exec("docker", "inspect", "registry", check=False).returncode != 0
    text = deploy_plan.read_text()
    assert "PRIVATE KEY" not in text and "$2y$" not in text and not any(s in text for s in secrets)
    applied = regwiz("apply", str(deploy_plan), "--json", env=cli_env)
    assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr
    assert all(p["status"] == "ok" for p in json_lines(applied.stdout) if p["type"] == "proof")
    for change in _planned_changes(deploy_plan):
        now = _on_host(server, change["path"])
        assert now is not None and hashlib.sha256(now.encode()).hexdigest() == change["after_sha256"], change["path"]
        if not change["sensitive"]:
            assert now == change["new"], change["path"]

    # A client: planned, then its planned file changes on the host: apply refuses it, naming the file.
    clients_plan = tmp_path / "clients.json"
    planned = regwiz("clients", "--profile", str(profile), "--plan-out", str(clients_plan), "--json", env=cli_env)
    assert planned.returncode == 0, planned.stdout[-3000:] + planned.stderr
    [ca_change] = _planned_changes(clients_plan)
    ca_path = ca_change["path"]
    assert ca_path == f"/etc/docker/certs.d/{server.address}:5000/ca.crt" and ca_change["before_sha256"] is None
    assert _on_host(client, ca_path) is None  # planning changed nothing
    client.exec("sh", "-c", f'mkdir -p "$(dirname {ca_path})" && echo "someone else" > {ca_path}')
    refused = regwiz("apply", str(clients_plan), "--json", env=cli_env)
    assert refused.returncode == 1, refused.stdout[-3000:] + refused.stderr
    result = next(o for o in json_lines(refused.stdout) if o["type"] == "client")
    assert result["status"] == "failure" and ca_path in result["message"] and "plan again" in result["message"]
    assert _on_host(client, ca_path) == "someone else\n"

    # Headless engine, in process: the host changes between the confirmation and the apply.
    monkeypatch.setenv("REGISTRY_CI_PASSWORD", cli_env["REGISTRY_CI_PASSWORD"])
    registry = registry_target(load_profile(str(profile)), None)
    shown: list[tuple[str, Plan]] = []

    async def confirm_then_change(plans: list[tuple[str, Plan]]) -> bool:
        shown.extend(plans)
        client.exec("sh", "-c", f'echo "changed after the confirmation" > {ca_path}')
        return True

    spec = ClientSpec(client.address, lambda: root_by_password(client, tmp_path))
    [outcome] = await configure_clients([spec], registry, EventBus(), confirm_then_change)
    assert [c.old for _, p in shown for c in p.changes if c.changes_anything] == ["someone else\n"]
    assert outcome.status is Status.FAILURE and outcome.stale and ca_path in outcome.message, outcome.message
    assert _on_host(client, ca_path) == "changed after the confirmation\n"

    # Planned again, the new plan applies, and the host ends exactly as its diff says.
    again = tmp_path / "clients-again.json"
    planned = regwiz("clients", "--profile", str(profile), "--plan-out", str(again), env=cli_env)
    assert planned.returncode == 0, planned.stdout[-3000:] + planned.stderr
    [change] = _planned_changes(again)
    assert change["old"] == "changed after the confirmation\n" and "changed after the confirmation" in change["diff"]
    done = regwiz("apply", str(again), "--json", env=cli_env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    result = next(o for o in json_lines(done.stdout) if o["type"] == "client")
    assert result["status"] == "ok" and result["pull_seconds"] > 0
    assert _on_host(client, ca_path) == change["new"]
    for output in (planned, refused, done, applied):
        assert not any(s in output.stdout + output.stderr for s in secrets)
    # What regwiz kept here (plan files, plan-secrets, logs) holds no password.
    for path in [*regwiz_home.rglob("*"), *tmp_path.glob("*.json")]:
        if path.is_file():
            assert not any(s in path.read_text(errors="replace") for s in secrets), path
    kept = list((regwiz_home / "state" / "plan-secrets").iterdir())
    assert kept and all(p.stat().st_mode & 0o777 == 0o600 for p in kept)
