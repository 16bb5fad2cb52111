"""Faults on real hosts: a full disk and a killed session leave every file whole."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Callable, Iterator

import pytest

from app.events import EventBus
from app.remote_files import FileChange
from app.steps import StepContext
from app.transport import TransportError
from tests.registry_helpers import network_facts_of
from tests.sshutil import root_by_password
from tests.testbed.hosts import Testbed, TestHost

RELEASES = ["bookworm", "trixie", "sid"]


@pytest.fixture(scope="module")
def newer_ecs(testbed: Testbed) -> Iterator[Callable[[str], TestHost]]:
    """One `ecs` host per newer release, shared by this module's file-level cases (each leaves it as found)."""
    started: dict[str, TestHost] = {}

    def on(release: str) -> TestHost:
        if release not in started:
            [started[release]] = testbed.start(f"ecs@{release}")
        return started[release]

    yield on
    for host in started.values():
        testbed.remove(host)


def _host(request: pytest.FixtureRequest, newer_ecs: Callable[[str], TestHost], release: str,
          bookworm_flavour: str = "ecs") -> TestHost:
    """The session's shared bookworm host (asked for only then), or this module's `ecs` of the newer release."""
    host: TestHost = request.getfixturevalue(bookworm_flavour) if release == "bookworm" else newer_ecs(release)
    assert host.release == release
    return host


@pytest.mark.parametrize("release", RELEASES)
async def test_full_disk_keeps_the_original_file(release: str, request: pytest.FixtureRequest,
        newer_ecs: Callable[[str], TestHost], tmp_path: Path) -> None:
    ecs = _host(request, newer_ecs, release)
    ecs.sh("mkdir -p /mnt/small && mount -t tmpfs -o size=16k tmpfs /mnt/small && "
           "printf 'original\\n' > /mnt/small/daemon.json")
    try:
        async with root_by_password(ecs, tmp_path) as t:
            ctx = StepContext(t, EventBus().scoped(source="fault"))
            with pytest.raises(TransportError):
                await ctx.files.write(FileChange("/mnt/small/daemon.json", "original\n", "x" * 200_000))
        assert ecs.exec("cat", "/mnt/small/daemon.json").stdout == "original\n"
        assert ecs.exec("ls", "/mnt/small").stdout.split() == ["daemon.json"]  # no temporary file left
    finally:
        ecs.sh("umount /mnt/small", check=False)


@pytest.mark.parametrize("release", RELEASES)
async def test_killed_session_leaves_no_partial_file(release: str, request: pytest.FixtureRequest,
        newer_ecs: Callable[[str], TestHost], tmp_path: Path) -> None:
    ecs = _host(request, newer_ecs, release)

    async def slow_chunks():  # type: ignore[no-untyped-def]
        yield b"first part of a big file\n" * 1000
        await asyncio.sleep(30)  # the session dies while the rest is awaited
        yield b"never sent\n"

    path = "/etc/regwiz-fault-test.conf"
    ecs.exec("sh", "-c", f"printf 'old\\n' > {path}")
    try:
        async with root_by_password(ecs, tmp_path) as t:
            size = len(b"first part of a big file\n" * 1000) + len(b"never sent\n")
            writing = asyncio.ensure_future(t.upload(slow_chunks(), path, mode=0o644, size=size))
            for _ in range(50):
                if ecs.sh(f"ls {path}.regwiz-tmp.* 2>/dev/null || true").stdout.strip():
                    break
                await asyncio.sleep(0.1)
            # Kill the sshd process serving this session (as a dropped connection would).
            # ('[s]' keeps pkill's own shell from matching its pattern; OpenSSH 9.8+, trixie's
            # and sid's, names the session process sshd-session.)
            killed = ecs.sh("pkill -KILL -f '[s]shd(-session)?: root@notty' && echo killed || true")
            assert "killed" in killed.stdout, f"no sshd session process matched on {release}"
            with pytest.raises(TransportError):
                await asyncio.wait_for(writing, 20)
        for _ in range(30):
            if not ecs.sh(f"ls {path}.regwiz-tmp.* 2>/dev/null || true").stdout.strip():
                break
            await asyncio.sleep(0.2)
        assert ecs.exec("cat", path).stdout == "old\n"
        assert ecs.sh(f"ls {path}.regwiz-tmp.* 2>/dev/null || true").stdout.strip() == ""
    finally:
        ecs.exec("rm", "-f", path)


