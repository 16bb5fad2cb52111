"""`regwiz clients --inventory` against real hosts: an Ansible inventory with groups, group and host
variables and a host pattern; the hosts it selects are configured and pull, the one it leaves out is
not touched."""

from __future__ import annotations

from pathlib import Path

from tests.cli_helpers import json_lines, registry_profile, regwiz, trust
from tests.test_inventory import with_ansible
from tests.testbed.hosts import Testbed

SECOND_PORT = 2222


def test_inventory_clients_are_configured_and_pull(testbed: Testbed, cli_env: dict[str, str],
                                                   regwiz_home: Path, tmp_path: Path) -> None:
    server, web1, web2, db1 = testbed.start("ecs", "linux_client", "linux_client", "linux_client")
    try:
        assert testbed.client_key is not None
        env = with_ansible(cli_env)
        env["DB1_PASSWORD"] = db1.root_password
        for host in (web1, web2, db1):
            trust(host, regwiz_home)
        # web1's sshd listens on 2222 alone (so ansible_port must be honoured); its key as known there
        web1.sh(f"printf 'Port {SECOND_PORT}\\n' > /etc/ssh/sshd_config.d/port.conf && systemctl reload ssh")
        with (regwiz_home / "state" / "known_hosts").open("a") as out:
            out.writelines(line.replace(web1.address, f"[{web1.address}]:{SECOND_PORT}", 1) + "\n"
                           for line in web1.known_hosts_lines())
        profile = registry_profile(regwiz_home, server, env, name="fleet.toml", extra=f'''
# db1 logs in with a password: the profile names its variable (the inventory holds no secret)
[[clients]]
host = "{db1.address}"
user = "root"
password_env = "DB1_PASSWORD"
''')
        inventory = tmp_path / "fleet.ini"
        inventory.write_text(f"""\
[all:vars]
ansible_user=nobody-here

[web]
web1 ansible_host={web1.address} ansible_port={SECOND_PORT}
web2 ansible_host={web2.address}

[web:vars]
ansible_user=root
ansible_ssh_private_key_file={testbed.client_key.path}

[db]
db1 ansible_host={db1.address} ansible_user=root

[prod:children]
web
db
""")
        deployed = regwiz("deploy", "--profile", str(profile), "--yes", "--json", env=env)
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr

        configured = regwiz("clients", "--profile", str(profile), "--inventory", str(inventory),
                            "--limit", "prod:!web2", "--forks", "2", "--yes", env=env)
        assert configured.returncode == 0, configured.stdout[-3000:] + configured.stderr
        lines = configured.stdout.splitlines()
        assert "== progress: 2 done, 0 failed, 0 running of 2 clients" in lines, configured.stdout[-3000:]
        assert any(line.startswith("== progress: 0 done, 0 failed, 2 running of 2") for line in lines)
        assert "== progress: 1 done, 0 failed, 1 running of 2 clients" in lines  # each counted when its pull worked
        clients = [line for line in lines if line.startswith("== client ")]
        assert sorted(c.split(":")[0] for c in clients) == sorted(
            [f"== client root@{web1.address}", f"== client root@{db1.address}"]), clients
        assert all(": ok pulled " in c for c in clients), clients

        ref = f"{server.address}:5000/regwiz/hello:latest"
        for host in (web1, db1):  # the pull really happened there
            assert host.exec("docker", "image", "inspect", ref, check=False).returncode == 0, host.address
        # web2, left out by the pattern, was never touched
        assert web2.exec("test", "-e", f"/etc/docker/certs.d/{server.address}:5000", check=False).returncode != 0
        assert web2.exec("docker", "image", "inspect", ref, check=False).returncode != 0
        assert env["DB1_PASSWORD"] not in configured.stdout + configured.stderr

        # The same in JSON: one client record per selected host, no progress lines mixed in.
        again = regwiz("clients", "--profile", str(profile), "--inventory", str(inventory), "--limit", "db",
                       "--yes", "--json", env=env)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr
        records = [o for o in json_lines(again.stdout) if o["type"] == "client"]
        assert [(r["client"], r["status"]) for r in records] == [(f"root@{db1.address}", "ok")]
    finally:
        for host in (server, web1, web2, db1):
            testbed.remove(host)
