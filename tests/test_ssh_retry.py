"""Connecting to a known host that is restarting: which failures are tried again, for how long, said how.

asyncssh.connect is replaced by a stand-in that fails the way asyncssh 2.24's connect does (the
OSError of loop.create_connection, asyncssh.ConnectionLost when sshd drops the connection before its
banner, asyncio's TimeoutError for connect_timeout, asyncssh.PermissionDenied for a refused login):
the policy is regwiz's own, the real failures are in tests/test_connect_testbed.py and
tests/test_faults_testbed.py (a host rebooted right before `regwiz clients`).
"""

from __future__ import annotations

import asyncio
import errno
import re
import socket
import time
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from app.redact import Secret
from app.transport.base import LoginRefused
from app.transport.hostkeys import HostKeyChanged, HostKeyUnknown, KnownHostsStore
from app.transport.ssh import HostUnreachable, SSHTarget, SSHTransport, is_transient, retry_delays

HOST, PORT = "203.0.113.10", 22


def refused() -> OSError:
    return ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed")


def reset() -> OSError:
    return ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")


def no_route() -> OSError:
    return OSError(errno.EHOSTUNREACH, "No route to host")


@pytest.mark.parametrize(("error", "transient"), [
    (refused(), True),
    (reset(), True),
    (no_route(), True),
    (OSError(errno.ENETUNREACH, "Network is unreachable"), True),
    (asyncssh.ConnectionLost("Connection lost"), True),
    (asyncssh.PermissionDenied("Permission denied"), False),
    (asyncssh.HostKeyNotVerifiable("Host key is not trusted"), False),
    (asyncssh.ProtocolError("Invalid SSH identification string"), False),
    (asyncssh.KeyImportError("Invalid private key"), False),
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), False),
    (FileNotFoundError(errno.ENOENT, "No such file"), False),
    (asyncio.TimeoutError(), False),
], ids=["refused", "reset", "host-unreachable", "net-unreachable", "dropped-before-banner", "login-refused",
        "host-key", "protocol", "key-file", "no-such-name", "no-key-file", "silent-timeout"])
