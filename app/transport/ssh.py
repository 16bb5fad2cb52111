"""The SSH transport, over asyncssh, with host-key checking always on."""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, cast

import asyncssh

from app.i18n import _
from app.redact import Secret
# (AuthenticationFailed and LoginRefused live with the base: the engine tells them apart without asyncssh)
from app.transport.base import (AuthenticationFailed, LineSink, LoginRefused, OutputPump, Stdin, Transport,
                                TransportError, chunks_of)
from app.transport.hostkeys import HostKeyChanged, HostKeyUnknown, KnownHostsStore


# The key type OpenSSH's client would show first, so fingerprints match what
# `ssh` and cloud consoles print (asyncssh alone may pick RSA).
PREFERRED_HOST_KEY_ALGS = (
    "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa",
)




def _encryption_algs() -> list[str]:
    """asyncssh's ciphers, AES-GCM first (chacha20-poly1305 is asyncssh's first choice).

    Both are sound; asyncssh's chacha20-poly1305 makes three cipher objects per
    packet in Python, AES-GCM one call (AES-NI), which shows when a command
    prints hundreds of thousands of lines. Every other cipher stays on offer.
    """
    from asyncssh.encryption import get_default_encryption_algs

    names = [alg.decode("ascii") for alg in get_default_encryption_algs()]
    gcm = [name for name in ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com") if name in names]
    return gcm + [name for name in names if name not in gcm]


class _OutputProcess(asyncssh.SSHClientProcess[bytes]):
    """A remote command whose output goes straight to its ``OutputPump``s, not through asyncssh's stream reader.

    asyncssh hands each SSH packet (a few KB) to ``data_received``; the stream reader would buffer them for a
    ``read`` in another task, woken once per read. Here the packets that arrive together (one read from the
    socket, dozens of packets while output floods in) wait in a list, and one callback (``call_soon``, after
    asyncssh has handled them all) splits them as one chunk: the same batches ``pump`` made, without the
    reader's buffer, lock, future and task switch per read. Standard input is asyncssh's as before.
    """

    outputs: dict[int | None, OutputPump]
    _pending: list[tuple[int | None, bytes]]
    _scheduled: bool = False
    error: BaseException | None = None  # what a sink raised (raised again when the command ends)

    eof = False  # the command's output ended (EOF came)
    lost: Exception | None = None  # the connection dropped under the session (asyncssh's reason)

    def eof_received(self) -> bool:
        self.eof = True
        return super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc
        super().connection_lost(exc)

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._pending.append((datatype, data))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.deliver)

    def deliver(self) -> None:
        """Every packet received so far into its stream's pump, each stream's in one chunk."""
        self._scheduled = False
        pending, self._pending = self._pending, []
        if self.error is not None or not pending:
            return
        try:
            if len(pending) == 1 or all(datatype == pending[0][0] for datatype, _data in pending):
                self.outputs[pending[0][0]].feed(b"".join([data for _datatype, data in pending]))
            else:  # stdout and stderr both: each stream's bytes in order
                for stream in dict.fromkeys(datatype for datatype, _data in pending):
                    self.outputs[stream].feed(b"".join([data for datatype, data in pending if datatype == stream]))
        except BaseException as exc:  # noqa: BLE001 - raised again in _execute, where the command is awaited
            self.error = exc

    def discard(self) -> None:
        """No more output to the pumps (the command timed out or was cancelled)."""
        self._pending = []
        self.outputs = {}
        self.data_received = lambda data, datatype: None  # type: ignore[method-assign]

    def finish(self) -> None:
        """The end of the output: what is still waiting, then each stream's last line without a newline."""
        self.deliver()
        for output in self.outputs.values():
            output.finish()
        if self.error is not None:
            raise self.error


@dataclass
class SSHTarget:
    host: str
    port: int = 22
    user: str | None = None
    password: Secret | None = None
    identity_file: Path | None = None
    passphrase: Secret | None = None
    use_agent: bool = True
    sudo_password: Secret | None = None
    connect_timeout: float = 15.0
    known_hosts: KnownHostsStore = field(default_factory=KnownHostsStore.default)
    #: How long a known host that refuses or drops the connection is tried again (it may be restarting).
    restart_patience: float = 60.0

    @property
    def label(self) -> str:
        who = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port != 22 else ""
        return f"{who}{self.host}{port}"


class HostUnreachable(TransportError):
    pass


#: Errors a host gives for a while as it restarts: nothing listens on the port yet, sshd dropped the
#: connection before its banner (starting, or MaxStartups), no route while its interface comes up.
TRANSIENT_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EHOSTUNREACH,
                              errno.ENETUNREACH, errno.EHOSTDOWN})


def is_transient(exc: BaseException, *, restarting: bool = False) -> bool:
    """Is this connect failure worth trying again, for a host that answered SSH before?

    Refused, reset before the banner, no route: yes. A time-out only once the host showed it is
    restarting (``restarting``: an earlier attempt of this connect failed in one of those ways), as
    a booting sshd may accept before it answers; a host that never answers costs one time-out, not
    the whole patience (one dead client among many). Never a login refused, a key that cannot be
    read, a host key (checked before this), a name that does not resolve.
    """
    if isinstance(exc, asyncssh.ConnectionLost):  # (its siblings, e.g. PermissionDenied, are not)
        return True
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return restarting
    if isinstance(exc, socket.gaierror):
        return False
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS


