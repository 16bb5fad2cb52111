"""Finding, starting and restarting a host's Docker daemon, whatever its init.

systemd (most servers), SysV or upstart (`service docker`, Debian's and the
seed's Ubuntu /etc/init.d/docker), boot2docker (its own /etc/init.d/docker), and
OpenRC. Restarts wait until the daemon answers, so callers can verify at once.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from app.events import ScopedEmitter
from app.transport import Command, CommandResult, Transport, shell

# Known causes of a daemon that will not start: (pattern in its log, cause, fix).
FAILURE_CAUSES: tuple[tuple[str, str, str], ...] = (
    (r"no available network",
     "no free address range for docker0: routes on this host cover every default Docker pool",
     "set bip and default-address-pools in /etc/docker/daemon.json (the network check offers it)"),
    (r"Could not find a free IP address range",
     "no free address range for docker0 (an old daemon counts every route)",
     "set the bridge address (--bip) to a free range"),
    (r"directives are specified both as a flag and in the configuration file",
     "an option is set both on the daemon's command line and in daemon.json",
     "remove it from one of the two (DOCKER_OPTS or /etc/docker/daemon.json)"),
    (r"unable to configure the Docker daemon with file|invalid character .* looking for beginning",
     "/etc/docker/daemon.json is not valid JSON", "fix the file's syntax or restore its backup"),
    (r"address already in use",
     "a port or socket the daemon needs is held by another process", "stop the other process"),
    (r"failed to create NAT chain|iptables failed|iptables: .*not found",
     "iptables is missing or not usable here", "install iptables or start dockerd with --iptables=false"),
    (r"error initializing graphdriver|driver not supported",
     "the storage driver cannot work on this file system", "choose another storage-driver in daemon.json"),
    (r"unknown flag: (\S+)",
     "the daemon was given an option it does not know", "remove the unknown flag from its options"),
)


@dataclass(frozen=True)
class FailureCause:
    cause: str
    fix: str
    evidence: str


def explain_failure(log_text: str) -> FailureCause | None:
    for pattern, cause, fix in FAILURE_CAUSES:
        for line in reversed(log_text.splitlines()):
            if re.search(pattern, line):
                return FailureCause(cause, fix, line.strip()[-400:])
    return None


@dataclass
class DockerService:
    """How this host runs dockerd: 'systemd', 'sysv', 'boot2docker', 'openrc' or 'none'."""

    init: str

    @classmethod
    async def detect(cls, transport: Transport) -> "DockerService":
        probe = await transport.run(shell(
            'if [ -f /var/lib/boot2docker/profile ] || grep -qs boot2docker /etc/init.d/docker; then echo boot2docker; '
            'elif [ -d /run/systemd/system ]; then echo systemd; '
            'elif command -v rc-service >/dev/null 2>&1; then echo openrc; '
            'elif [ -x /etc/init.d/docker ]; then echo sysv; else echo none; fi'))
        return cls(probe.stdout.strip() or "none")

    def _control(self, action: str) -> Command:
        if self.init == "systemd":
            return Command("systemctl", action, "docker")
        if self.init == "openrc":
            return Command("rc-service", "docker", action)
        return Command("/etc/init.d/docker", action)

    async def answers(self, transport: Transport) -> bool:
        result = await transport.run(Command("docker", "version", "--format", "{{.Server.Version}}"),
                                     sudo=True, timeout=20)
        return result.ok and bool(result.stdout.strip())

    async def is_enabled(self, transport: Transport) -> bool | None:
        if self.init != "systemd":
            return None
        result = await transport.run(Command("systemctl", "is-enabled", "docker"))
        return result.stdout.strip() == "enabled"

    async def enable(self, transport: Transport, emit: ScopedEmitter | None) -> None:
        if self.init == "systemd":
            await transport.run(Command("systemctl", "enable", "docker"), sudo=True, emit=emit, check=True)

    async def stop(self, transport: Transport, emit: ScopedEmitter | None) -> CommandResult:
        if self.init == "systemd":
            # The socket would start the daemon again on the next client call.
            return await transport.run(Command("systemctl", "stop", "docker.socket", "docker"),
                                       sudo=True, emit=emit, timeout=90)
        return await transport.run(self._control("stop"), sudo=True, emit=emit, timeout=90)

    async def restart(self, transport: Transport, emit: ScopedEmitter | None, wait: float = 40) -> bool:
        """Restart (or start) the daemon; True once it answers within ``wait`` seconds."""
        if self.init == "systemd":
            # A daemon that failed several times is held by systemd's start limit.
            await transport.run(Command("systemctl", "reset-failed", "docker"), sudo=True)
        result = await transport.run(self._control("restart"), sudo=True, emit=emit, timeout=120)
        if not result.ok and self.init == "systemd":
            return False
        return await self.wait_until_answering(transport, wait)

    async def wait_until_answering(self, transport: Transport, wait: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while loop.time() < deadline:
            if await self.answers(transport):
                return True
            await asyncio.sleep(0.5)
        return False

    async def recent_log(self, transport: Transport, emit: ScopedEmitter | None, lines: int = 60) -> str:
        """The daemon's last log lines: the journal, or the file its init script writes."""
        if self.init == "systemd":
            cmd = Command("journalctl", "-u", "docker", "-n", str(lines), "--no-pager", "-o", "cat")
        elif self.init == "boot2docker":
            cmd = Command("tail", "-n", str(lines), "/var/lib/boot2docker/docker.log")
        else:
            cmd = shell('for f in /var/log/docker.log /var/log/upstart/docker.log /var/log/messages; do '
                        '[ -f "$f" ] && tail -n "$1" "$f" && exit 0; done; exit 0', str(lines))
        result = await transport.run(cmd, sudo=True, emit=emit)
        return result.stdout
