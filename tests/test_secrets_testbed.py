"""No secret leaks during full runs: not on disk, not in logs or output, not in any remote argv or environment.

The secrets are hostile on purpose (quotes, `$(...)`, `;`, spaces, unicode): a
canary file proves that none of them ever ran as shell on a host.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncssh

from tests.cli_helpers import json_lines, regwiz, trust
from tests.testbed.hosts import TestHost

CANARY = "/tmp/regwiz-canary"
HOSTILE = f"""p a'ss"$(touch {CANARY})`touch {CANARY}`;touch {CANARY}|&<>é\\"""

# Reads every process's argv and environment on the host, over and over, for the
# secrets listed in a root-only file (so that the scanner's own argv holds none).
SCANNER = r"""
while [ ! -e /root/scan/stop ]; do
  for f in $(grep -l -a -F -f /root/scan/patterns /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null); do
    pid=${f#/proc/}; pid=${pid%%/*}
    [ "$pid" = "$$" ] && continue
    echo "$f: $(tr '\0' ' ' < /proc/$pid/cmdline 2>/dev/null)" >> /root/scan/hits
  done
  echo . >> /root/scan/rounds
  sleep 0.05  # ~20 looks a second: a login or sudo lives far longer; leaves CPU for the run
done
"""


class ProcScanner:
    """Watches /proc on one host for the given secrets while regwiz works on it."""

    def __init__(self, host: TestHost, secrets: list[str]) -> None:
        self.host, self.secrets = host, secrets

    def start(self) -> None:
        self.host.sh("rm -rf /root/scan && install -d -m 0700 /root/scan")
        self.host.exec("sh", "-c", "umask 077 && cat > /root/scan/patterns", input="\n".join(self.secrets) + "\n")
        self.host.exec("sh", "-c", "cat > /root/scan/scan.sh", input=SCANNER)
        self.host.sh("nohup sh /root/scan/scan.sh >/dev/null 2>&1 &")

    def prove_it_sees(self) -> None:
        """A planted secret in an argv and in an environment must be seen: the scanner can fail."""
        secret = self.secrets[0]
        self.host.exec("sh", "-c", 'sh -c "sleep 3" "$1" & env PLANTED="$1" sleep 3 & wait', "planted", secret)
        time.sleep(1)  # the scanner's round in flight has written what it saw
        hits = self.hits()
        assert any("/cmdline" in h for h in hits) and any("/environ" in h for h in hits), hits
        self.host.sh("rm -f /root/scan/hits")

    def hits(self) -> list[str]:
        return self.host.sh("cat /root/scan/hits 2>/dev/null || true").stdout.splitlines()

    def stop(self) -> int:
        self.host.sh("touch /root/scan/stop")
        return len(self.host.sh("cat /root/scan/rounds 2>/dev/null || true").stdout.split())


def encrypted_copy_of_client_key(host: TestHost, directory: Path, passphrase: str) -> Path:
    key = asyncssh.read_private_key(str(host.client_key.path))
    path = directory / "id_ed25519_encrypted"
    key.write_private_key(str(path), passphrase=passphrase)
    path.chmod(0o600)
    return path


async def test_full_runs_leak_no_secret(fresh_host, cli_env: dict[str, str], regwiz_home: Path,  # type: ignore[no-untyped-def]
                                        tmp_path: Path) -> None:
    server: TestHost = fresh_host("ecs_conflict")
    laptop: TestHost = fresh_host("linux_client")
    old_box: TestHost = fresh_host("sysv_client")
    # Hostile passwords everywhere: the SSH + sudo password of the server's and the
    # old box's login user, the key's passphrase, the registry user's password.
    server_password = HOSTILE + " server"
    box_password = HOSTILE + " box"
    passphrase = HOSTILE + " passphrase"
    registry_password = f"""r 'e"$(touch {CANARY})`;|&é\\"""  # bcrypt takes at most 72 bytes
    for host, password in ((server, server_password), (old_box, box_password)):
        host.exec("chpasswd", input=f"{host.sudo_user}:{password}\n")
    key_file = encrypted_copy_of_client_key(laptop, tmp_path, passphrase)
    secrets = [server_password, box_password, passphrase, registry_password,
               server.root_password, laptop.root_password, old_box.root_password]
    for host in (server, laptop, old_box):
        trust(host, regwiz_home)
    regwiz_home.mkdir(parents=True, exist_ok=True)
    profile = regwiz_home / "secrets.toml"
    profile.write_text(f'''[server]
host = "{server.address}"
user = "{server.sudo_user}"
password_env = "SERVER_PASSWORD"

[registry]
[[registry.users]]
name = "ci"
password_env = "REGISTRY_PASSWORD"

[[clients]]
host = "{laptop.address}"
user = "root"
identity_file = "{key_file}"
passphrase_env = "KEY_PASSPHRASE"

[[clients]]
host = "{old_box.address}"
user = "{old_box.sudo_user}"
password_env = "BOX_PASSWORD"
''')
    env = {**cli_env, "SERVER_PASSWORD": server_password, "REGISTRY_PASSWORD": registry_password,
           "KEY_PASSPHRASE": passphrase, "BOX_PASSWORD": box_password}
    scanners = [ProcScanner(host, secrets) for host in (server, laptop, old_box)]
    try:
        for scanner in scanners:
            scanner.start()
        for scanner in scanners:
            scanner.prove_it_sees()

        runs = [
            await asyncio.to_thread(regwiz, "setup", "--profile", str(profile), "--yes", env=env),
            await asyncio.to_thread(regwiz, "clients", "--profile", str(profile), "--yes", "--json", env=env),
        ]
        for run in runs:
            assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        assert runs[0].stdout.count("== client") == 2 and "== proof" in runs[0].stdout, runs[0].stdout[-3000:]
        proved = [o for o in json_lines(runs[1].stdout) if o["type"] == "client"]
        assert [o["status"] for o in proved] == ["ok", "ok"], proved
    finally:
        rounds = [scanner.stop() for scanner in scanners]
    # The scanners looked many times while regwiz worked, and saw nothing.
    assert min(rounds) >= 20, rounds
    print(f"/proc scans per host (server, laptop, old box): {rounds}; secrets watched: {len(secrets)}")
    for scanner in scanners:
        assert scanner.hits() == [], (scanner.host.name, scanner.hits())
    for host in (server, laptop, old_box):
        assert host.exec("test", "-e", CANARY, check=False).returncode != 0, f"a secret ran as shell on {host.name}"

    # Not in the terminal output, nor in any file regwiz keeps (config, state, logs, report).
    written = [p for p in regwiz_home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in written) and any(p.name == "report.md" for p in written)
    for secret in secrets:
        for run in runs:
            assert secret not in run.stdout + run.stderr
        for path in written:
            assert secret.encode() not in path.read_bytes(), path
    # Nor in what regwiz left on the hosts: its files, backups, and the hosts' own logs.
    for host in (server, laptop, old_box):
        remote = host.sh("cat /root/scan/patterns > /dev/null; "
                         "grep -r -l -a -F -f /root/scan/patterns /etc/regwiz /var/backups/regwiz /var/log "
                         "/etc/docker /etc/containers 2>/dev/null; "
                         "journalctl --no-pager 2>/dev/null | grep -a -c -F -f /root/scan/patterns || true")
        assert remote.stdout.strip() in ("", "0"), (host.name, remote.stdout)
