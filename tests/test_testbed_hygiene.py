"""The testbed removes only what it made, and what a dead run left behind."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from pathlib import Path

import pytest

from app.transport import Command
from app.transport.ssh import SSHTarget, SSHTransport
from tests.sshutil import trusting_store
from tests.testbed.docker_cli import LABEL, OWNER_LABEL, docker
from tests.testbed.hosts import Testbed, TestHost, remove_stale
from tests.testbed.images import _remove_stale, image_exists


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid  # reaped: no process has this PID now (barring reuse)


def test_stale_cleanup_removes_dead_runs_and_keeps_everything_else(testbed: Testbed) -> None:
    assert testbed.images is not None
    tag = secrets.token_hex(3)
    image = testbed.images.registry
    mine_dead = f"regwiz-testbed-hygiene-dead-{tag}"
    mine_alive = f"regwiz-testbed-hygiene-alive-{tag}"
    users_own = f"users-own-container-{tag}"  # no label: a person's own container
    try:
        docker("create", "--name", mine_dead, "--label", f"{LABEL}=1",
               "--label", f"{OWNER_LABEL}={_dead_pid()}", image)
        docker("create", "--name", mine_alive, "--label", f"{LABEL}=1",
               "--label", f"{OWNER_LABEL}={os.getpid()}", image)
        docker("create", "--name", users_own, image)
        remove_stale()
        names = set(docker("ps", "-a", "--format", "{{.Names}}").stdout.split())
        assert mine_dead not in names
        assert {mine_alive, users_own} <= names
        assert testbed.network in docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    finally:
        for name in (mine_dead, mine_alive, users_own):
            docker("rm", "-f", name, check=False)


def test_stale_image_cleanup_touches_only_the_testbed_prefix(testbed: Testbed) -> None:
    assert testbed.images is not None
    tag = secrets.token_hex(3)
    users_ref = f"users-own-{tag}/registry:2"  # stands for a person's real registry:2
    stale_ref = f"regwiz-testbed/registry:stale-{tag}"
    try:
        docker("tag", testbed.images.registry, users_ref)
        docker("tag", testbed.images.registry, stale_ref)
        _remove_stale(testbed.images)
        assert image_exists(users_ref)
        assert not image_exists(stale_ref)
        assert image_exists(testbed.images.registry) and image_exists(testbed.images.host)
    finally:
        docker("image", "rm", users_ref, check=False)
        docker("image", "rm", stale_ref, check=False)


async def test_ssh_agent_login(linux_client: TestHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent path: OpenSSH's ssh-agent holds the key, regwiz asks it to sign."""
    sock = tmp_path / "agent.sock"
    agent = subprocess.run(["ssh-agent", "-a", str(sock)], capture_output=True, text=True, check=True)
    pid = int(agent.stdout.split("SSH_AGENT_PID=")[1].split(";")[0])
    try:
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", str(linux_client.client_key.path)], env=env, check=True,
                       capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh keys to fall back on
        target = SSHTarget(host=linux_client.address, user=linux_client.key_user, use_agent=True,
                           known_hosts=trusting_store(linux_client, tmp_path))
        async with SSHTransport(target) as t:
            assert (await t.run(Command("whoami"), check=True)).stdout == linux_client.key_user
    finally:
        os.kill(pid, signal.SIGTERM)
