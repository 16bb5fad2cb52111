"""Finding, starting and restarting a host's Docker daemon, whatever its init.

systemd (most servers), SysV or upstart (`service docker`, Debian's and the
seed's Ubuntu /etc/init.d/docker), boot2docker (its own /etc/init.d/docker), and
OpenRC. Restarts wait until the daemon answers, so callers can verify at once.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.events import ScopedEmitter
from app.i18n import N_, _
from app.transport import Command, CommandFailed, CommandResult, Transport, shell

if TYPE_CHECKING:
    from app.facts import Reply

_POOLS_CAUSE = N_("no free address range for docker0: routes (or nameservers) on this host cover every "
                  "address pool dockerd tries")
_POOLS_FIX = N_("set bip and default-address-pools to free ranges in /etc/docker/daemon.json (the route "
                "conflict check offers it; no route is touched)")

# The "no free pool" failure, era by era (moby source at the tags named; REFERENCE.md):
# (pattern, era). Journal lines may hold logrus' escaped quotes (\"docker0\"), hence \\?.
POOL_FAILURES: tuple[tuple[str, str], ...] = (
    # v1.6.2 daemon/networkdriver/bridge/driver.go configureBridge
    (r"Could not find a free IP address range for interface", "1.6"),
    # v1.7.1 and v1.8.3 vendor/src/github.com/docker/libnetwork/drivers/bridge/errors.go IPv4AddrRangeError
    (r"can't find an address range for interface \\?\"docker0", "1.7-1.8"),
    # v19.03.0 .. v23.0.3 libnetwork netutils/utils_linux.go ElectInterfaceAddresses (errors.Wrapf)
    (r"PredefinedLocalScopeDefaultNetworks List: \[[^\]]*\]: no available network", "19.03-23.0.3"),
    # v1.13.0 .. v18.09.9 daemon/daemon_unix.go initBridgeDriver
    (r"list bridge addresses failed: no available network", "1.13-18.09"),
    # v23.0.4 .. v26.1.5 libnetwork/ipam/allocator.go ("Error creating" capitalised before v25.0.0)
    (r"(?i:error creating default \\?\"bridge\\?\" network): could not find an available, non-overlapping "
     r"IPv4 address pool", "23.0.4-26.x"),
    # v27.0.1 .. docker-v29 libnetwork/ipamapi/contract.go ErrNoMoreSubnets
    (r"all predefined address pools have been fully subnetted", "27+"),
    (r"no available network", "unknown"),
)

# Other known causes of a daemon that will not start: (pattern in its log, cause, fix).
FAILURE_CAUSES: tuple[tuple[str, str, str], ...] = (
    (r"directives are specified both as a flag and in the configuration file",
     N_("an option is set both on the daemon's command line and in daemon.json"),
     N_("remove it from one of the two (DOCKER_OPTS or /etc/docker/daemon.json)")),
    (r"don't match any configuration option",
     N_("daemon.json holds a key this dockerd does not know (default-address-pools needs Docker 18.06+)"),
     N_("remove the key or upgrade Docker")),
    (r"You specified -b & --bip",
     N_("both -b (bridge) and --bip are set: dockerd takes only one"), N_("remove one of them")),
    (r"IPv6 is enabled for the default bridge, but no subnet is configured",
     N_('"ipv6": true without "fixed-cidr-v6"'), N_('add "fixed-cidr-v6" (a /64 of yours) or drop "ipv6"')),
    (r"unable to configure the Docker daemon with file|invalid character .* looking for beginning",
     N_("/etc/docker/daemon.json is not valid JSON"), N_("fix the file's syntax or restore its backup")),
    (r"address already in use",
     N_("a port or socket the daemon needs is held by another process"), N_("stop the other process")),
    (r"failed to create NAT chain|iptables failed|iptables: .*not found",
     N_("iptables is missing or not usable here"), N_("install iptables or start dockerd with --iptables=false")),
    (r"error initializing graphdriver|driver not supported",
     N_("the storage driver cannot work on this file system"), N_("choose another storage-driver in daemon.json")),
    (r"unknown flag: (\S+)",
     N_("the daemon was given an option it does not know"), N_("remove the unknown flag from its options")),
)

#: Whether the daemon answers: it prints its version (the client alone prints none and fails).
ANSWERS = ("docker", "version", "--format", "{{.Server.Version}}")
#: ANSWERS as a snippet of facts.read_in_one: prints the version, exits 0 when the daemon answered, and
#: leaves both in the shell ($regwiz_v, $regwiz_s) for a later snippet of the same command.
ANSWERED = (f"regwiz_v=$({shlex.join(ANSWERS)}); regwiz_s=$?; printf '%s\\n' \"$regwiz_v\"; "
            '[ "$regwiz_s" = 0 ] && [ -n "$regwiz_v" ]')


#: Between the daemon's answer and what ``DockerService.restart_reading`` reads after it.
_READ_MARK = "@@regwiz-read@@"


def daemon_answered(ok: bool, printed: str) -> bool:
    """Whether ANSWERS (run alone or as a snippet) found the daemon: it exited 0 and printed a version."""
    return ok and bool(printed.strip())


#: Prints how this host runs dockerd (DockerService.init).
DETECT = ('if [ -f /var/lib/boot2docker/profile ] || grep -qs boot2docker /etc/init.d/docker; then echo boot2docker; '
          'elif [ -d /run/systemd/system ]; then echo systemd; '
          'elif command -v rc-service >/dev/null 2>&1; then echo openrc; '
          'elif [ -x /etc/init.d/docker ]; then echo sysv; else echo none; fi')

_POOL_LIST = re.compile(r"PredefinedLocalScopeDefaultNetworks List: \[([^\]]*)\]")


@dataclass(frozen=True)
class FailureCause:
    cause: str
    fix: str
    evidence: str  # the daemon's own log line, as logged (the last 400 characters)
    kind: str = "other"  # "address-pools" for the route conflict
    era: str | None = None  # which Docker releases log this wording
    pools: tuple[str, ...] = ()  # the pools the daemon says it tried, when it lists them

    # ``cause`` and ``fix`` stay English (JSON data carries them); these are for people to read.
    @property
    def said_cause(self) -> str:
        return _(self.cause)

    @property
    def said_fix(self) -> str:
        return _(self.fix)


def _pool_failure(lines: list[str]) -> FailureCause | None:
    for pattern, era in POOL_FAILURES:
        for line in reversed(lines):
            if re.search(pattern, line):
                listed = _POOL_LIST.search(line)
                pools = tuple(listed.group(1).split()) if listed else ()
                return FailureCause(_POOLS_CAUSE, _POOLS_FIX, line.strip()[-400:], "address-pools", era, pools)
    return None


def explain_failure(log_text: str) -> FailureCause | None:
    """The known cause of a failed start, from the daemon's own log lines; None when none matches."""
    lines = log_text.splitlines()
    found = _pool_failure(lines)
    if found is not None:
        return found
    for pattern, cause, fix in FAILURE_CAUSES:
        for line in reversed(lines):
            if re.search(pattern, line):
                return FailureCause(cause, fix, line.strip()[-400:])
    return None