def test_which_failures_are_tried_again(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_a_timeout_is_tried_again_only_once_the_host_showed_it_restarts() -> None:
    # A silent host costs one time-out; one that refused a moment ago may accept before it answers.
    assert not is_transient(asyncio.TimeoutError())
    assert is_transient(asyncio.TimeoutError(), restarting=True)
    assert not is_transient(asyncssh.PermissionDenied("no"), restarting=True)
    assert not is_transient(socket.gaierror(socket.EAI_NONAME, "x"), restarting=True)


def test_the_waits_double_up_to_a_cap() -> None:
    delays = retry_delays(0.5, 5.0)
    assert [next(delays) for _n in range(7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


@pytest.fixture
def known(tmp_path: Path) -> KnownHostsStore:
    store = KnownHostsStore(tmp_path / "known_hosts")
    store.accept(HOST, PORT, asyncssh.generate_private_key("ssh-ed25519").convert_to_public())
    return store


class FakeConnect:
    """asyncssh.connect failing with the given errors in turn (None: connected, a sentinel connection)."""

    def __init__(self, *errors: BaseException | None) -> None:
        self.errors = list(errors)
        self.calls: list[float] = []
        self.connection = object()

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(time.monotonic())
        error = self.errors[min(len(self.calls), len(self.errors)) - 1]  # the last one, again and again
        if error is not None:
            raise error
        return self.connection


def transport(store: KnownHostsStore, patience: float = 60.0) -> tuple[SSHTransport, list[str]]:
    t = SSHTransport(SSHTarget(HOST, PORT, "root", password=Secret("pw"), use_agent=False, known_hosts=store,
                               connect_timeout=2.5, restart_patience=patience))
    notes: list[str] = []
    t.on_note = notes.append
    return t, notes


async def test_a_refusing_host_is_tried_again_until_it_answers(known: KnownHostsStore,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeConnect(refused(), reset(), asyncssh.ConnectionLost("lost"), None)
    monkeypatch.setattr(asyncssh, "connect", fake)
    t, notes = transport(known)
    started = time.time()
    await t.connect()
    assert t.connection is fake.connection and len(fake.calls) == 4
    gaps = [b - a for a, b in zip(fake.calls, fake.calls[1:], strict=False)]
    assert gaps[0] >= 0.45 and gaps[1] >= 0.95 and gaps[2] >= 1.95, gaps  # backing off
    assert len(notes) == 1, notes  # said once, not per attempt
    found = re.fullmatch(rf"{HOST}:{PORT} is not answering yet \(connection refused\); it may be restarting: "
                         r"trying again until (\d\d):(\d\d):(\d\d)", notes[0])
    assert found, notes[0]
    until = time.strftime("%H:%M:%S", time.localtime(started + 60))
    assert abs(_seconds(found.group(0)[-8:]) - _seconds(until)) <= 2, (notes[0], until)


def _seconds(clock: str) -> int:
    h, m, s = (int(part) for part in clock.split(":"))
    return h * 3600 + m * 60 + s


async def test_a_host_that_keeps_refusing_fails_after_the_patience(known: KnownHostsStore,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeConnect(refused())
    monkeypatch.setattr(asyncssh, "connect", fake)
    t, notes = transport(known, patience=1.2)
    started = time.monotonic()
    with pytest.raises(HostUnreachable) as caught:
        await t.connect()
    took = time.monotonic() - started
    # 0 s, 0.5 s; the next wait (1 s) would end after the patience: given up then, not later.
    assert len(fake.calls) == 2 and 0.45 <= took < 1.2, (fake.calls, took)
    assert str(caught.value) == (f"nothing listens on {HOST}:{PORT}: check the port, and that sshd runs there "
                                 "(tried again for 1.2 s)")
    assert len(notes) == 1


@pytest.mark.parametrize("error", [
    asyncssh.PermissionDenied("Permission denied"),
    socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
    asyncio.TimeoutError(),
], ids=["login-refused", "no-such-name", "silent-timeout"])
async def test_a_lasting_failure_is_explained_at_once(error: BaseException, known: KnownHostsStore,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeConnect(error)
    monkeypatch.setattr(asyncssh, "connect", fake)
    t, notes = transport(known)
    started = time.monotonic()
    with pytest.raises((LoginRefused, HostUnreachable)) as caught:
        await t.connect()
    assert len(fake.calls) == 1 and time.monotonic() - started < 0.4 and notes == []
    assert "tried again" not in str(caught.value)
    if isinstance(error, asyncio.TimeoutError):
        assert "did not answer within 2.5 s" in str(caught.value)  # its own time-out, once (a dead client)


async def test_a_login_refused_once_sshd_is_back_is_not_tried_again(known: KnownHostsStore,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeConnect(refused(), asyncssh.PermissionDenied("Permission denied"))
    monkeypatch.setattr(asyncssh, "connect", fake)
    t, notes = transport(known)
    with pytest.raises(LoginRefused) as caught:
        await t.connect()
    assert len(fake.calls) == 2 and len(notes) == 1
    assert str(caught.value) == f"root@{HOST} refused the login: check the user name and password"


async def test_a_changed_host_key_is_refused_without_trying_again(known: KnownHostsStore,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeConnect(refused(), asyncssh.HostKeyNotVerifiable("Host key is not trusted"))
    monkeypatch.setattr(asyncssh, "connect", fake)

    async def no_key(*args: Any, **kwargs: Any) -> None:
        return None

    monkeypatch.setattr(asyncssh, "get_server_host_key", no_key)
    t, _notes = transport(known)
    with pytest.raises(HostKeyChanged):
        await t.connect()
    assert len(fake.calls) == 2


async def test_a_host_met_for_the_first_time_is_not_tried_again(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # No trusted key: it never answered SSH here; a refusal is most likely a wrong port, said at once.
    calls: list[float] = []

    async def refusing(*args: Any, **kwargs: Any) -> None:
        calls.append(time.monotonic())
        raise refused()

    monkeypatch.setattr(asyncssh, "get_server_host_key", refusing)
    monkeypatch.setattr(asyncssh, "connect", FakeConnect(AssertionError("never called")))
    t, notes = transport(KnownHostsStore(tmp_path / "empty"))
    with pytest.raises(HostUnreachable, match="nothing listens on"):
        await t.connect()
    assert len(calls) == 1 and notes == []


async def test_an_unknown_key_is_still_asked_about(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()

    async def offering(*args: Any, **kwargs: Any) -> asyncssh.SSHKey:
        return key

    monkeypatch.setattr(asyncssh, "get_server_host_key", offering)
    t, _notes = transport(KnownHostsStore(tmp_path / "empty"))
    with pytest.raises(HostKeyUnknown):
        await t.connect()


async def test_a_headless_run_says_it_waits_in_its_log_and_its_json(known: KnownHostsStore,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import json

    from app.headless import Output, Run

    monkeypatch.setattr(asyncssh, "connect", FakeConnect(refused(), None))
    out = io.StringIO()
    run = Run(Output(json_mode=True, stream=out), yes=True)
    t, _notes = transport(known)
    await run.connect(t, "web1")
    [record] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert record["type"] == "info" and record["host"] == "web1"
    assert record["message"].startswith(f"{HOST}:{PORT} is not answering yet (connection refused)")
    assert record["message"] in run.logs.log_text("credentials", "web1")

    text = io.StringIO()
    monkeypatch.setattr(asyncssh, "connect", FakeConnect(refused(), None))
    t, _notes = transport(known)
    await Run(Output(json_mode=False, stream=text), yes=True).connect(t, "web1")
    [line] = text.getvalue().splitlines()  # once, as a live line
    assert line.startswith(f"[web1] warning: {HOST}:{PORT} is not answering yet"), line
