"""Each testbed flavour is what it claims to be, seen through regwiz's own SSH transport."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.events import EventBus, EventKind, MemorySink
from app.redact import REDACTED, Secret
from app.transport import Command, shell
from app.transport.ssh import AuthenticationFailed, SSHTarget, SSHTransport
from tests.sshutil import by_key, root_by_password, trusting_store
from tests.testbed.hosts import FLAVOURS, TestHost


async def test_every_flavour_answers_ssh_as_root(testbed_hosts: dict[str, TestHost], tmp_path: Path) -> None:
    assert set(testbed_hosts) == set(FLAVOURS)
    for name, host in testbed_hosts.items():
        async with root_by_password(host, tmp_path) as t:
            result = await t.run(Command("hostname"), check=True)
            assert result.stdout == name.replace("_", "-")
            assert await t.is_root()


async def test_hosts_have_their_own_host_keys(testbed_hosts: dict[str, TestHost]) -> None:
    keys = [tuple(sorted(h.host_keys)) for h in testbed_hosts.values()]
    assert all(keys) and len(set(keys)) == len(keys)


async def test_ecs_is_a_systemd_server_with_docker_installed_but_stopped(ecs: TestHost, tmp_path: Path) -> None:
    async with root_by_password(ecs, tmp_path) as t:
        assert (await t.run(Command("ps", "-p", "1", "-o", "comm="))).stdout.strip() == "systemd"
        assert (await t.run(Command("systemctl", "is-active", "docker"))).stdout.strip() == "inactive"
        assert (await t.run(Command("dockerd", "--version"), check=True)).stdout.startswith("Docker version")


async def test_ecs_sudo_user_needs_its_password(ecs: TestHost, tmp_path: Path) -> None:
    target = SSHTarget(host=ecs.address, user=ecs.sudo_user, password=Secret(ecs.sudo_password),
                       use_agent=False, sudo_password=Secret(ecs.sudo_password),
                       known_hosts=trusting_store(ecs, tmp_path))
    async with SSHTransport(target) as t:
        assert not await t.is_root()
        assert await t.sudo_needs_password()
        await t.check_sudo()
        result = await t.run(Command("id", "-u"), sudo=True, check=True)
        assert result.stdout == "0"
        # The password went to sudo's stdin only: the command saw none of it.
        echoed = await t.run(Command("cat"), sudo=True, stdin=b"payload", check=True)
        assert echoed.stdout == "payload"


async def test_ecs_key_only_user_logs_in_by_key_not_password(ecs: TestHost, tmp_path: Path) -> None:
    async with by_key(ecs, ecs.key_user, tmp_path) as t:
        assert (await t.run(Command("whoami"), check=True)).stdout == ecs.key_user
    target = SSHTarget(host=ecs.address, user=ecs.key_user, password=Secret("anything"),
                       use_agent=False, known_hosts=trusting_store(ecs, tmp_path))
    with pytest.raises(AuthenticationFailed, match="refused the login"):
        await SSHTransport(target).connect()


async def test_ecs_conflict_dockerd_fails_with_no_available_network(ecs_conflict: TestHost, tmp_path: Path) -> None:
    async with root_by_password(ecs_conflict, tmp_path) as t:
        routes = (await t.run(Command("ip", "route"), check=True)).stdout
        assert "172.16.0.0/12 dev eth0 scope link" in routes
        assert "192.168.0.0/16 dev eth0 scope link" in routes
        started = await t.run(Command("systemctl", "start", "docker"))
        assert not started.ok
        journal = await t.run(Command("journalctl", "-u", "docker", "--no-pager"), check=True)
        assert "no available network" in journal.stdout


async def test_ecs_gateway_routes_dockerd_starts_inside_the_routed_range(
        ecs_gateway_routes: TestHost, tmp_path: Path) -> None:
    async with root_by_password(ecs_gateway_routes, tmp_path) as t:
        routes = (await t.run(Command("ip", "route"), check=True)).stdout
        assert "172.16.0.0/12 via" in routes
        await t.run(Command("systemctl", "start", "docker"), check=True)
        try:
            addr = await t.run(Command("ip", "-j", "addr", "show", "docker0"), check=True)
            info = json.loads(addr.stdout)[0]["addr_info"]
            assert any(a["local"].startswith("172.") for a in info)
        finally:
            await t.run(Command("systemctl", "stop", "docker", "docker.socket"))


async def test_linux_client_runs_docker_configured_by_daemon_json(linux_client: TestHost, tmp_path: Path) -> None:
    async with root_by_password(linux_client, tmp_path) as t:
        assert (await t.run(Command("systemctl", "is-active", "docker"))).stdout.strip() == "active"
        config = json.loads((await t.run(Command("cat", "/etc/docker/daemon.json"), check=True)).stdout)
        labels = await t.run(Command("docker", "info", "--format", "{{json .Labels}}"), check=True)
        assert config["labels"] == json.loads(labels.stdout) == ["io.regwiz.flavour=linux_client"]


async def test_sysv_client_daemon_takes_docker_opts(sysv_client: TestHost, tmp_path: Path) -> None:
    async with root_by_password(sysv_client, tmp_path) as t:
        assert (await t.run(Command("ps", "-p", "1", "-o", "comm="))).stdout.strip() != "systemd"
        defaults = (await t.run(Command("cat", "/etc/default/docker"), check=True)).stdout
        assert 'DOCKER_OPTS="--label=io.regwiz.flavour=sysv_client"' in defaults
        cmdline = await t.run(shell("tr '\\0' ' ' < /proc/$(cat /var/run/docker-ssd.pid)/cmdline"), check=True)
        assert "--label=io.regwiz.flavour=sysv_client" in cmdline.stdout
        labels = await t.run(Command("docker", "info", "--format", "{{json .Labels}}"), check=True)
        assert json.loads(labels.stdout) == ["io.regwiz.flavour=sysv_client"]
        status = await t.run(Command("/etc/init.d/docker", "status"))
        assert status.ok


async def test_boot2docker_profile_extra_args_reach_the_daemon(boot2docker: TestHost, tmp_path: Path) -> None:
    target = SSHTarget(host=boot2docker.address, user="docker", password=Secret("tcuser"),
                       use_agent=False, known_hosts=trusting_store(boot2docker, tmp_path))
    async with SSHTransport(target) as t:
        assert not await t.is_root()
        assert not await t.sudo_needs_password()  # boot2docker's docker user: sudo without one
        profile = (await t.run(Command("cat", "/var/lib/boot2docker/profile"), check=True)).stdout
        assert 'EXTRA_ARGS="--label=io.regwiz.flavour=boot2docker"' in profile
        link = await t.run(Command("readlink", "/etc/docker"), check=True)
        assert link.stdout == "/var/lib/boot2docker/etc/docker"
        cmdline = await t.run(shell("tr '\\0' ' ' < /proc/$(cat /var/run/docker.pid)/cmdline"), sudo=True,
                              check=True)
        assert "--label=io.regwiz.flavour=boot2docker" in cmdline.stdout
        labels = await t.run(Command("docker", "info", "--format", "{{json .Labels}}"), sudo=True, check=True)
        assert json.loads(labels.stdout) == ["io.regwiz.flavour=boot2docker"]


async def test_bare_has_no_docker(bare: TestHost, tmp_path: Path) -> None:
    async with root_by_password(bare, tmp_path) as t:
        found = await t.run(shell("command -v docker dockerd containerd"))
        assert found.exit_status != 0 and found.stdout == ""
        assert (await t.run(Command("ps", "-p", "1", "-o", "comm="))).stdout.strip() == "systemd"


async def test_streams_many_lines_over_ssh_in_order(linux_client: TestHost, tmp_path: Path) -> None:
    async with root_by_password(linux_client, tmp_path) as t:
        count = 0
        async for line in t.stream_lines(Command("seq", "1", "50000")):
            count += 1
            assert line == str(count)
    assert count == 50000


async def test_streamed_output_is_redacted_wherever_ssh_cuts_it(linux_client: TestHost, tmp_path: Path) -> None:
    """A secret printed 40,000 times in 1.2 MB of output, in lines of varying length: the chunks asyncssh hands
    over end wherever the packets end, in a secret or not (tests/test_output_chunks.py cuts at each place);
    no event holds it, and every line arrives, in order."""
    secret = "Regwiz-Secret-16"
    bus = EventBus()
    bus.redactor.add(Secret(secret))
    memory = MemorySink()
    bus.subscribe(memory)
    script = ('awk -v s="$1" \'BEGIN { for (i = 1; i <= 40000; i++) '
              'printf "%d %s pad%s\\n", i, s, substr("xxxxxxxx", 1, i % 9) }\'')
    async with root_by_password(linux_client, tmp_path) as t:
        streamed = [line async for line in t.stream_lines(shell(script, secret),
                                                          emit=bus.scoped(source="diagnose.x", host="h"))]
    assert streamed == [f"{i} {secret} pad{'x' * (i % 9)}" for i in range(1, 40001)]  # the caller's own data
    shown = memory.lines(EventKind.STDOUT)
    assert shown == [f"{i} {REDACTED} pad{'x' * (i % 9)}" for i in range(1, 40001)]
    assert not any(secret in line for event in memory.events for line in event.lines)


async def test_upload_with_sudo_is_atomic_and_root_owned(ecs: TestHost, tmp_path: Path) -> None:
    target = SSHTarget(host=ecs.address, user=ecs.sudo_user, password=Secret(ecs.sudo_password),
                       use_agent=False, sudo_password=Secret(ecs.sudo_password),
                       known_hosts=trusting_store(ecs, tmp_path))
    path = "/etc/regwiz-upload-test.json"
    try:
        async with SSHTransport(target) as t:
            await t.upload(b'{"a": 1}\n', path, mode=0o640, sudo=True)
        stat = ecs.exec("stat", "-c", "%U %a", path).stdout.split()
        assert stat == ["root", "640"]
        assert ecs.exec("cat", path).stdout == '{"a": 1}\n'
        assert ecs.sh("ls /etc | grep -c regwiz-tmp || true").stdout.strip() == "0"
    finally:
        ecs.exec("rm", "-f", path)


async def test_locally_built_registry_image_serves_v2(linux_client: TestHost, registry_image: Path,
                                                      tmp_path: Path) -> None:
    linux_client.load_registry_image(registry_image)
    async with root_by_password(linux_client, tmp_path) as t:
        await t.run(Command("docker", "run", "-d", "--name", "tb-registry", "-p", "5000:5000", "registry:2"),
                    check=True)
        try:
            body = await t.run(shell("for i in $(seq 50); do curl -sf http://127.0.0.1:5000/v2/ && exit 0; "
                                     "sleep 0.2; done; exit 1"), check=True)
            assert body.stdout.strip() == "{}"
        finally:
            await t.run(Command("docker", "rm", "-f", "tb-registry"))
