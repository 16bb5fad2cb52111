"""Testbed hosts for the benchmarks: OpenSSH options that check host keys, and sshd's own count of
connections and remote commands."""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.testbed.hosts import TestHost

# sshd at LogLevel DEBUG1 logs every accepted login and every session request.
ACCEPTED = re.compile(r"Accepted (publickey|password|keyboard-interactive\S*) for ")
REQUEST = re.compile(r"session_input_channel_req: session \d+ req (exec|subsystem|shell)")
SSHD_DEBUG = "/etc/ssh/sshd_config.d/zz-benchmark.conf"


def count_sshd(hosts: list[TestHost]) -> None:
    """Make each host's sshd log logins and session requests (from outside SSH, so nothing counts)."""
    for host in hosts:
        host.sh(f"printf 'LogLevel DEBUG1\\n' > {SSHD_DEBUG} && systemctl reload ssh")
    time.sleep(0.3)


@dataclass
class SSHCounts:
    connections: int = 0
    commands: int = 0

    def __add__(self, other: "SSHCounts") -> "SSHCounts":
        return SSHCounts(self.connections + other.connections, self.commands + other.commands)

    def __str__(self) -> str:
        return f"{self.connections} SSH connections, {self.commands} remote commands"


def sshd_counts(host: TestHost, since: float) -> SSHCounts:
    """Logins and exec/subsystem requests sshd logged on ``host`` since the epoch time ``since``."""
    journal = host.exec("journalctl", "-u", "ssh", "--no-pager", "-o", "cat", f"--since=@{int(since)}").stdout
    return SSHCounts(len(ACCEPTED.findall(journal)), len(REQUEST.findall(journal)))


def known_hosts(hosts: list[TestHost], path: Path) -> Path:
    path.write_text("".join(line + "\n" for host in hosts for line in host.known_hosts_lines()))
    return path


def openssh_options(key: Path, known: Path) -> list[str]:
    """Key login, host keys checked against ``known`` (never turned off)."""
    return ["-i", str(key), "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"]


# Debian's python3 (bookworm, as the hosts): what Ansible's modules need on a host; the testbed's minimal
# hosts lack it, every cloud image has it. Fetched once with apt-get (no apt lists needed beyond this
# machine's own), kept in a cache, installed on hosts from outside SSH.
PYTHON3_PACKAGES = ("python3", "python3-minimal", "python3.11", "python3.11-minimal", "libpython3-stdlib",
                    "libpython3.11-minimal", "libpython3.11-stdlib", "media-types", "libexpat1", "libffi8",
                    "libsqlite3-0", "libreadline8", "readline-common", "libncursesw6", "libnsl2", "libtirpc3",
                    "libtirpc-common", "libdb5.3")
DEBS_CACHE = Path.home() / ".cache" / "regwiz-bench" / "python3-debs"


def python3_debs(cache: Path = DEBS_CACHE) -> list[Path]:
    cache.mkdir(parents=True, exist_ok=True)
    missing = [p for p in PYTHON3_PACKAGES if not list(cache.glob(f"{p}_*.deb"))]
    if missing:
        done = subprocess.run(["apt-get", "download", *missing], cwd=cache, capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"apt-get download {' '.join(missing)} failed: {done.stderr[-800:]}")
    return [sorted(cache.glob(f"{p}_*.deb"))[-1] for p in PYTHON3_PACKAGES]


def install_debs(host: TestHost, debs: list[Path]) -> None:
    tar = subprocess.Popen(["tar", "-C", str(debs[0].parent), "-cf", "-", *(d.name for d in debs)],
                           stdout=subprocess.PIPE)
    subprocess.run(["docker", "exec", "-i", host.container, "sh", "-c",
                    "mkdir -p /var/tmp/bench-debs && tar -C /var/tmp/bench-debs -xf -"],
                   stdin=tar.stdout, check=True, capture_output=True, timeout=120)
    assert tar.stdout is not None
    tar.stdout.close()
    if tar.wait() != 0:
        raise RuntimeError("tar of the python3 packages failed")
    host.sh("apt-get install -y -q --no-install-recommends /var/tmp/bench-debs/*.deb >/dev/null"
            " && rm -rf /var/tmp/bench-debs", timeout=300)