@pytest.mark.parametrize("release", RELEASES)
async def test_hostile_values_are_data_on_a_real_host(release: str, request: pytest.FixtureRequest,
        newer_ecs: Callable[[str], TestHost], tmp_path: Path) -> None:
    """Paths, arguments and sudo input with shell syntax reach the host as data: the canary never appears."""
    ecs = _host(request, newer_ecs, release)
    from app.redact import Secret
    from app.transport import Command
    from app.transport.ssh import SSHTarget, SSHTransport
    from tests.sshutil import trusting_store

    canary = "/tmp/regwiz-canary"
    hostile_dir = "/tmp/hostile $(touch /tmp/regwiz-canary) `touch /tmp/regwiz-canary`; touch /tmp/regwiz-canary"
    target = SSHTarget(host=ecs.address, user=ecs.sudo_user, password=Secret(ecs.sudo_password), use_agent=False,
                       sudo_password=Secret(ecs.sudo_password), known_hosts=trusting_store(ecs, tmp_path))
    try:
        async with SSHTransport(target) as t:
            ctx = StepContext(t, EventBus().scoped(source="fault"))
            await t.run(Command("mkdir", "-p", hostile_dir), sudo=True, check=True)
            await ctx.files.write(FileChange(f"{hostile_dir}/x'\"\n.conf", None, "data $(touch /tmp/regwiz-canary)\n"))
            echoed = await t.run(Command("printf", "%s", "'; touch /tmp/regwiz-canary; '"), sudo=True, check=True)
            assert echoed.stdout == "'; touch /tmp/regwiz-canary; '"
        assert ecs.exec("test", "-e", canary, check=False).returncode != 0
        listing = ecs.exec("ls", "-b", hostile_dir).stdout
        assert "x\\'\\\"\\n.conf" in listing or "x'\"\\n.conf" in listing
    finally:
        ecs.sh("rm -rf /tmp/hostile* /tmp/regwiz-canary")


@pytest.mark.parametrize("release", RELEASES)
async def test_unreadable_config_files_are_refused_and_left_untouched(release: str, request: pytest.FixtureRequest,
        newer_ecs: Callable[[str], TestHost], tmp_path: Path) -> None:
    from app.clients.model import RegistryTarget
    from app.clients.runtimes import ContainerdTrustStep
    from app.steps import Outcome, Plan, run_step

    async def yes(plan: Plan) -> bool:
        return True

    # bookworm's shared `bare`; on the newer releases this module's `ecs`, whose own /etc/docker
    # and /etc/containerd are kept aside meanwhile (its docker is installed, not started).
    bare = _host(request, newer_ecs, release, "bare")
    bare.sh("for d in /etc/containerd /etc/docker; do if [ -e $d ]; then mv $d $d.regwiz-keep; fi; done")
    bare.sh("mkdir -p /etc/containerd /etc/docker && printf '[broken\\nnot toml' > /etc/containerd/config.toml "
            "&& printf '{not json' > /etc/docker/daemon.json")
    try:
        registry = RegistryTarget("10.0.0.5", 5000, False, None)
        async with root_by_password(bare, tmp_path) as t:
            result = await run_step(ContainerdTrustStep(registry), StepContext(t, EventBus().scoped(source="x")), yes)
            assert result.outcome is Outcome.REFUSED and "could not be read" in result.message
            from app.diagnose import DiagnosisContext
            from app.diagnose.network import NetworkCheck

            ctx = DiagnosisContext(t, EventBus(), bare.address)
            check = await NetworkCheck().run(ctx, EventBus().scoped(source="x"))
            assert check.status.value == "failure" and "not valid JSON" in check.summary
        assert bare.exec("cat", "/etc/containerd/config.toml").stdout == "[broken\nnot toml"
        assert bare.exec("cat", "/etc/docker/daemon.json").stdout == "{not json"
    finally:
        bare.sh("rm -rf /etc/containerd /etc/docker; "
                "for d in /etc/containerd /etc/docker; do if [ -e $d.regwiz-keep ]; then mv $d.regwiz-keep $d; fi; done")


