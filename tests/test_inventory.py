"""Clients from an Ansible inventory, read by the real ansible-inventory (ansible-core, in the test extra):
groups, group and host variables, host patterns, the refusals. No hosts are needed here; the testbed run
is tests/test_inventory_testbed.py."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from app.clients.configure import ClientResult
from app.inventory import NOT_INSTALLED, InventoryError, inventory_clients
from app.profiles import ClientProfile
from app.progress import ClientProgress
from app.steps import Status
from tests.cli_helpers import regwiz

INVENTORY = """\
[all:vars]
ansible_user=nobody-here
ansible_ssh_private_key_file=/keys/fleet

[web]
web1 ansible_host=10.1.0.1
web2 ansible_host=10.1.0.2 ansible_port=2222

[db]
db1 ansible_host=10.1.0.3 ansible_user=deploy regwiz_sudo_password_env=DB_SUDO

[web:vars]
ansible_user=root

[prod:children]
web
db
"""


def with_ansible(env: dict[str, str] | None = None) -> dict[str, str]:
    """PATH with the venv's bin first, where pip put ansible-inventory (as an activated venv has it)."""
    base = dict(os.environ if env is None else env)
    base["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}"
    return base


def without_ansible(env: dict[str, str]) -> dict[str, str]:
    dirs = [d for d in env.get("PATH", "").split(os.pathsep)
            if d and not (Path(d) / "ansible-inventory").exists()]
    return {**env, "PATH": os.pathsep.join(dirs)}


@pytest.fixture
def ansible_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", with_ansible()["PATH"])


def write(tmp_path: Path, text: str, name: str = "hosts.ini") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_groups_vars_and_a_host_pattern(tmp_path: Path, ansible_on_path: None) -> None:
    path = str(write(tmp_path, INVENTORY))
    everyone = inventory_clients(path, None, [])
    assert [(c.host, c.port, c.user) for c in everyone] == [
        ("10.1.0.1", 22, "root"), ("10.1.0.2", 2222, "root"), ("10.1.0.3", 22, "deploy")]
    assert {c.identity_file for c in everyone} == {"/keys/fleet"}  # from [all:vars]
    assert everyone[2].sudo_password_env == "DB_SUDO" and everyone[2].password_env is None
    # Ansible's own pattern semantics: a group, minus a host; an intersection; a wildcard
    assert [c.host for c in inventory_clients(path, "prod:!web2", [])] == ["10.1.0.1", "10.1.0.3"]
    assert [c.host for c in inventory_clients(path, "prod:&db", [])] == ["10.1.0.3"]
    assert [c.host for c in inventory_clients(path, "web*", [])] == ["10.1.0.1", "10.1.0.2"]
    with pytest.raises(InventoryError, match="no hosts matching --limit 'nosuch'"):
        inventory_clients(path, "nosuch", [])


def test_the_profiles_entry_for_a_host_names_its_secrets(tmp_path: Path, ansible_on_path: None) -> None:
    path = str(write(tmp_path, "[web]\nweb1 ansible_host=10.1.0.1\n"))
    profile = [ClientProfile(host="10.1.0.1", password_env="WEB1_PASSWORD", kind="linux")]
    entry, = inventory_clients(path, None, profile)
    assert (entry.host, entry.user, entry.password_env, entry.kind, entry.identity_file) == \
        ("10.1.0.1", "root", "WEB1_PASSWORD", "linux", None)


def test_yaml_inventory_and_local_connection(tmp_path: Path, ansible_on_path: None) -> None:
    path = str(write(tmp_path, """\
all:
  children:
    builders:
      hosts:
        laptop:
          ansible_connection: local
        ci1:
          ansible_host: 10.2.0.1
          ansible_user: ci
      vars:
        ansible_port: 2200
""", "hosts.yml"))
    laptop, ci1 = inventory_clients(path, None, [])
    assert laptop.kind == "local"
    assert (ci1.host, ci1.port, ci1.user) == ("10.2.0.1", 2200, "ci")


@pytest.mark.parametrize("line, said", [
    ("web1 ansible_host=10.1.0.1 ansible_password=hunter2", "ansible_password holds a password in a file"),
    ("web1 ansible_ssh_pass=hunter2", "ansible_ssh_pass holds a password in a file"),
    ("web1 ansible_become_password=hunter2", "ansible_become_password holds a password in a file"),
    ("web1 ansible_host='{{ lookup(\"env\", \"IP\") }}'", "is a Jinja template"),
    ("web1 ansible_connection=winrm", "ansible_connection=winrm is not SSH"),
    ("web1 ansible_port=ssh", "ansible_port must be a number"),
])
def test_refused_hosts(tmp_path: Path, ansible_on_path: None, line: str, said: str) -> None:
    path = str(write(tmp_path, f"[web]\n{line}\n"))
    with pytest.raises(InventoryError, match=said):
        inventory_clients(path, None, [])


def profile_file(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "fleet.toml"
    path.write_text('[server]\nhost = "10.0.0.9"\n[registry]\ntls = "own-ca"\n'
                    '[[registry.users]]\nname = "ci"\npassword_env = "REGISTRY_CI_PASSWORD"\n')
    return path


def test_cli_refuses_a_password_in_the_inventory(tmp_path: Path, regwiz_home: Path) -> None:
    inventory = write(tmp_path, "[web]\nweb1 ansible_host=10.1.0.1\nweb2 ansible_host=10.1.0.2 "
                                "ansible_password=s3cret-in-a-file\n")
    env = with_ansible({**os.environ, "REGWIZ_HOME": str(regwiz_home), "REGISTRY_CI_PASSWORD": "x"})
    done = regwiz("clients", "--profile", str(profile_file(regwiz_home)), "--inventory", str(inventory),
                  "--yes", env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "inventory host web2: ansible_password holds a password in a file, which regwiz refuses" in done.stderr
    assert "password_env" in done.stderr and "s3cret-in-a-file" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "== client" not in done.stdout  # no client was touched


def test_cli_says_when_ansible_is_absent(tmp_path: Path, regwiz_home: Path) -> None:
    inventory = write(tmp_path, "[web]\nweb1 ansible_host=10.1.0.1\n")
    env = without_ansible({**os.environ, "REGWIZ_HOME": str(regwiz_home), "REGISTRY_CI_PASSWORD": "x"})
    assert not any((Path(d) / "ansible-inventory").exists() for d in env["PATH"].split(os.pathsep) if d)
    done = regwiz("clients", "--profile", str(profile_file(regwiz_home)), "--inventory", str(inventory),
                  "--yes", env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"regwiz: {NOT_INSTALLED}" in done.stderr and "Traceback" not in done.stderr


def test_cli_usage_errors(tmp_path: Path, regwiz_home: Path) -> None:
    env = with_ansible({**os.environ, "REGWIZ_HOME": str(regwiz_home), "REGISTRY_CI_PASSWORD": "x"})
    profile = str(profile_file(regwiz_home))
    alone = regwiz("clients", "--profile", profile, "--limit", "web", env=env)
    assert alone.returncode == 2 and "give --inventory FILE too" in alone.stderr
    forks = regwiz("clients", "--profile", profile, "--forks", "0", env=env)
    assert forks.returncode == 2 and "--forks: give a whole number from 1 to 256" in forks.stderr
    missing = regwiz("clients", "--profile", profile, "--inventory", str(tmp_path / "none.ini"), env=env)
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr
    broken = write(tmp_path, "[web\nweb1\n", "broken.ini")
    bad = regwiz("clients", "--profile", profile, "--inventory", str(broken), env=env)
    assert bad.returncode == 2 and "ansible-inventory could not read" in bad.stderr, bad.stderr
    assert "Traceback" not in alone.stderr + forks.stderr + missing.stderr + bad.stderr


def test_progress_line_counts_done_failed_running() -> None:
    out = io.StringIO()
    progress = ClientProgress(3, out)
    progress(ClientResult("a", status=Status.RUNNING))
    progress(ClientResult("b", status=Status.RUNNING))
    progress(ClientResult("b", status=Status.RUNNING))  # unchanged counts: no new line
    progress(ClientResult("a", status=Status.FAILURE))
    progress(ClientResult("b", status=Status.OK))
    assert out.getvalue().splitlines() == [
        "== progress: 0 done, 0 failed, 1 running of 3 clients",
        "== progress: 0 done, 0 failed, 2 running of 3 clients",
        "== progress: 0 done, 1 failed, 1 running of 3 clients",
        "== progress: 1 done, 1 failed, 0 running of 3 clients",
    ]
