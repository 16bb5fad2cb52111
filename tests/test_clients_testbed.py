"""The clients step on real hosts: systemd, SysV, boot2docker, containerd, podman, many at once, tunnel."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Iterator

import pytest

from app.clients.configure import ClientSpec, configure_clients, login, prove_pull, summary_table
from app.clients.docker_trust import DockerTrustStep
from app.clients.model import ClientKind, RegistryTarget
from app.clients.runtimes import ContainerdTrustStep, PodmanTrustStep
from app.clients.tunnel import open_client_tunnel
from app.events import EventBus, MemorySink
from app.redact import Secret
from app.steps import Outcome, Plan, Status, StepContext, run_step
from tests.sshutil import root_by_password
from tests.testbed.hosts import Testbed, TestHost


def spec(host: TestHost, tmp_path: Path, kind: ClientKind | None = None) -> ClientSpec:
    return ClientSpec(f"{host.name}@{host.address}", lambda: root_by_password(host, tmp_path), kind)


async def run_all(specs: list[ClientSpec], registry: RegistryTarget) -> tuple[list, list, MemorySink]:  # type: ignore[type-arg]
    bus = EventBus()
    sink = MemorySink()
    bus.subscribe(sink)
    confirmed: list[list[tuple[str, Plan]]] = []

    async def confirm_all(plans: list[tuple[str, Plan]]) -> bool:
        confirmed.append(plans)
        return True

    results = await configure_clients(specs, registry, bus, confirm_all)
    return results, confirmed, sink


async def test_tls_registry_clients_of_every_init_pull(testbed: Testbed, tls_registry: RegistryTarget,
                                                       tmp_path: Path) -> None:
    hosts = testbed.start("linux_client", "sysv_client", "boot2docker")
    try:
        results, confirmed, sink = await run_all([spec(h, tmp_path) for h in hosts], tls_registry)
        assert [r.status for r in results] == [Status.OK] * 3, summary_table(results)
        assert [r.kind for r in results] == [ClientKind.LINUX, ClientKind.SYSV, ClientKind.BOOT2DOCKER]
        assert all(r.pull_seconds and r.pull_seconds > 0 for r in results)
        # TLS needs only the CA: no daemon option changed, no restart.
        diffs = "".join(p.diff() for _, p in confirmed[0])
        assert "ca.crt" in diffs and "insecure" not in diffs
        assert all(not p.actions for _, p in confirmed[0])
        b2d = hosts[2]
        assert b2d.exec("test", "-f", f"/var/lib/boot2docker/etc/docker/certs.d/{tls_registry.address}/ca.crt",
                        check=False).returncode == 0  # survives a reboot
        assert tls_registry.password and tls_registry.password.reveal() not in "\n".join(sink.lines())
        # Again: nothing to change, every client still pulls.
        again, confirmed_again, _ = await run_all([spec(h, tmp_path) for h in hosts], tls_registry)
        assert [r.status for r in again] == [Status.OK] * 3
        assert confirmed_again == []  # no plan had anything to confirm
    finally:
        for host in hosts:
            testbed.remove(host)


async def test_insecure_registry_through_docker_opts_extra_args_and_daemon_json(
        testbed: Testbed, insecure_registry: RegistryTarget, tmp_path: Path) -> None:
    hosts = testbed.start("linux_client", "sysv_client", "boot2docker")
    address = insecure_registry.address
    try:
        results, confirmed, _ = await run_all([spec(h, tmp_path) for h in hosts], insecure_registry)
        assert [r.status for r in results] == [Status.OK] * 3, summary_table(results)
        linux, sysv, b2d = hosts
        config = json.loads(linux.exec("cat", "/etc/docker/daemon.json").stdout)
        assert config == {"labels": ["io.regwiz.flavour=linux_client"], "insecure-registries": [address]}
        assert f'DOCKER_OPTS="--label=io.regwiz.flavour=sysv_client --insecure-registry {address}"' in \
            sysv.exec("cat", "/etc/default/docker").stdout
        assert f'EXTRA_ARGS="--label=io.regwiz.flavour=boot2docker --insecure-registry {address}"' in \
            b2d.exec("cat", "/var/lib/boot2docker/profile").stdout
        # The flags reached the restarted daemons; the others kept theirs.
        for host in (sysv, b2d):
            labels = json.loads(host.exec("docker", "info", "--format", "{{json .Labels}}").stdout)
            assert labels == [f"io.regwiz.flavour={host.name}"]
        actions = {name.split("@")[0]: plan.actions for name, plan in confirmed[0]}
        assert "reload" in actions["linux_client"][0] and "restart" in actions["sysv_client"][0]
        again, confirmed_again, _ = await run_all([spec(h, tmp_path) for h in hosts], insecure_registry)
        assert [r.status for r in again] == [Status.OK] * 3 and confirmed_again == []
        assert sysv.exec("cat", "/etc/default/docker").stdout.count("--insecure-registry") == 1
    finally:
        for host in hosts:
            testbed.remove(host)


class BadOptionStep(DockerTrustStep):
    """Adds a flag dockerd does not know: the daemon will not come back."""

    async def plan(self, ctx: StepContext) -> Plan:
        plan = await super().plan(ctx)
        change = plan.changes[-1]
        broken = (change.new or "").replace("--insecure-registry", "--no-such-flag --insecure-registry")
        plan.changes[-1] = type(change)(change.path, change.old, broken, change.mode)
        return plan


async def test_daemon_that_does_not_come_back_is_rolled_back(fresh_host, insecure_registry: RegistryTarget,  # type: ignore[no-untyped-def]
                                                             tmp_path: Path) -> None:
    host: TestHost = fresh_host("sysv_client")
    before = host.exec("cat", "/etc/default/docker").stdout
    async def yes(plan: Plan) -> bool:
        return True

    async with root_by_password(host, tmp_path) as t:
        result = await run_step(BadOptionStep(ClientKind.SYSV, insecure_registry),
                                StepContext(t, EventBus().scoped(source="client")), yes)
    assert result.outcome is Outcome.ROLLED_BACK, result.message
    assert "dockerd did not come back" in result.message
    assert "unknown flag" in result.message or "did not come back" in result.message
    assert host.exec("cat", "/etc/default/docker").stdout == before
    assert host.exec("docker", "info", "--format", "{{.ID}}", check=False).returncode == 0


async def test_containerd_and_podman_files_parse_back(bare: TestHost, tls_registry: RegistryTarget,
                                                      tmp_path: Path) -> None:
    async def yes(plan: Plan) -> bool:
        return True

    address = tls_registry.address
    bare.exec("sh", "-c", "mkdir -p /etc/containerd && printf '# kept\\nversion = 2\\n' > /etc/containerd/config.toml")
    async with root_by_password(bare, tmp_path) as t:
        for step in (ContainerdTrustStep(tls_registry), PodmanTrustStep(tls_registry)):
            result = await run_step(step, StepContext(t, EventBus().scoped(source="client")), yes)
            assert result.outcome is Outcome.APPLIED, result.message
    hosts = tomllib.loads(bare.exec("cat", f"/etc/containerd/certs.d/{address}/hosts.toml").stdout)
    assert hosts["server"] == f"https://{address}"
    assert hosts["host"][f"https://{address}"]["ca"] == f"/etc/containerd/certs.d/{address}/ca.crt"
    config_text = bare.exec("cat", "/etc/containerd/config.toml").stdout
    assert config_text.startswith("# kept")
    assert tomllib.loads(config_text)["plugins"]["io.containerd.grpc.v1.cri"]["registry"]["config_path"] == \
        "/etc/containerd/certs.d"
    conf = tomllib.loads(bare.exec("cat", f"/etc/containers/registries.conf.d/50-regwiz-{address.replace(':', '-')}.conf").stdout)
    assert conf["registry"] == [{"location": address, "insecure": False}]
    assert bare.exec("cat", f"/etc/containers/certs.d/{address}/ca.crt").stdout.startswith("-----BEGIN CERTIFICATE")


async def test_eight_clients_at_once_each_with_its_own_log(testbed: Testbed, tls_registry: RegistryTarget,
                                                           tmp_path: Path) -> None:
    hosts = testbed.start(*["linux_client"] * 8)
    try:
        # A ninth client that cannot be reached fails alone: the others go on.
        from app.transport.hostkeys import KnownHostsStore
        from app.transport.ssh import SSHTarget, SSHTransport

        dead = ClientSpec("nobody", lambda: SSHTransport(SSHTarget(
            host=hosts[0].address, port=2999, user="root", password=Secret("x"), use_agent=False,
            known_hosts=KnownHostsStore(tmp_path / "kh"))))
        results, _, sink = await run_all([spec(h, tmp_path) for h in hosts] + [dead], tls_registry)
        assert results[-1].status is Status.FAILURE and "nothing listens" in results[-1].message
        results = results[:-1]
        assert [r.status for r in results] == [Status.OK] * 8, summary_table(results)
        for host in hosts:
            own = [e for e in sink.events if e.source == f"client.{host.name}@{host.address}"]
            assert any(line.startswith("$ sudo docker pull") or line.startswith("$ docker pull")
                       for e in own for line in e.render_lines())
        assert len(summary_table(results)) == 9  # a header and a row each
    finally:
        for host in hosts:
            testbed.remove(host)


async def test_tunnel_mode_client_pulls_with_no_trust_settings(fresh_host, tls_registry: RegistryTarget,  # type: ignore[no-untyped-def]
                                                               tmp_path: Path) -> None:
    host: TestHost = fresh_host("linux_client")
    emit = EventBus().scoped(source="client")
    async with root_by_password(host, tmp_path) as t:
        tunnel = await open_client_tunnel(t, tls_registry, 5055)
        try:
            assert host.exec("ls", "/etc/docker/certs.d", check=False).returncode != 0  # no trust at all
            await login(t, ClientKind.LINUX, tls_registry, emit, address=tunnel.address)
            seconds = await prove_pull(t, ClientKind.LINUX, tls_registry, emit, address=tunnel.address)
            assert seconds > 0
            assert any("docker pull localhost:5055/" in line for line in tunnel.usage())
        finally:
            tunnel.close()


async def test_a_client_that_disappears_mid_run_fails_alone(testbed: Testbed, tls_registry: RegistryTarget,
                                                            tmp_path: Path) -> None:
    hosts = testbed.start(*["linux_client"] * 8)
    victim = hosts[3]
    try:
        bus = EventBus()

        async def confirm_all(plans: list[tuple[str, Plan]]) -> bool:
            # Between planning and applying, one client's machine goes away.
            from tests.testbed.docker_cli import docker

            docker("kill", victim.container)
            return True

        results = await configure_clients([spec(h, tmp_path) for h in hosts], tls_registry, bus, confirm_all)
        by_name = {r.name: r for r in results}
        lost = by_name[f"{victim.name}@{victim.address}"]
        assert lost.status is Status.FAILURE and victim.address in lost.message, lost.message
        others = [r for r in results if r is not lost]
        assert [r.status for r in others] == [Status.OK] * 7, summary_table(results)
    finally:
        for host in hosts:
            testbed.remove(host)


# -- clients of today: the new releases and runtimes, each proven by a real pull ---------------

# Which kinds run on which release: the Docker clients of both inits on the releases that
# changed them (trixie's systemd 257 and Docker 26; sid's Docker 28 started by SysV), podman 5
# on both, containerd alone in both config layouts (1.6's version 2, 2.1's version 3).
TODAY = [
    ("linux_client@trixie", ClientKind.LINUX),
    ("linux_client@sid", ClientKind.SYSV),
    ("podman_client@trixie", ClientKind.PODMAN),
    ("podman_client@sid", ClientKind.PODMAN),
    ("containerd_node@bookworm", ClientKind.CONTAINERD),
    ("containerd_node@sid", ClientKind.CONTAINERD),
]


@pytest.fixture(scope="module")
def todays_clients(testbed: Testbed) -> Iterator[dict[str, TestHost]]:
    """One host per case, booted together."""
    hosts = testbed.start(*(name for name, _ in TODAY))
    try:
        yield {name: host for (name, _), host in zip(TODAY, hosts, strict=True)}
    finally:
        for host in hosts:
            testbed.remove(host)


@pytest.mark.parametrize("name, kind", TODAY, ids=[name for name, _ in TODAY])
async def test_clients_of_today_are_detected_configured_and_pull(
        todays_clients: dict[str, TestHost], tls_registry: RegistryTarget, tmp_path: Path,
        name: str, kind: ClientKind) -> None:
    host = todays_clients[name]
    results, confirmed, sink = await run_all([spec(host, tmp_path)], tls_registry)
    result = results[0]
    assert (result.status, result.kind) == (Status.OK, kind), summary_table(results)
    assert result.pull_seconds and result.pull_seconds > 0
    log = "\n".join(sink.lines())
    assert tls_registry.password and tls_registry.password.reveal() not in log
    assert "(detected; running:" in log  # the probe said what it found
    if kind is ClientKind.CONTAINERD:
        dump = tomllib.loads(host.exec("containerd", "config", "dump").stdout)
        table = "io.containerd.cri.v1.images" if host.release == "sid" else "io.containerd.grpc.v1.cri"
        assert dump["plugins"][table]["registry"]["config_path"] == "/etc/containerd/certs.d"
        assert "ctr images pull" in log
        images = host.exec("ctr", "images", "ls", "-q").stdout.split()
        assert tls_registry.image_ref() in images
        # nothing left with the password: no argv held it, no file was written for it
        found = host.exec("sh", "-c", "grep -rlF -f - /etc /run /tmp /var/log /root 2>/dev/null",
                          input=tls_registry.password.reveal() + "\n", check=False)  # pattern on stdin, not argv
        assert not found.stdout.strip(), found.stdout
    if kind is ClientKind.PODMAN:
        assert tls_registry.image_ref() in host.exec("podman", "images", "--format",
                                                     "{{.Repository}}:{{.Tag}}").stdout
    # Again: nothing to change, and it still pulls.
    again, confirmed_again, _ = await run_all([spec(host, tmp_path)], tls_registry)
    assert again[0].status is Status.OK and confirmed_again == [], summary_table(again)


async def test_docker_containerd_store_pulls_from_an_insecure_registry(
        fresh_host, insecure_registry: RegistryTarget, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host: TestHost = fresh_host("docker_containerd_store")  # Docker 28.5.2 on sid, SysV-started
    address = insecure_registry.address
    emit = EventBus().scoped(source="client")

    async def yes(plan: Plan) -> bool:
        return True

    async with root_by_password(host, tmp_path) as t:
        # Seen here: for a pull, 28.5.2's store does take insecure-registries when no hosts.toml
        # exists (moby v28.5.2 daemon/hosts.go mergeLegacyConfig), unlike what docker/cli#6748
        # reports; regwiz writes the hosts.toml anyway, which that store reads first.
        outcome = await run_step(DockerTrustStep(ClientKind.SYSV, insecure_registry), StepContext(t, emit), yes)
        assert outcome.outcome is Outcome.APPLIED, outcome.message
        assert await prove_pull(t, ClientKind.SYSV, insecure_registry, emit) > 0
    results, confirmed, _ = await run_all([spec(host, tmp_path)], insecure_registry)
    assert (results[0].status, results[0].kind) == (Status.OK, ClientKind.SYSV), summary_table(results)
    written = [change.path for _, plan in confirmed[0] for change in plan.changes if change.changes_anything]
    assert written == [f"/etc/docker/certs.d/{address}/hosts.toml"]
    hosts = tomllib.loads(host.exec("cat", f"/etc/docker/certs.d/{address}/hosts.toml").stdout)
    assert hosts["server"] == f"http://{address}"
    assert "io.containerd.snapshotter.v1" in host.exec("docker", "info", "--format", "{{json .DriverStatus}}").stdout