@pytest.mark.parametrize("release", RELEASES)
async def test_backups_keep_the_original_mode(
        release: str, request: pytest.FixtureRequest, newer_ecs: Callable[[str], TestHost], tmp_path: Path) -> None:
    ecs = _host(request, newer_ecs, release)
    path = "/etc/regwiz-mode-test.conf"
    ecs.sh(f"printf 'old\\n' > {path} && chmod 0640 {path}")
    try:
        async with root_by_password(ecs, tmp_path) as t:
            ctx = StepContext(t, EventBus().scoped(source="fault"))
            backup = await ctx.files.write(FileChange(path, "old\n", "new\n"))
        assert backup.backup_path is not None
        assert ecs.exec("stat", "-c", "%a", backup.backup_path).stdout.strip() == "640"
        assert ecs.exec("stat", "-c", "%a", path).stdout.strip() == "640"  # the new file keeps it too
        assert ecs.exec("cat", backup.backup_path).stdout == "old\n"
    finally:
        ecs.sh(f"rm -f {path}")


def _restart_profile(server: TestHost, laptop: TestHost, home: Path) -> Path:
    profile = home / "restart.toml"
    profile.write_text(f'''[server]
host = "{server.address}"
password_env = "SERVER_PASSWORD"

[registry]
[[registry.users]]
name = "ci"
password_env = "REGISTRY_CI_PASSWORD"

[[clients]]
host = "{laptop.address}"
password_env = "LAPTOP_PASSWORD"
''')
    return profile


async def test_a_restart_between_deploy_and_clients_is_waited_for_or_explained(  # type: ignore[no-untyped-def]
        fresh_host, cli_env: dict[str, str], regwiz_home: Path) -> None:
    from tests.cli_helpers import json_lines, regwiz, trust

    server: TestHost = fresh_host("ecs_conflict")
    laptop: TestHost = fresh_host("linux_client")
    for host in (server, laptop):
        trust(host, regwiz_home)
    regwiz_home.mkdir(parents=True, exist_ok=True)
    profile = str(_restart_profile(server, laptop, regwiz_home))
    env = {**cli_env, "SERVER_PASSWORD": server.root_password, "LAPTOP_PASSWORD": laptop.root_password}

    async def cli(*args: str):  # type: ignore[no-untyped-def]
        return await asyncio.to_thread(regwiz, *args, "--profile", profile, "--json", env=env)

    deployed = await cli("deploy", "--yes")
    assert deployed.returncode == 0, deployed.stdout[-3000:]

    # The host reboots just before the clients step: Docker is enabled at boot, the
    # registry container comes back by its restart policy; regwiz waits for it.
    server.restart(wait_for_ssh=False)
    configured = await cli("clients", "--yes")
    assert configured.returncode == 0, configured.stdout[-3000:]
    assert [o["status"] for o in json_lines(configured.stdout) if o["type"] == "client"] == ["ok"]

    # Docker not enabled at boot: after the reboot the registry stays down. The
    # clients step names that cause and the fix, and touches no client.
    server.exec("systemctl", "disable", "--quiet", "docker.service", "docker.socket")
    server.restart()
    before = laptop.sh("find /etc/docker /root/.docker -type f | sort | xargs md5sum").stdout
    refused = await cli("clients", "--yes")
    assert refused.returncode == 1, refused.stdout[-3000:]
    error = next(o for o in json_lines(refused.stdout) if o["type"] == "error")["message"]
    assert "the host restarted" in error and "Docker is not running" in error, error
    assert "not enabled at boot" in error and "regwiz diagnose --yes" in error, error
    assert "Nothing was changed on the clients" in error
    assert laptop.sh("find /etc/docker /root/.docker -type f | sort | xargs md5sum").stdout == before

    # The dashboard's registry row says the same.
    from app.dashboard import check_health
    from app.events import EventBus
    from app.profiles import load_profile

    os.environ.update(SERVER_PASSWORD=server.root_password, LAPTOP_PASSWORD=laptop.root_password,
                      REGISTRY_CI_PASSWORD=env["REGISTRY_CI_PASSWORD"])
    try:
        rows = {r.key: r for r in await check_health(load_profile(profile), EventBus(), lambda row: None)}
    finally:
        for var in ("SERVER_PASSWORD", "LAPTOP_PASSWORD", "REGISTRY_CI_PASSWORD"):
            os.environ.pop(var, None)
    assert rows["docker"].status.value == "failure"
    assert "not enabled at boot" in rows["registry"].detail and rows["registry"].fix == "deploy"

    # The fix it names works, and then the clients step does too.
    fixed = await cli("diagnose", "--yes")
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert server.exec("systemctl", "is-enabled", "docker").stdout.strip() == "enabled"
    again = await cli("clients", "--yes")
    assert again.returncode == 0, again.stdout[-3000:]

    # A registry container that keeps restarting (its config broken by hand) is named, with its log.
    server.sh("echo 'version: [broken' > /etc/regwiz/registry/config.yml && docker restart registry")
    looping = await cli("clients", "--yes")
    assert looping.returncode == 1
    error = next(o for o in json_lines(looping.stdout) if o["type"] == "error")["message"]
    assert "keeps restarting" in error and "last log lines" in error, error


