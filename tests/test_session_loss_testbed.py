"""The SSH session dies in the middle of every step (its sshd process killed on the host).

Each must end as failed or rolled back with a message that says the connection
was lost; no file may be left truncated or under a temporary name; and running
the step again (on the same transport, which reconnects) completes it.
"""

from __future__ import annotations

import asyncio
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

import pytest

from app.clients.docker_trust import DockerTrustStep
from app.clients.model import ClientKind, RegistryTarget
from app.clients.runtimes import ContainerdTrustStep
from app.diagnose import DiagnosisContext, default_checks, run_checks
from app.diagnose.network_fixes import RouteDeleteFix
from app.events import EventBus, EventKind, LogEvent
from app.registry.deploy import DeployRegistryStep
from app.steps import Outcome, Plan, Step, StepContext, run_step
from app.transport import Transport
from tests.registry_helpers import choices_for
from tests.sshutil import root_by_password
from tests.testbed.hosts import Testbed, TestHost

# Where steps write: none of these may hold a temporary file afterwards.
WRITTEN_DIRS = "/etc/docker /etc/default /etc/network /etc/containerd /etc/regwiz /var/lib/boot2docker /var/lib/docker/network"


class SessionKiller:
    """Kills every sshd session on the host at the k-th command of the step's apply phase.

    With ``delay`` None the session dies just before that command goes out (the
    event comes first); with a delay, that long after it started, so that a long
    command (an upload, a daemon restart) dies half-way; with a process name, as
    soon as that process runs on the host (an apt run dies while dpkg works, however
    fast this machine is that day: a fixed delay raced it, seen finishing first).
    """

    def __init__(self, host: TestHost, k: int, delay: float | str | None) -> None:
        self.host, self.k, self.delay = host, k, delay
        self.applying = False
        self.count = 0
        self.killed_during: str | None = None
        self.matched = False  # pkill found a session to kill (a renamed sshd would make the test vacuous)
        self.task: asyncio.Task[None] | None = None

    def __call__(self, event: LogEvent) -> None:
        if event.kind is EventKind.STATUS and event.text.endswith(": applying"):
            self.applying = True
        elif self.applying and event.kind is EventKind.COMMAND and self.killed_during is None:
            self.count += 1
            if self.count == self.k:
                self.killed_during = event.text
                if self.delay is None:
                    self._kill()  # blocks the loop a moment: nothing is sent meanwhile
                elif isinstance(self.delay, str):
                    self.task = asyncio.get_running_loop().create_task(self._kill_when_running(self.delay))
                else:
                    self.task = asyncio.get_running_loop().create_task(self._kill_later(self.delay))

    def _kill(self) -> None:
        # OpenSSH 9.8+ (trixie's 10.0, sid's) names the session process sshd-session, not sshd.
        killed = self.host.sh("pkill -KILL -f '[s]shd(-session)?: [a-z]*@notty' && echo killed || true")
        self.matched = self.matched or "killed" in killed.stdout

    async def _kill_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        await asyncio.to_thread(self._kill)

    async def _kill_when_running(self, process: str) -> None:
        # Polled from the host's side (docker exec), not through the session about to die.
        seen = await asyncio.to_thread(
            self.host.sh, f"for i in $(seq 600); do pgrep -x {process} >/dev/null && echo seen && exit; "
                          "sleep 0.05; done")
        assert "seen" in seen.stdout, f"{process} never ran on {self.host.name}"
        await asyncio.to_thread(self._kill)


@dataclass
class Scenario:
    flavour: str
    k: int  # the apply-phase command during which the session dies
    delay: float | str | None  # seconds into the command, or a process to wait for (SessionKiller)
    make_step: Callable[[Transport, TestHost, "Fixtures"], Awaitable[Step | None]]
    healthy: Callable[[TestHost, "Fixtures"], None]  # asserts the host reached the step's goal


@dataclass
class Fixtures:
    testbed: Testbed
    tls_registry: RegistryTarget
    insecure_registry: RegistryTarget


# What the last diagnosis said of the check asked for: the first call's "offered no such step"
# quotes it, since only the check's own words tell why (the second call may rightly offer none).
_last_check_said: dict[str, str] = {}


