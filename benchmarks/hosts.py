"""Testbed hosts for the benchmarks: OpenSSH options that check host keys, and sshd's own count of
connections and remote commands."""

from __future__ import annotations

import os
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


# CPU the testbed's containers use: their cgroups' own counters (cgroup v2: cpu.stat's usage_usec; v1:
# cpuacct.usage in ns). A host's dockerd puts its containers (the registry) in cgroups of their own,
# which on cgroup v1 here sit beside the host's (docker/<id>), not under it: they are counted by id too.
CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_file(container_id: str, root: Path = CGROUP_ROOT) -> Path | None:
    """The file that counts the CPU of the cgroup of a container (full id), or None when none is found."""
    names = (container_id, f"docker-{container_id}.scope")
    for hierarchy, counter in (("", "cpu.stat"), ("cpuacct", "cpuacct.usage"), ("cpu,cpuacct", "cpuacct.usage")):
        base = root / hierarchy if hierarchy else root
        for parent in ("docker", "system.slice", ""):
            for name in names:
                candidate = base / parent / name / counter
                if candidate.is_file():
                    return candidate
    for base, counter in ((root, "cpu.stat"), (root / "cpuacct", "cpuacct.usage")):  # elsewhere: look
        if not base.is_dir():
            continue
        for dirpath, dirnames, _files in os.walk(base):
            if dirpath.count("/") - str(base).count("/") >= 4:
                dirnames.clear()
            if Path(dirpath).name in names and (Path(dirpath) / counter).is_file():
                return Path(dirpath) / counter
    return None


def parse_cgroup_cpu(path_name: str, text: str) -> float:
    """Seconds from a cgroup's counter: cpu.stat (usage_usec line) or cpuacct.usage (nanoseconds)."""
    if path_name == "cpu.stat":
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
        raise ValueError("no usage_usec in cpu.stat")
    return int(text.strip()) / 1e9


def container_ids(hosts: list[TestHost], inner: bool = True) -> list[str]:
    """Full ids of the hosts' containers and (``inner``) of the containers their own dockerd runs (seen
    from outside SSH)."""
    if not hosts:
        return []
    ids = subprocess.run(["docker", "inspect", "--format", "{{.Id}}", *(h.container for h in hosts)],
                         capture_output=True, text=True, check=True, timeout=60).stdout.split()
    for host in hosts if inner else []:
        ids += host.exec("sh", "-c", "docker ps -q --no-trunc 2>/dev/null || true", check=False).stdout.split()
    return ids


class ContainersCPU:
    """CPU seconds that a set of containers used between two readings (see cgroup_cpu_file)."""

    def __init__(self, ids: list[str]) -> None:
        found = {cid: cgroup_cpu_file(cid) for cid in ids}
        self.missing = [cid for cid, path in found.items() if path is None]
        paths = sorted({path for path in found.values() if path is not None})
        # a cgroup inside another one is counted by its parent already
        self.paths = [p for p in paths if not any(p != q and p.parent.is_relative_to(q.parent) for q in paths)]
        self.before = self.read()

    def read(self) -> float:
        total = 0.0
        for path in self.paths:
            try:
                total += parse_cgroup_cpu(path.name, path.read_text())
            except (OSError, ValueError):
                pass
        return total

    def used(self) -> float:
        return self.read() - self.before if self.paths else float("nan")