@pytest.mark.parametrize("release", ["trixie", "sid"])
async def test_dockerd_not_returning_on_newer_releases(release: str, fresh_host,  # type: ignore[no-untyped-def]
                                                       tmp_path: Path) -> None:
    """tests/test_rollback_report.py's SysV dockerd that starts with neither settings, on trixie and sid.

    A daemon.json edited by hand and never applied makes dockerd refuse to start; regwiz's change
    goes to DOCKER_OPTS, so its restore cannot help: FAILED, saying dockerd is down, no temporary
    file left; once the hand edit is undone, the same step completes.
    """
    import json

    from app.clients.configure import ClientSpec, configure_clients
    from app.clients.docker_trust import DockerTrustStep
    from app.clients.model import ClientKind, RegistryTarget
    from app.steps import Outcome, Plan, Status, run_step

    def answers() -> bool:  # not `docker info`'s status: Docker 26's CLI (trixie) exits 0 with the daemon down
        shown = host.exec("docker", "version", "--format", "{{.Server.Version}}", check=False)
        return shown.returncode == 0 and bool(shown.stdout.strip())

    host: TestHost = fresh_host(f"sysv_client@{release}")
    assert host.release == release
    # The host is ready for SSH, its dockerd may still be starting (seen on a loaded machine): a hand
    # edit made before it is up would keep it down from the start.
    for _ in range(120):
        if answers():
            break
        await asyncio.sleep(0.5)
    before = host.exec("cat", "/etc/default/docker").stdout
    shown = host.exec("cat", "/etc/docker/daemon.json", check=False)
    original = shown.stdout if shown.returncode == 0 else None
    config = json.loads(original) if original and original.strip() else {}
    host.exec("sh", "-c", "mkdir -p /etc/docker && cat > /etc/docker/daemon.json",
              input=json.dumps({**config, "storage-driver": "regwiz-no-such-driver"}))
    assert answers()  # still up, for now
    registry = RegistryTarget("203.0.113.7", 5000, tls=False, ca_pem=None)

    async def confirm_all(plans: list[tuple[str, Plan]]) -> bool:
        return True

    async def confirm_all_plan(plan: Plan) -> bool:
        return True

    spec = ClientSpec(f"root@{host.address}", lambda: root_by_password(host, tmp_path), ClientKind.SYSV)
    [result] = await configure_clients([spec], registry, EventBus(), confirm_all)
    assert result.status is Status.FAILURE, result.message
    assert "dockerd did not come back" in result.message
    assert f"dockerd does not run with them either: it is down on root@{host.address}" in result.message
    assert "/etc/init.d/docker start" in result.message, result.message
    assert "as it was before" not in result.message
    assert host.exec("cat", "/etc/default/docker").stdout == before
    assert not answers()
    leftovers = host.sh("find /etc/docker /etc/default -name '*.regwiz-tmp.*' -o -name '*.regwiz-restore' "
                        "2>/dev/null || true").stdout.strip()
    assert leftovers == "", leftovers

    # The hand edit undone and dockerd started: the second run completes.
    if original is None:
        host.exec("rm", "-f", "/etc/docker/daemon.json")
    else:
        host.exec("sh", "-c", "cat > /etc/docker/daemon.json", input=original)
    host.sh("/etc/init.d/docker start")
    for _ in range(60):
        if answers():
            break
        await asyncio.sleep(0.5)
    # The trust step alone: configure_clients would go on to a pull from 203.0.113.7, which is nobody.
    async with root_by_password(host, tmp_path) as t:
        again = await run_step(DockerTrustStep(ClientKind.SYSV, registry),
                               StepContext(t, EventBus().scoped(source="again")), confirm_all_plan)
    assert again.outcome is Outcome.APPLIED, again.message
    assert answers()
    assert "--insecure-registry 203.0.113.7:5000" in host.exec("cat", "/etc/default/docker").stdout
    print(result.message)


