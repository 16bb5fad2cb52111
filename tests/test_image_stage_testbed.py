"""`--yes` stages the registry image on the host while the bridge fix restarts dockerd (issue 16): the
deploy loads it from there, and the file never outlives the run, whether the deploy used it or failed."""

from __future__ import annotations

from pathlib import Path

from app.registry.image import STAGED_IMAGE
from tests.cli_helpers import json_lines, registry_profile, regwiz
from tests.testbed.hosts import TestHost


def _staged_files(host: TestHost) -> str:
    """What is left of the staged image on the host (its name and the part being written), "" when none."""
    return host.exec("sh", "-c", f'ls -d {STAGED_IMAGE} {STAGED_IMAGE}.part 2>/dev/null || true').stdout.strip()


def _deploy_log(home: Path, host: TestHost) -> str:
    logs = list((home / "state" / "logs").rglob(f"deploy--{host.address}.log"))
    assert logs, sorted(p.name for p in (home / "state" / "logs").rglob("*.log"))
    return logs[0].read_text()


def test_setup_loads_the_image_it_staged_while_dockerd_restarted(
        fresh_host, regwiz_home: Path, cli_env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    server: TestHost = fresh_host("ecs_conflict")
    client: TestHost = fresh_host("linux_client")
    profile = registry_profile(regwiz_home, server, cli_env, clients=[client])
    run = regwiz("setup", "--profile", str(profile), "--yes", "--json", env=cli_env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    records = json_lines(run.stdout)
    said = [r["message"] for r in records if r["type"] == "info"]
    assert any(m.startswith("staging the registry image on the host") for m in said), said
    # Said before the bridge fix's step was reported: it was staged while that fix ran.
    staging = next(i for i, r in enumerate(records) if r["type"] == "info" and r["message"].startswith("staging"))
    fix = next(i for i, r in enumerate(records) if r["type"] == "step" and "address ranges" in r["step"])
    assert staging < fix
    log = _deploy_log(regwiz_home, server)
    assert "uploaded from this machine (staged on the host while dockerd restarted)" in log, log[-3000:]
    assert _staged_files(server) == ""
    assert server.exec("docker", "image", "inspect", "registry:2", check=False).returncode == 0


def test_staged_image_is_removed_when_the_deploy_fails(
        fresh_host, regwiz_home: Path, cli_env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    server: TestHost = fresh_host("ecs_conflict")
    server.exec("/usr/sbin/sshd", "-p", "5000")  # the registry's port is taken: the deploy is refused
    profile = registry_profile(regwiz_home, server, cli_env)
    run = regwiz("deploy", "--profile", str(profile), "--yes", "--json", env=cli_env)
    assert run.returncode != 0, run.stdout[-3000:]
    records = json_lines(run.stdout)
    assert any(r["type"] == "info" and r["message"].startswith("staging the registry image") for r in records)
    assert [r["outcome"] for r in records if r["type"] == "step" and r["step"] == "Deploy the registry"] == \
        ["refused"], records
    log = _deploy_log(regwiz_home, server)
    assert f"the image staged in {STAGED_IMAGE} was not used: removed" in log, log[-3000:]
    assert _staged_files(server) == ""
    assert server.exec("docker", "image", "inspect", "registry:2", check=False).returncode != 0
