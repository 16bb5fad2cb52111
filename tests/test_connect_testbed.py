"""Connection failures end in their own clear message, against real sshd."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import asyncssh
import pytest

from app.redact import Secret
from app.targets import HostForm
from app.transport import Command
from app.transport.base import SudoError
from app.transport.hostkeys import KnownHostsStore
from app.transport.ssh import AuthenticationFailed, HostUnreachable, SSHTarget, SSHTransport
from tests.sshutil import trusting_store
from tests.testbed.hosts import Testbed, TestHost


async def test_wrong_password(ecs: TestHost, tmp_path: Path) -> None:
    target = SSHTarget(host=ecs.address, user="root", password=Secret("not-the-password"), use_agent=False,
                       known_hosts=trusting_store(ecs, tmp_path))
    with pytest.raises(AuthenticationFailed) as caught:
        await SSHTransport(target).connect()
    assert str(caught.value) == f"root@{ecs.address} refused the login: check the user name and password"


async def test_unreachable_host(testbed: Testbed, tmp_path: Path) -> None:
    # An address on the testbed's own network where no host runs.
    subnet = ipaddress.ip_network(
        __import__("tests.testbed.docker_cli", fromlist=["docker_json"]).docker_json(
            "network", "inspect", testbed.network)[0]["IPAM"]["Config"][0]["Subnet"])
    nobody = str(subnet.network_address + 250)
    target = SSHTarget(host=nobody, user="root", password=Secret("x"), use_agent=False, connect_timeout=8,
                       known_hosts=KnownHostsStore(tmp_path / "kh"))
    with pytest.raises(HostUnreachable) as caught:
        await SSHTransport(target).connect()
    assert nobody in str(caught.value)
    assert "unreachable" in str(caught.value) or "did not answer" in str(caught.value)


async def test_closed_port(ecs: TestHost, tmp_path: Path) -> None:
    target = SSHTarget(host=ecs.address, port=2222, user="root", password=Secret("x"), use_agent=False,
                       known_hosts=KnownHostsStore(tmp_path / "kh"))
    with pytest.raises(HostUnreachable, match=rf"nothing listens on {ecs.address}:2222"):
        await SSHTransport(target).connect()


async def test_timeout_when_packets_are_dropped(ecs: TestHost, tmp_path: Path) -> None:
    ecs.exec("iptables", "-I", "INPUT", "-p", "tcp", "--dport", "2201", "-j", "DROP")
    try:
        target = SSHTarget(host=ecs.address, port=2201, user="root", password=Secret("x"), use_agent=False,
                           connect_timeout=2, known_hosts=KnownHostsStore(tmp_path / "kh"))
        with pytest.raises(HostUnreachable, match="did not answer within 2 s"):
            await SSHTransport(target).connect()
    finally:
        ecs.exec("iptables", "-D", "INPUT", "-p", "tcp", "--dport", "2201", "-j", "DROP")


@pytest.fixture
def encrypted_key(ecs: TestHost, tmp_path: Path) -> Path:
    key = asyncssh.generate_private_key("ssh-ed25519")
    path = tmp_path / "id_locked"
    key.write_private_key(str(path), passphrase="open sesame")
    path.chmod(0o600)
    public = key.export_public_key().decode().strip()
    ecs.sh(f"echo '{public}' >> /home/{ecs.key_user}/.ssh/authorized_keys")
    yield path
    ecs.sh(f"sed -i '\\#{public.split()[1]}#d' /home/{ecs.key_user}/.ssh/authorized_keys")


async def test_passphrase_protected_key(ecs: TestHost, encrypted_key: Path, tmp_path: Path) -> None:
    def target(passphrase: str | None) -> SSHTarget:
        return SSHTarget(host=ecs.address, user=ecs.key_user, identity_file=encrypted_key, use_agent=False,
                         passphrase=Secret(passphrase) if passphrase else None,
                         known_hosts=trusting_store(ecs, tmp_path))

    with pytest.raises(AuthenticationFailed, match="it is encrypted: enter its passphrase"):
        await SSHTransport(target(None)).connect()
    with pytest.raises(AuthenticationFailed, match="wrong passphrase"):
        await SSHTransport(target("guess")).connect()
    async with SSHTransport(target("open sesame")) as t:
        assert (await t.run(Command("whoami"), check=True)).stdout == ecs.key_user


async def test_sudo_password_needed_wrong_and_right(ecs: TestHost, tmp_path: Path) -> None:
    def target(sudo: str | None) -> SSHTarget:
        return SSHTarget(host=ecs.address, user=ecs.sudo_user, password=Secret(ecs.sudo_password),
                         use_agent=False, sudo_password=Secret(sudo) if sudo else None,
                         known_hosts=trusting_store(ecs, tmp_path))

    async with SSHTransport(target(None)) as t:
        with pytest.raises(SudoError, match="needs a password"):
            await t.check_sudo()
    async with SSHTransport(target("wrong-one")) as t:
        with pytest.raises(SudoError, match="sudo password was refused"):
            await t.check_sudo()
    async with SSHTransport(target(ecs.sudo_password)) as t:
        await t.check_sudo()
        assert (await t.run(Command("whoami"), sudo=True, check=True)).stdout == "root"


async def test_non_sudoer_is_told_so(ecs: TestHost, tmp_path: Path) -> None:
    target = SSHTarget(host=ecs.address, user=ecs.key_user, identity_file=ecs.client_key.path, use_agent=False,
                       sudo_password=Secret("whatever"), known_hosts=trusting_store(ecs, tmp_path))
    async with SSHTransport(target) as t:
        with pytest.raises(SudoError, match="may not use sudo|password was refused"):
            await t.check_sudo()


async def test_ssh_config_alias_is_honoured(ecs: TestHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(
        f"Host my-ecs\n  HostName {ecs.address}\n  User {ecs.key_user}\n  IdentityFile {ecs.client_key.path}\n")
    monkeypatch.setenv("HOME", str(home))
    form = HostForm(host="my-ecs", user="root", auth="key", identity_file="")
    assert form.errors() == {}
    transport = form.transport(known_hosts=trusting_store(ecs, tmp_path))
    assert transport.target.host == ecs.address  # type: ignore[attr-defined]
    async with transport:
        assert (await transport.run(Command("whoami"), check=True)).stdout == ecs.key_user


async def test_a_known_host_whose_sshd_is_down_for_a_moment_is_waited_for(ecs: TestHost, tmp_path: Path) -> None:
    """sshd stopped (as in a restart), started again 3 s later: the connect waits, says so once, then works."""
    import asyncio

    from tests.sshutil import root_by_password

    transport = root_by_password(ecs, tmp_path)
    notes: list[str] = []
    transport.on_note = notes.append
    ecs.exec("systemctl", "stop", "ssh")  # (the test talks to the host by docker exec, not SSH)
    try:
        connecting = asyncio.ensure_future(transport.connect())
        await asyncio.sleep(3)
        assert not connecting.done(), connecting
        ecs.exec("systemctl", "start", "ssh")
        await asyncio.wait_for(connecting, 60)
        assert (await transport.run(Command("true"))).ok
        assert len(notes) == 1 and f"{ecs.address}:22 is not answering yet (connection refused)" in notes[0], notes
    finally:
        ecs.exec("systemctl", "start", "ssh", check=False)
        await transport.close()