async def _fix_for(t: Transport, host: TestHost, check: str, kind: type | None = None) -> Step | None:
    ctx = DiagnosisContext(t, EventBus(), host.address)
    results = {r.check_id: r for r in await run_checks(default_checks(), ctx)}
    result = results[check]
    _last_check_said[host.address] = (
        f"{check} check: {result.status.value}: {result.summary}; evidence: {result.evidence}; "
        f"fixes: {[fix.title for fix in result.fixes]}")
    fixes = [f for f in result.fixes if kind is None or isinstance(f, kind)]
    return fixes[0] if fixes else None


def _docker_answers(host: TestHost) -> None:
    # Not the exit status alone: Docker 26's CLI (trixie) exits 0 from `docker info` with the daemon down.
    answered = host.exec("docker", "version", "--format", "{{.Server.Version}}", check=False)
    assert answered.returncode == 0 and answered.stdout.strip(), answered.stderr


def _network_fixed(host: TestHost, _: Fixtures) -> None:
    assert "bip" in json.loads(host.exec("cat", "/etc/docker/daemon.json").stdout)
    _docker_answers(host)


def _route_gone(host: TestHost, _: Fixtures) -> None:
    assert "172.16.0.0/12" not in host.exec("ip", "-4", "route").stdout
    assert "172.16.0.0" not in host.exec("cat", "/etc/network/interfaces").stdout


def _docker_enabled(host: TestHost, _: Fixtures) -> None:
    _docker_answers(host)
    if host.init == "systemd":  # SysV hosts (sid's): regwiz starts dockerd; enabling at boot is systemd's
        assert host.exec("systemctl", "is-enabled", "docker").stdout.strip() == "enabled"


def _registry_up(host: TestHost, _: Fixtures) -> None:
    code = host.exec("curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1:5000/v2/").stdout
    assert code == "401"


def _trusts_ca(host: TestHost, f: Fixtures) -> None:
    ca = host.exec("cat", f"/etc/docker/certs.d/{f.tls_registry.address}/ca.crt").stdout
    assert f.tls_registry.ca_pem is not None and ca == f.tls_registry.ca_pem.decode()


def _insecure_in_daemon_json(host: TestHost, f: Fixtures) -> None:
    config = json.loads(host.exec("cat", "/etc/docker/daemon.json").stdout)
    assert f.insecure_registry.address in config["insecure-registries"]
    assert config["labels"] == ["io.regwiz.flavour=linux_client"]  # what was there is kept
    _docker_answers(host)


def _insecure_in_docker_opts(host: TestHost, f: Fixtures) -> None:
    opts = host.exec("cat", "/etc/default/docker").stdout
    assert f"--insecure-registry {f.insecure_registry.address}" in opts and "io.regwiz.flavour" in opts
    _docker_answers(host)


def _insecure_in_extra_args(host: TestHost, f: Fixtures) -> None:
    profile = host.exec("cat", "/var/lib/boot2docker/profile").stdout
    assert f"--insecure-registry {f.insecure_registry.address}" in profile and "io.regwiz.flavour" in profile
    _docker_answers(host)


def _containerd_trusts(host: TestHost, f: Fixtures) -> None:
    address = f.tls_registry.address
    hosts = tomllib.loads(host.exec("cat", f"/etc/containerd/certs.d/{address}/hosts.toml").stdout)
    assert hosts["server"] == f"https://{address}"
    config = tomllib.loads(host.exec("cat", "/etc/containerd/config.toml").stdout)
    assert config["plugins"]["io.containerd.grpc.v1.cri"]["registry"]["config_path"]


async def _install_fix(t: Transport, host: TestHost) -> Step | None:
    if host.init == "sysv":
        # The testbed's hosts lack CAP_SYS_RESOURCE, and Debian's /etc/init.d/docker (set -e) aborts
        # at its `ulimit -n` there (seen on sid: "ulimit: open files: cannot modify limit"). The
        # images make those lines non-fatal for the docker they ship (recipes/host/build-rootfs.sh);
        # the docker this step installs gets the same edit from an apt hook, and here, where a killed
        # run installed it before the hook ran (seen: the run again was then the start fix, and the
        # unedited script aborted: "the daemon did not start").
        edit = "[ ! -e /etc/init.d/docker ] || sed -i 's/^[[:space:]]*ulimit -[nup] [^|]*$/& || true/' /etc/init.d/docker"
        host.sh(f"cat > /etc/apt/apt.conf.d/99regwiz-testbed-ulimit <<'EOF'\nDPkg::Post-Invoke {{ \"{edit}\"; }};\nEOF\n"
                + edit)
    return await _fix_for(t, host, "docker")