@pytest.mark.parametrize("release", ["trixie", "sid"])
async def test_bridge_fix_dockerd_refuses_is_rolled_back_on_newer_releases(  # type: ignore[no-untyped-def]
        release: str, fresh_host, tmp_path: Path) -> None:
    """tests/test_diagnose_testbed.py's bridge fix whose daemon.json dockerd refuses, on trixie and sid.

    The fix restarts dockerd (systemd on trixie, /etc/init.d/docker on sid); it does not come back,
    so the old daemon.json is restored and dockerd runs again with it.
    """
    import json

    from app.diagnose import DiagnosisContext, default_checks, run_checks
    from app.diagnose.network_fixes import DaemonNetworkFix
    from app.steps import Outcome, Plan, run_step

    class BrokenNetworkFix(DaemonNetworkFix):
        async def plan(self, ctx: StepContext) -> Plan:
            plan = await super().plan(ctx)
            change = plan.changes[0]
            broken = json.loads(change.new or "{}")
            broken["bip"] = "not-an-address"
            plan.changes[0] = type(change)(change.path, change.old, json.dumps(broken) + "\n", change.mode)
            return plan

    async def yes(plan: Plan) -> bool:
        return True

    host: TestHost = fresh_host(f"linux_client@{release}")
    assert host.release == release
    original = host.exec("cat", "/etc/docker/daemon.json").stdout
    async with root_by_password(host, tmp_path) as t:
        ctx = DiagnosisContext(t, EventBus(), host.address)
        await run_checks(default_checks(), ctx)
        result = await run_step(BrokenNetworkFix(network_facts_of(ctx)),
                                StepContext(t, EventBus().scoped(source="fault")), yes)
    assert result.outcome is Outcome.ROLLED_BACK, result.message
    assert "did not come back" in result.message, result.message
    assert host.exec("cat", "/etc/docker/daemon.json").stdout == original
    shown = host.exec("docker", "version", "--format", "{{.Server.Version}}", check=False)
    assert shown.returncode == 0 and shown.stdout.strip(), shown.stderr  # not `docker info`: 26's CLI exits 0
    leftovers = host.sh("find /etc/docker -name '*.regwiz-tmp.*' -o -name '*.regwiz-restore' "
                        "2>/dev/null || true").stdout.strip()
    assert leftovers == "", leftovers


async def test_an_installed_docker_whose_daemon_does_not_start_is_not_as_before(  # type: ignore[no-untyped-def]
        fresh_host, tmp_path: Path) -> None:
    """apt installs docker.io on a bare sid host, whose dockerd then does not start.

    On the testbed's hosts (no CAP_SYS_RESOURCE) Debian's /etc/init.d/docker, as the package
    installs it, exits 1 at its `ulimit -n` (seen). The package stays, so the host is not as it was:
    FAILED, saying Docker stays installed, never "as it was before".
    """
    from app.diagnose import DiagnosisContext, default_checks, run_checks
    from app.steps import Outcome, Plan, run_step

    async def yes(plan: Plan) -> bool:
        return True

    host: TestHost = fresh_host("bare@sid")
    async with root_by_password(host, tmp_path) as t:
        ctx = DiagnosisContext(t, EventBus(), host.address)
        results = {r.check_id: r for r in await run_checks(default_checks(), ctx)}
        [fix] = results["docker"].fixes
        result = await run_step(fix, StepContext(t, EventBus().scoped(source="fault")), yes)
    assert result.outcome is Outcome.FAILED, result.message
    assert "Docker stays installed" in result.message and "as it was before" not in result.message, result.message
    assert host.exec("sh", "-c", "command -v dockerd").returncode == 0
