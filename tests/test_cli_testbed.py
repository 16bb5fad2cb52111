"""The headless CLI against real hosts: JSON lines, exit codes, onboarding, and no secret left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli_helpers import json_lines, registry_profile, regwiz, trust
from tests.testbed.hosts import Testbed, TestHost
from tests.testbed.images import RELEASES


def test_help_and_bad_usage(regwiz_home: Path) -> None:
    env = {**os.environ, "REGWIZ_HOME": str(regwiz_home)}
    for command in ("diagnose", "deploy", "clients", "setup", "onboard", "export-team-profile"):
        shown = regwiz(command, "--help", env=env)
        assert shown.returncode == 0 and "usage: regwiz" in shown.stdout
    missing = regwiz("deploy", env=env)
    assert missing.returncode == 2 and "--profile" in missing.stderr
    regwiz_home.mkdir(parents=True, exist_ok=True)
    bad = regwiz_home / "bad.toml"
    bad.write_text('[server]\nhost = "10.0.0.1"\nport = "twenty-two"\n')
    result = regwiz("diagnose", "--profile", str(bad), env=env)
    assert result.returncode == 2
    assert "line 3" in result.stderr and "server.port" in result.stderr
    assert "Traceback" not in result.stderr
    nothing = regwiz("diagnose", "--profile", "no-such-profile", env=env)
    assert nothing.returncode == 2 and "no profile named" in nothing.stderr


# Every release: deploy on Docker 26 and 28 too (their registry container starts in a testbed host
# because the testbed makes /proc/sys/net writable there: tests/testbed/hosts.py).
@pytest.mark.parametrize("release", RELEASES)
async def test_diagnose_json_then_deploy_fixes_then_onboard(release: str, fresh_host,  # type: ignore[no-untyped-def]
                                                            cli_env: dict[str, str],
                                                            regwiz_home: Path, testbed: Testbed) -> None:
    server: TestHost = fresh_host(f"ecs_conflict@{release}")
    assert server.release == release
    regwiz_home.mkdir(parents=True, exist_ok=True)
    profile = registry_profile(regwiz_home, server, cli_env, comment="the team's registry host")
    before = regwiz("diagnose", "--profile", str(profile), "--json", env=cli_env)
    assert before.returncode == 1, before.stderr
    checks = [o for o in json_lines(before.stdout) if o["type"] == "check"]
    assert [c["check"] for c in checks] == ["system", "docker", "network", "port", "disk", "clock", "firewall"]
    network = next(c for c in checks if c["check"] == "network")
    assert network["status"] == "failure" and "no available network" in network["summary"], network
    assert server.exec("test", "-e", "/etc/docker/daemon.json", check=False).returncode != 0  # no --yes: no change

    deployed = regwiz("deploy", "--profile", str(profile), "--yes", "--json", env=cli_env)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr
    objects = json_lines(deployed.stdout)
    proofs = [o for o in objects if o["type"] == "proof"]
    assert proofs and all(p["status"] == "ok" for p in proofs)
    report = Path(next(o for o in objects if o["type"] == "report")["path"]).read_text()
    assert "| diagnose | `/etc/docker/daemon.json` | none: the file was new" in report, report
    assert "`/etc/regwiz/registry/auth/htpasswd`" in report

    after = regwiz("diagnose", "--profile", str(profile), "--json", env=cli_env)
    assert after.returncode == 0, after.stdout
    assert all(c["status"] == "ok" for c in json_lines(after.stdout) if c["type"] == "check")

    # Onboarding a fresh developer machine from the shareable team profile.
    team = regwiz_home / "team.toml"
    exported = regwiz("export-team-profile", "--profile", str(profile), "-o", str(team), env=cli_env)
    assert exported.returncode == 0, exported.stderr
    team_text = team.read_text()
    assert "[team]" in team_text and "BEGIN CERTIFICATE" in team_text
    assert 'password_env = "REGISTRY_CI_PASSWORD"' in team_text  # the profile's user's variable, by default
    assert "[server]" not in team_text and server.root_password not in team_text
    # A profile whose registry user names no variable (as the wizard saves it): the team profile has
    # the user name and no password_env, and onboarding must ask for the password or say how to give it.
    bare_profile = regwiz_home / "ecs-no-password-env.toml"
    bare_profile.write_text(profile.read_text().replace('password_env = "REGISTRY_CI_PASSWORD"\n', ""))
    bare_team = regwiz_home / "team-no-password-env.toml"
    exported_bare = regwiz("export-team-profile", "--profile", str(bare_profile), "-o", str(bare_team), env=cli_env)
    assert exported_bare.returncode == 0, exported_bare.stderr
    assert 'username = "ci"' in bare_team.read_text() and "password_env" not in bare_team.read_text()
    assert "--password-env VAR" in exported_bare.stderr
    laptop: TestHost = fresh_host(f"linux_client@{release}")
    trust(laptop, regwiz_home)
    cli_env["LAPTOP_PASSWORD"] = laptop.root_password
    host_args = ("--host", f"root@{laptop.address}", "--ssh-password-env", "LAPTOP_PASSWORD", "--yes", "--json")
    refused = regwiz("onboard", str(bare_team), *host_args, env=cli_env)  # stdin is not a terminal
    assert refused.returncode == 2, refused.stdout[-3000:] + refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr
    assert refused.stderr.startswith("regwiz: ") and "--password-env VAR" in refused.stderr
    assert "password_env" in refused.stderr and "[team]" in refused.stderr
    assert laptop.exec("test", "-e", f"/etc/docker/certs.d/{server.address}:5000", check=False).returncode != 0
    joined = regwiz("onboard", str(bare_team), *host_args, "--password-env", "REGISTRY_CI_PASSWORD", env=cli_env)
    assert joined.returncode == 0, joined.stdout[-3000:] + joined.stderr
    objects = json_lines(joined.stdout)
    client = next(o for o in objects if o["type"] == "client")
    assert client["client"] == f"root@{laptop.address}"
    assert client["status"] == "ok" and client["pull_seconds"] > 0
    assert Path(next(o for o in objects if o["type"] == "report")["path"]).is_file()
    assert laptop.exec("test", "-f", f"/etc/docker/certs.d/{server.address}:5000/ca.crt",
                       check=False).returncode == 0

    # No password anywhere regwiz writes.
    for secret in (server.root_password, cli_env["REGISTRY_CI_PASSWORD"], laptop.root_password):
        for path in regwiz_home.rglob("*"):
            if path.is_file():
                assert secret not in path.read_text(errors="replace"), path
        for output in (before, deployed, after, joined, exported, exported_bare, refused):
            assert secret not in output.stdout + output.stderr


def test_headless_refuses_a_changed_host_key(bare: TestHost, regwiz_home: Path) -> None:
    regwiz_home.mkdir(parents=True, exist_ok=True)
    trust(bare, regwiz_home)
    bare.regenerate_host_keys()  # the man in the middle
    profile = regwiz_home / "mitm.toml"
    profile.write_text(f'[server]\nhost = "{bare.address}"\nuser = "root"\npassword_env = "BARE_PASSWORD"\n')
    env = {**os.environ, "REGWIZ_HOME": str(regwiz_home), "BARE_PASSWORD": bare.root_password}
    result = regwiz("diagnose", "--profile", str(profile), "--json", env=env)
    assert result.returncode == 1
    error = next(o for o in json_lines(result.stdout) if o["type"] == "error")
    assert "REFUSED" in error["message"] and "man in the middle" in error["message"]
    assert not any(o["type"] == "check" for o in json_lines(result.stdout))
    assert bare.root_password not in result.stdout + result.stderr