async def _deploy(t: Transport, host: TestHost, f: Fixtures) -> Step:
    if host.init == "systemd":
        host.exec("systemctl", "start", "docker")
    elif host.exec("pidof", "dockerd", check=False).returncode != 0:
        host.exec("/etc/init.d/docker", "start")
        for _ in range(60):
            if host.exec("docker", "version", "--format", "{{.Server.Version}}", check=False).stdout.strip():
                break
            await asyncio.sleep(0.5)
    return DeployRegistryStep(choices_for(host, f.testbed))


SCENARIOS = {
    # Diagnosis fixes on the registry host.
    # Its apply's commands: 1 daemon.json written (local-kv.db's absence checked in the same command), 2 the
    # restart (systemd: with the daemon's answer and docker0's addresses; SysV: the start, then docker0 read
    # apart): killed 0.3 s into the restart.
    "bridge fix (daemon.json, dockerd restart)": Scenario(
        "ecs_conflict", 2, 0.3, lambda t, h, f: _fix_for(t, h, "network"), _network_fixed),
    "route deletion (ip route, /etc/network/interfaces)": Scenario(
        "ecs_conflict", 2, None, lambda t, h, f: _fix_for(t, h, "network", RouteDeleteFix), _route_gone),
    # Killed as `systemctl enable` goes out: it can finish in well under a second, so a kill timed
    # to land half-way raced it on a loaded machine (seen: the step ended applied, no kill felt).
    "start and enable docker": Scenario(
        "ecs", 1, None, lambda t, h, f: _fix_for(t, h, "docker"), _docker_enabled),
    "install docker (apt)": Scenario(
        "bare", 1, "dpkg", lambda t, h, f: _install_fix(t, h), lambda h, f: _docker_answers(h)),
    # The registry itself: certificates, htpasswd, the image upload, the container.
    # Its apply's commands: 1 the folders and files (one command), 2 the Docker Hub probe (started when the
    # image is needed: not answered yet, the upload begins meanwhile), 3 the upload, killed while its
    # `docker load` runs on the host: a kill 1 s in raced an upload that took less (seen on sid under
    # load: the whole deploy ended "applied and verified" before the kill landed).
    "deploy the registry (image upload)": Scenario("ecs", 3, "docker", _deploy, _registry_up),
    # Clients of every init.
    "client: CA in certs.d": Scenario(
        "linux_client", 1, None, lambda t, h, f: _ready(DockerTrustStep(ClientKind.LINUX, f.tls_registry)),
        _trusts_ca),
    "client: daemon.json + reload": Scenario(
        "linux_client", 2, None, lambda t, h, f: _ready(DockerTrustStep(ClientKind.LINUX, f.insecure_registry)),
        _insecure_in_daemon_json),
    "client: DOCKER_OPTS + restart": Scenario(
        "sysv_client", 2, 0.2, lambda t, h, f: _ready(DockerTrustStep(ClientKind.SYSV, f.insecure_registry)),
        _insecure_in_docker_opts),
    "client: boot2docker EXTRA_ARGS + restart": Scenario(
        "boot2docker", 2, 0.2, lambda t, h, f: _ready(DockerTrustStep(ClientKind.BOOT2DOCKER, f.insecure_registry)),
        _insecure_in_extra_args),
    "client: containerd hosts.toml + config_path": Scenario(
        "linux_client", 2, None, lambda t, h, f: _ready(ContainerdTrustStep(f.tls_registry)), _containerd_trusts),
}


async def _ready(step: Step) -> Step:
    return step


async def _yes(plan: Plan) -> bool:
    return True


def _assert_no_partial_files(host: TestHost) -> None:
    leftovers = host.sh(f"find {WRITTEN_DIRS} -name '*.regwiz-tmp.*' -o -name '*.regwiz-restore' 2>/dev/null "
                        "|| true").stdout.strip()
    assert leftovers == "", f"temporary files left on {host.name}: {leftovers}"
    daemon_json = host.exec("cat", "/etc/docker/daemon.json", check=False)
    if daemon_json.returncode == 0:
        json.loads(daemon_json.stdout)  # whole, never truncated
    config = host.exec("cat", "/etc/containerd/config.toml", check=False)
    if config.returncode == 0:
        tomllib.loads(config.stdout)


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_session_killed_mid_step_then_run_again(name: str, fresh_host, testbed: Testbed,  # type: ignore[no-untyped-def]
                                                      tls_registry: RegistryTarget,
                                                      insecure_registry: RegistryTarget, tmp_path: Path) -> None:
    await _killed_then_again(name, fresh_host(SCENARIOS[name].flavour),
                             Fixtures(testbed, tls_registry, insecure_registry), tmp_path)


