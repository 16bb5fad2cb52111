"""Testbed hosts for the benchmarks: OpenSSH options that check host keys, and sshd's own count of
connections and remote commands."""

from __future__ import annotations

import re
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