@dataclass
class DockerService:
    """How this host runs dockerd: 'systemd', 'sysv', 'boot2docker', 'openrc' or 'none'."""

    init: str

    @classmethod
    async def detect(cls, transport: Transport) -> "DockerService":
        return cls.from_probe((await transport.run(shell(DETECT))).stdout)

    @classmethod
    def from_probe(cls, printed: str) -> "DockerService":
        """From what DETECT printed (run alone, or as a snippet of facts.read_in_one)."""
        return cls(printed.strip() or "none")

    def state_reads(self) -> list[str]:
        """``running_and_enabled``'s questions as snippets for facts.read_in_one (with sudo), to ask them
        in one command with other reads; ``state_of`` reads their replies."""
        return [ANSWERED] + (["systemctl is-enabled docker"] if self.init == "systemd" else [])

    def state_of(self, replies: "list[Reply]") -> tuple[bool, bool | None]:
        """(the daemon answers, enabled at boot or None), from the replies of ``state_reads``."""
        answered = daemon_answered(replies[0].ok, replies[0].text)
        return answered, (replies[1].text.strip() == "enabled" if self.init == "systemd" else None)

    def _control(self, action: str) -> Command:
        if self.init == "systemd":
            return Command("systemctl", action, "docker")
        if self.init == "openrc":
            return Command("rc-service", "docker", action)
        return Command("/etc/init.d/docker", action)

    async def answers(self, transport: Transport) -> bool:
        result = await transport.run(Command(*ANSWERS), sudo=True, timeout=20)
        return daemon_answered(result.ok, result.stdout)

    async def is_enabled(self, transport: Transport) -> bool | None:
        if self.init != "systemd":
            return None
        result = await transport.run(Command("systemctl", "is-enabled", "docker"))
        return result.stdout.strip() == "enabled"

    async def running_and_enabled(self, transport: Transport) -> tuple[bool, bool | None]:
        """``answers`` and ``is_enabled`` in one command: (the daemon answers, enabled at boot or None)."""
        if self.init != "systemd":
            return await self.answers(transport), None
        result = await transport.run(shell(
            'v=$(docker version --format "{{.Server.Version}}" 2>/dev/null); s=$?; '
            'printf "%s\\n%s\\n" "$s" "$v"; systemctl is-enabled docker 2>/dev/null || true'), sudo=True, timeout=20)
        lines = result.stdout.splitlines() + ["", "", ""]
        return lines[0].strip() == "0" and bool(lines[1].strip()), lines[2].strip() == "enabled"

    async def enable(self, transport: Transport, emit: ScopedEmitter | None) -> None:
        if self.init == "systemd":
            await transport.run(Command("systemctl", "enable", "docker"), sudo=True, emit=emit, check=True)

    async def stop(self, transport: Transport, emit: ScopedEmitter | None) -> CommandResult:
        if self.init == "systemd":
            # The socket would start the daemon again on the next client call.
            return await transport.run(Command("systemctl", "stop", "docker.socket", "docker"),
                                       sudo=True, emit=emit, timeout=90)
        return await transport.run(self._control("stop"), sudo=True, emit=emit, timeout=90)

    async def restart(self, transport: Transport, emit: ScopedEmitter | None, wait: float = 40,
                      enable: bool = False) -> bool:
        """Restart (or start) the daemon; True once it answers within ``wait`` seconds. ``enable``: start it
        at boot first (``enable``; a failure raises as there). See ``restart_reading``."""
        return (await self.restart_reading(transport, emit, wait=wait, enable=enable))[0]

    async def restart_reading(self, transport: Transport, emit: ScopedEmitter | None, read: str = "",
                              wait: float = 40, enable: bool = False) -> tuple[bool, str | None]:
        """``restart``, and what the shell snippet ``read`` printed once the daemon answered, asked in the
        same command (the step's verification: one round trip fewer); None when it was not asked there
        (not systemd, or no answer at once): the caller asks it on its own.

        On systemd one command enables, restarts and asks whether the daemon answers (`systemctl restart`
        returns once dockerd said it is ready, so it answers at once as a rule): one round trip, not three.

        Debian's /etc/init.d/docker (the same script from bookworm's 20.10.24 to sid's 28.5.2) runs
        under `set -e` and its `restart` reads the pid file with `cat`: with dockerd stopped that cat
        fails and the script exits 1 without starting anything (seen here on sid). So a SysV daemon
        that is down is started, not restarted.
        """
        action = "restart"
        command = self._control(action)
        if enable and self.init != "systemd":
            await self.enable(transport, emit)
        if self.init == "systemd":
            # A daemon that failed several times is held by systemd's start limit: freed in the same command.
            answers = ("exec " + shlex.join(ANSWERS) if not read else
                       f"regwiz_v=$({shlex.join(ANSWERS)}) || exit $?; printf '%s\\n{_READ_MARK}\\n' "
                       f'"$regwiz_v"; {read}; exit 0')
            command = shell(("systemctl enable docker || exit 98; " if enable else "")
                            + "systemctl reset-failed docker >/dev/null 2>&1; systemctl restart docker || exit 97; "
                            + answers)
        elif not await self.answers(transport):
            # A dockerd still on its way down (a restart cut short) keeps its pid file live, and the
            # script's `start` then does nothing: wait (at most 20 s) for it to be gone first.
            await transport.run(shell("for i in $(seq 1 40); do pidof dockerd >/dev/null || exit 0; sleep 0.5; done"),
                                sudo=True, timeout=30)
            command = self._control("start")
        result = await transport.run(command, sudo=True, emit=emit, timeout=120)
        if self.init == "systemd":
            if result.exit_status == 98:
                raise CommandFailed(result)  # `systemctl enable docker` failed: nothing restarted
            if result.exit_status == 97:
                return False, None
            version, marked, printed = result.stdout.partition(_READ_MARK) if read else (result.stdout, "", "")
            if daemon_answered(result.ok, version):
                return True, printed.removeprefix("\n") if marked else None
        return await self.wait_until_answering(transport, wait), None

    async def wait_until_answering(self, transport: Transport, wait: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while loop.time() < deadline:
            if await self.answers(transport):
                return True
            await asyncio.sleep(0.2)
        return False

    def log_command(self, lines: int = 60) -> str:
        """The shell line that prints the daemon's last log lines: the journal, or the file its init
        script writes (it ends no shell it runs in: a snippet of facts.read_in_one can hold it)."""
        if self.init == "systemd":
            return Command("journalctl", "-u", "docker", "-n", str(lines), "--no-pager", "-o", "cat").line()
        if self.init == "boot2docker":
            return Command("tail", "-n", str(lines), "/var/lib/boot2docker/docker.log").line()
        return ("for f in /var/log/docker.log /var/log/upstart/docker.log /var/log/messages; do "
                f'if [ -f "$f" ]; then tail -n {lines} "$f"; break; fi; done')

    async def recent_log(self, transport: Transport, emit: ScopedEmitter | None, lines: int = 60) -> str:
        """The daemon's last log lines: the journal, or the file its init script writes."""
        line = self.log_command(lines)
        cmd = Command(*shlex.split(line)) if self.init in ("systemd", "boot2docker") else shell(line)
        result = await transport.run(cmd, sudo=True, emit=emit)
        return result.stdout