# On trixie and sid, every step whose host runs there (containerd on sid: its 2.x layout has its
# own case in tests/test_containerd2_faults_testbed.py). Steps of one flavour run one after the
# other on one host of that release, in an order where none undoes what the next needs: the
# client steps touch different files (daemon.json, certs.d, containerd's config). The bridge fix
# and the route deletion each remove the conflict the other fixes, so each has a host of its own.
# Deploy follows the start of Docker on the same ecs host: its registry container starts there
# because the testbed makes /proc/sys/net writable in trixie and sid hosts (Docker 26 and 28 set
# disable_ipv6 on a container's interface: NET_SYSCTLS_WRITABLE_RELEASES in tests/testbed/hosts.py).
NEWER_RELEASES: dict[str, list[tuple[str, list[str]]]] = {
    release: [
        ("ecs", ["start and enable docker", "deploy the registry (image upload)"]),
        ("ecs_conflict", ["bridge fix (daemon.json, dockerd restart)"]),
        ("ecs_conflict", ["route deletion (ip route, /etc/network/interfaces)"]),
        ("bare", ["install docker (apt)"]),
        ("linux_client", ["client: daemon.json + reload", "client: CA in certs.d"]
         + (["client: containerd hosts.toml + config_path"] if release == "trixie" else [])),
        ("sysv_client", ["client: DOCKER_OPTS + restart"]),
        ("boot2docker", ["client: boot2docker EXTRA_ARGS + restart"]),
    ]
    for release in ("trixie", "sid")
}


@pytest.mark.parametrize(("flavour", "names", "release"), [
    pytest.param(flavour, names, release, id=" + ".join(n.split(" (")[0] for n in names) + f"-{release}")
    for release, groups in NEWER_RELEASES.items() for flavour, names in groups])
async def test_session_killed_mid_step_on_newer_releases(flavour: str, names: list[str],  # type: ignore[no-untyped-def]
                                                         release: str, fresh_host, testbed: Testbed,
                                                         tls_registry: RegistryTarget,
                                                         insecure_registry: RegistryTarget, tmp_path: Path) -> None:
    host: TestHost = fresh_host(f"{flavour}@{release}")
    assert host.release == release
    for name in names:
        assert SCENARIOS[name].flavour == flavour
        await _killed_then_again(name, host, Fixtures(testbed, tls_registry, insecure_registry), tmp_path)


async def _killed_then_again(name: str, host: TestHost, fixtures: Fixtures, tmp_path: Path) -> None:
    scenario = SCENARIOS[name]
    async with root_by_password(host, tmp_path) as t:
        step = await scenario.make_step(t, host, fixtures)
        assert step is not None, \
            f"{name}: the host offered no such step ({_last_check_said.get(host.address, 'no diagnosis ran')})"
        bus = EventBus()
        killer = SessionKiller(host, scenario.k, scenario.delay)
        bus.subscribe(killer)
        first = await run_step(step, StepContext(t, bus.scoped(source="fault")), _yes)
        assert killer.killed_during is not None, f"{name}: the step ran fewer than {scenario.k} commands"
        if killer.task is not None:
            await killer.task
        assert killer.matched, f"{name}: no sshd session process matched the kill on {host.release}"
        assert first.outcome in (Outcome.FAILED, Outcome.ROLLED_BACK), \
            f"{name}: the kill during `{killer.killed_during}` went unnoticed: {first.outcome} {first.message}"
        assert "connection" in first.message and "lost" in first.message, first.message
        _assert_no_partial_files(host)

        # Again, on the same transport: it reconnects, and the step completes.
        again_step = await scenario.make_step(t, host, fixtures)
        if again_step is not None:
            again = await run_step(again_step, StepContext(t, EventBus().scoped(source="again")), _yes)
            assert again.outcome in (Outcome.APPLIED, Outcome.NOTHING_TO_DO), f"{name}: {again.message}"
    _assert_no_partial_files(host)
    scenario.healthy(host, fixtures)