def retry_delays(first: float = 0.5, most: float = 5.0) -> Iterator[float]:
    """The waits between attempts: doubling from ``first`` up to ``most``."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, most)


def _reason(exc: BaseException) -> str:
    """A transient failure in a few words."""
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return _("no answer in time")
    if isinstance(exc, asyncssh.ConnectionLost) or (isinstance(exc, OSError) and exc.errno in (
            errno.ECONNRESET, errno.ECONNABORTED)):
        return _("the connection was dropped")
    if isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED:
        return _("connection refused")
    return _("no route to it")


class SSHTransport(Transport):
    def __init__(self, target: SSHTarget) -> None:
        super().__init__(target.sudo_password)
        self.target = target
        self.label = target.label
        self._conn: asyncssh.SSHClientConnection | None = None
        self._reconnecting: asyncio.Future[None] | None = None  # the new connection after the last one died

    @property
    def connection(self) -> asyncssh.SSHClientConnection:
        if self._conn is None:
            raise TransportError(f"not connected to {self.label}")
        return self._conn

    def _auth_options(self) -> dict[str, object]:
        t = self.target
        options: dict[str, object] = {}
        if t.user:
            options["username"] = t.user
        if t.password:
            options["password"] = t.password.reveal()
        if t.identity_file is not None:
            options["client_keys"] = [str(t.identity_file.expanduser())]
            if t.passphrase:
                options["passphrase"] = t.passphrase.reveal()
        elif t.password:
            options["client_keys"] = None  # password login: do not offer stray keys
        if not t.use_agent:
            options["agent_path"] = None
        return options

    async def connect(self) -> None:
        if self._conn is not None:
            return
        t = self.target
        trusted = t.known_hosts.trusted_keys(t.host, t.port)
        if not trusted:
            key = await self._fetch_host_key()
            assert key is not None  # (not quiet: no key at all raised already)
            raise HostKeyUnknown(t.host, t.port, key)
        # Its key is trusted: it answered SSH on this port before. Refused or dropped now, it is most
        # likely restarting (a reboot, sshd restarted): tried again for a while, said so, then explained.
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        delays = retry_delays()
        while True:
            try:
                self._conn = await asyncssh.connect(
                    t.host, t.port, known_hosts=t.known_hosts.load(),
                    connect_timeout=t.connect_timeout, encryption_algs=_encryption_algs(),
                    **self._auth_options(),  # type: ignore[arg-type]
                )
                return
            except asyncssh.HostKeyNotVerifiable:
                key = await self._fetch_host_key(quiet=True)
                raise HostKeyChanged(t.host, t.port, key, str(t.known_hosts.source_of(t.host, t.port))) from None
            except Exception as exc:  # noqa: BLE001 - translated into advice below
                if not is_transient(exc, restarting=deadline is not None) or t.restart_patience <= 0:
                    raise self._explain(exc) from None
                delay = next(delays)
                if deadline is None:
                    deadline = loop.time() + t.restart_patience
                    until = time.strftime("%H:%M:%S", time.localtime(time.time() + t.restart_patience))
                    self.note(_("{where} is not answering yet ({reason}); it may be restarting: trying again "
                                "until {until}").format(where=f"{t.host}:{t.port}", reason=_reason(exc),
                                                        until=until))
                if loop.time() + delay > deadline:
                    raise self._explain(exc, tried=True) from None
                await asyncio.sleep(delay)

    async def accept_host_key(self, key: asyncssh.SSHKey) -> None:
        self.target.known_hosts.accept(self.target.host, self.target.port, key)

    async def _fetch_host_key(self, quiet: bool = False) -> asyncssh.SSHKey | None:
        t = self.target
        try:
            key = await asyncio.wait_for(
                asyncssh.get_server_host_key(t.host, t.port, server_host_key_algs=PREFERRED_HOST_KEY_ALGS),
                t.connect_timeout)
        except Exception as exc:  # noqa: BLE001
            if quiet:
                return None
            raise self._explain(exc) from None
        if key is None and not quiet:
            raise TransportError(_("{host} offered no host key").format(host=self.label))
        return key

    def _explain(self, exc: BaseException, tried: bool = False) -> TransportError:
        """The error in words a user can act on (``tried``: after trying again for the patience)."""
        error = self._explain_once(exc)
        if tried:
            error = type(error)(str(error) + " " + _("(tried again for {seconds:g} s)").format(
                seconds=self.target.restart_patience))
        return error

    def _explain_once(self, exc: BaseException) -> TransportError:
        t = self.target
        where = f"{t.host}:{t.port}"
        if isinstance(exc, asyncssh.PermissionDenied):
            user = t.user or _("the user")
            if t.password:
                return LoginRefused(_("{user}@{host} refused the login: check the user name and password").format(
                    user=user, host=t.host))
            return LoginRefused(_("{user}@{host} refused the login: check the user name and key (or that the key "
                                  "is in the user's authorized_keys)").format(user=user, host=t.host))
        if isinstance(exc, (asyncssh.KeyImportError, asyncssh.KeyEncryptionError)):
            return AuthenticationFailed(
                _("could not read the key {path}: {reason}").format(
                    path=t.identity_file,
                    reason=_("wrong passphrase") if t.passphrase else _("it is encrypted: enter its passphrase"))
            )
        if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
            return HostUnreachable(_("{where} did not answer within {seconds:g} s: check the address, and that a "
                                     "firewall or security group lets port {port} in").format(
                                         where=where, seconds=t.connect_timeout, port=t.port))
        if isinstance(exc, ConnectionRefusedError):
            return HostUnreachable(_("nothing listens on {where}: check the port, and that sshd runs there").format(
                where=where))
        if isinstance(exc, socket.gaierror):
            return HostUnreachable(_("the name {name} does not resolve: check the address").format(name=repr(t.host)))
        if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return HostUnreachable(_("{host} is unreachable from this machine: check the address and network").format(
                host=t.host))
        if isinstance(exc, FileNotFoundError):
            return AuthenticationFailed(_("the key file {path} does not exist").format(path=t.identity_file))
        if isinstance(exc, asyncssh.Error):
            return TransportError(_("SSH to {where} failed: {reason}").format(where=where, reason=exc.reason))
        return TransportError(_("SSH to {where} failed: {reason}").format(where=where, reason=exc))

    def origin(self) -> str:
        address = self._conn.get_extra_info("sockname") if self._conn is not None else None
        return str(address[0]) if address else ""  # this machine's address, as the host sees it

    async def close(self) -> None:
        await self.release_host_lock()
        if self._conn is not None:
            self._conn.close()
            await self._conn.wait_closed()
            self._conn = None

    async def _execute(self, command_line: str, stdin: Stdin, sink: LineSink,
                       keep_output: bool, timeout: float | None) -> tuple[int, list[str], list[str]]:
        if self._conn is not None and self._conn.is_closed():
            # The last session died (network, sshd restarted, host rebooted): the next
            # command opens a new one, so that running a failed step again just works.
            self._conn = None
            self._reconnecting = asyncio.ensure_future(self.connect())
        reconnecting = self._reconnecting
        if self._conn is None and reconnecting is not None:
            # Every command that found it closed (a step's reads run together) waits for the one new connection.
            try:
                await asyncio.shield(reconnecting)
            finally:
                if reconnecting.done() and self._reconnecting is reconnecting:
                    self._reconnecting = None
        out: list[str] | None = [] if keep_output else None
        err: list[str] = []
        outputs = {None: OutputPump("stdout", sink, out),
                   asyncssh.EXTENDED_DATA_STDERR: OutputPump("stderr", sink, err)}

        def factory() -> _OutputProcess:
            process = _OutputProcess()
            process.outputs, process._pending = outputs, []
            return process

        # This command's connection: another command may find it closed meanwhile and open the next one.
        conn = self.connection
        try:
            _chan, session = await conn.create_session(factory, command_line, encoding=None)
            proc = cast(_OutputProcess, session)
        except (asyncssh.Error, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(exc, (asyncssh.ConnectionLost, asyncssh.DisconnectError, ConnectionError)) \
                    or conn.is_closed():
                raise TransportError(_("the connection to {host} was lost ({reason})").format(
                    host=self.label, reason=reason)) from None
            raise TransportError(_("the connection to {host} failed: {reason}").format(
                host=self.label, reason=reason)) from None

        async def feed() -> None:
            async for chunk in chunks_of(stdin):
                proc.stdin.write(chunk)
                await proc.stdin.drain()  # flow control: never hold a whole image in memory
            proc.stdin.write_eof()

        async def work() -> int:
            # Until the channel closes (the command ended, or the connection was lost: nothing else would wake
            # a feed waiting for its next chunk), or the input fails (its error is the command's).
            feeding = asyncio.ensure_future(feed())
            closing = asyncio.ensure_future(proc.wait_closed())
            try:
                await asyncio.wait((feeding, closing), return_when=asyncio.FIRST_COMPLETED)
                if feeding.done():
                    feeding.result()
                    await closing
            finally:
                feeding.cancel()  # (no-ops once done)
                closing.cancel()
            proc.finish()  # (all output has come once the channel closed)
            if proc.lost is not None and not proc.eof:  # (as asyncssh's stream reader raised it)
                raise proc.lost
            if proc.exit_status is None and proc.exit_signal is None and conn.is_closed():
                raise ConnectionError("the session closed before the command finished")
            return proc.exit_status if proc.exit_status is not None else 255

        try:
            return await asyncio.wait_for(work(), timeout), out or [], err
        except (asyncio.TimeoutError, asyncio.CancelledError):
            proc.discard()  # (output still arriving is not shown after the command's error)
            proc.close()
            raise
        except (asyncssh.Error, ConnectionError, BrokenPipeError) as exc:
            raise TransportError(_("the connection to {host} was lost: {reason}").format(
                host=self.label, reason=exc)) from None
