"""The transport interface, shared by SSH and this machine.

Commands are argument lists, joined with ``shlex.quote`` here and only here:
a host name, user name or path from the user can never become shell syntax.
A script regwiz writes itself is passed as ``shell(script, *args)``, where the
arguments reach the script as ``$1 ...``, quoted, never pasted into its text.

sudo never sees a password in argv or the environment: ``sudo -S`` reads it
from the command's stdin, and ``-k`` makes sudo ask every time, so a cached
sudo ticket can never make the password leak into the command's own input.
"""

from __future__ import annotations

import abc
import asyncio
import codecs
import shlex
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence

from app.events import EventKind, PlainLines, ScopedEmitter
from app.i18n import _
from app.redact import Secret

if TYPE_CHECKING:
    import asyncssh

    from app.hostlock import HostLock
    from app.transport.hostkeys import HostKeyUnknown

#: The most one read takes from a command's output (``pump``: a local command's pipes). A read hands over
#: whatever is there, up to this; a large read means few batches (each costs an event and a log write) when
#: output floods in. (SSH output comes a socket read's packets at a time: ssh._OutputProcess.)
CHUNK_SIZE = 256 * 1024


class TransportError(Exception):
    """A host could not be reached or used; the message says what to do."""


class SudoError(TransportError):
    pass


class AuthenticationFailed(TransportError):
    """The host would not let this user in, or regwiz could not use the key it was given."""


class LoginRefused(AuthenticationFailed):
    """The host refused the user's password or key (callers add advice by this type, not by its words)."""


@dataclass(frozen=True)
class Command:
    """An argument list, quoted for a POSIX shell when it is sent."""

    argv: tuple[str, ...]

    def __init__(self, *argv: str) -> None:
        object.__setattr__(self, "argv", tuple(str(a) for a in argv))

    def line(self) -> str:
        return shlex.join(self.argv)

    def __str__(self) -> str:
        return self.line()


def shell(script: str, *args: str) -> Command:
    """``sh -c SCRIPT regwiz ARGS...``: the script sees its arguments as $1..."""
    return Command("sh", "-c", script, "regwiz", *args)


def as_command(command: Command | Sequence[str]) -> Command:
    return command if isinstance(command, Command) else Command(*command)


@dataclass(frozen=True)
class CommandResult:
    command: str
    exit_status: int
    stdout: str
    stderr: str
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def check(self) -> "CommandResult":
        if not self.ok:
            raise CommandFailed(self)
        return self


class CommandFailed(TransportError):
    def __init__(self, result: CommandResult) -> None:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-5:]
        super().__init__(
            _("{command} exited with {status}").format(command=f"`{result.command}`", status=result.exit_status)
            + (": " + " / ".join(detail) if detail else "")
        )
        self.result = result


LineSink = Callable[[str, Sequence[str]], None]  # (stream name, lines)
#: What a command reads: nothing, bytes, or chunks streamed as they come (an image).
Stdin = bytes | AsyncIterable[bytes] | None


async def prepend(first: bytes, rest: Stdin) -> AsyncIterator[bytes]:
    """The sudo password line, then the command's own input."""
    yield first
    if isinstance(rest, bytes):
        yield rest
    elif rest is not None:
        async for chunk in rest:
            yield chunk


async def chunks_of(stdin: Stdin) -> AsyncIterator[bytes]:
    if isinstance(stdin, bytes):
        yield stdin
    elif stdin is not None:
        async for chunk in stdin:
            yield chunk


#: The bytes of a plain line (printable ASCII) and the newline between lines.
_PLAIN_BYTES = bytes(range(0x20, 0x7F)) + b"\n"


class LineSplitter:
    """Turns byte chunks into whole text lines; the tail waits for its newline.

    Each chunk is decoded and split once. The lines of a chunk that is printable ASCII and newlines only
    come back as ``PlainLines`` (one scan of its bytes), so that a log view need not check every line.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._tail = ""
        self._tail_plain = True  # the tail (and any bytes the decoder holds) are printable ASCII

    def feed(self, chunk: bytes) -> Sequence[str]:
        tail = self._tail
        text = self._decoder.decode(chunk)
        chunk_plain = not chunk.translate(None, _PLAIN_BYTES)
        if chunk_plain and self._tail_plain:
            # Printable ASCII, its tail too (so the decoder holds no bytes: they would not be ASCII): the whole
            # lines' text is cut once and kept beside the lines split from it (PlainLines.joined).
            end = text.rfind("\n")
            if end < 0:  # no newline yet: the tail grew
                self._tail = tail + text
                return []
            self._tail = text[end + 1:]
            return PlainLines.split(tail + text[:end] if tail else text[:end])
        lines = text.split("\n")
        if tail:
            lines[0] = tail + lines[0]  # (not tail + text: the chunk is not copied once more)
        self._tail = lines.pop()
        if not lines:  # no newline yet: the tail grew
            self._tail_plain = self._tail_plain and chunk_plain
            return lines
        # The new tail: the bytes after the last newline (any the decoder holds among them).
        self._tail_plain = chunk_plain or not chunk[chunk.rfind(b"\n") + 1:].translate(None, _PLAIN_BYTES)
        if b"\r" in chunk or "\r" in tail:  # CRLF output: per line; otherwise the list is already right
            return [line.rstrip("\r") for line in lines]
        return lines

    def flush(self) -> list[str]:
        text = self._tail + self._decoder.decode(b"", final=True)
        self._tail = ""
        self._tail_plain = True
        return [text.rstrip("\r")] if text else []


class OutputPump:
    """One output stream's bytes, as they come, into whole lines for the sink, a batch per ``feed``.

    One call per chunk, not per line: a log view can then take tens of
    thousands of lines a second (REFERENCE.md measured 56 s vs 0.33 s).

    ``keep`` gets the output as text pieces, each a batch's lines joined by "\n" (a plain chunk's text as
    the splitter cut it: no list of every line, no join of them at the end): ``"\n".join(keep)`` is the
    output's lines joined, as ``CommandResult.stdout`` holds them.
    """

    __slots__ = ("stream", "sink", "keep", "_splitter")

    def __init__(self, stream: str, sink: LineSink, keep: list[str] | None) -> None:
        self.stream, self.sink, self.keep = stream, sink, keep
        self._splitter = LineSplitter()

    def feed(self, chunk: bytes) -> None:
        lines = self._splitter.feed(chunk)
        if lines:
            self._give(lines)

    def finish(self) -> None:
        """The end of the output: its last line, if it had no newline."""
        rest = self._splitter.flush()
        if rest:
            self._give(rest)

    def _give(self, lines: Sequence[str]) -> None:
        if self.keep is not None:
            self.keep.append(lines.joined if isinstance(lines, PlainLines) else "\n".join(lines))
        self.sink(self.stream, lines)


async def pump(reader: Callable[[int], Awaitable[bytes]], stream: str, sink: LineSink,
               keep: list[str] | None) -> None:
    """Read a byte stream in chunks (``reader(CHUNK_SIZE)``, b"" at its end) through an ``OutputPump``."""
    output = OutputPump(stream, sink, keep)
    while True:
        chunk = await reader(CHUNK_SIZE)
        if not chunk:
            break
        output.feed(chunk)
    output.finish()


#: Asked about a host key not known yet: (the host's name, the unknown key and its fingerprint) -> trust it?
AskHostKey = Callable[[str, "HostKeyUnknown"], Awaitable[bool]]


class Transport(abc.ABC):
    """Runs commands on one host. Subclasses provide ``_execute``."""

    #: How the host is named in logs, e.g. ``root@203.0.113.10`` or ``this machine``.
    label: str = ""

    def __init__(self, sudo_password: Secret | None = None) -> None:
        self.sudo_password = sudo_password
        self._is_root: bool | None = None
        self._sudo_needs_password: bool | None = None
        #: app.hostlock's lock on this host, once a change took it.
        self.host_lock: HostLock | None = None
        #: True: a run of several steps holds the lock until close(); else each step releases it (the TUI
        #: keeps its connection open between steps, and must not block other runs meanwhile).
        self.keep_host_lock = False
        #: Where connecting says what it waits for (a host not answering yet, tried again): the caller's
        #: log and output, when it gives one.
        self.on_note: Callable[[str], None] | None = None

    # -- what each transport provides ---------------------------------------
    @abc.abstractmethod
    async def _execute(self, command_line: str, stdin: Stdin, sink: LineSink,
                       keep_output: bool, timeout: float | None) -> tuple[int, list[str], list[str]]:
        """Run one shell command line; return (exit status, stdout, stderr), each as text pieces: lines, or
        batches of lines joined by "\n" (`pump`'s ``keep``), so "\n".join(pieces) is the text."""

    async def connect(self) -> None:  # noqa: B027 (a no-op on purpose where there is nothing to open)
        """Open the connection (a no-op on this machine)."""

    def note(self, text: str) -> None:
        """Say what connecting waits for, where the caller asked (``on_note``)."""
        if self.on_note is not None:
            self.on_note(text)

    async def connect_trusting(self, ask: AskHostKey | None, *, name: str = "") -> None:
        """Connect; a host key not known yet is shown to ``ask`` (``name``, else the label, and the
        ``HostKeyUnknown`` with its fingerprint) and trusted (written to regwiz's known_hosts) only when
        it answers yes, then connected again. No ``ask``, or a no: ``HostKeyNotAccepted``, nothing
        written. A changed key is refused whatever ``ask`` would say (``HostKeyChanged`` from connect)."""
        from app.transport.hostkeys import HostKeyNotAccepted, HostKeyUnknown

        while True:
            try:
                await self.connect()
                return
            except HostKeyUnknown as unknown:
                if ask is None or not await ask(name or self.label, unknown):
                    raise HostKeyNotAccepted(name or self.label, unknown) from None
                await self.accept_host_key(unknown.key)

    async def accept_host_key(self, key: asyncssh.SSHKey) -> None:
        """Trust this host key from now on: only a transport with host keys (SSH) has one to accept."""
        raise TransportError(_("{host} has no host key to accept").format(host=self.label or _("this machine")))

    async def close(self) -> None:
        """Close the connection (and let go of the host's lock)."""
        await self.release_host_lock()

    async def release_host_lock(self) -> None:
        if self.host_lock is not None:
            await self.host_lock.release()

    def origin(self) -> str:
        """This machine's address as the host sees it, when there is one (the lock's info file says it)."""
        return ""

    async def __aenter__(self) -> "Transport":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the interface --------------------------------------------------------
    async def run(
        self,
        command: Command | Sequence[str],
        *,
        sudo: bool = False,
        stdin: Stdin = None,
        timeout: float | None = None,
        check: bool = False,
        emit: ScopedEmitter | None = None,
        on_lines: LineSink | None = None,
        keep_output: bool = True,
    ) -> CommandResult:
        """Run a command, streaming its output to ``emit`` and ``on_lines`` as it comes."""
        command = as_command(command)
        display = ("sudo " if sudo else "") + command.line()
        line = command.line()
        if sudo:
            line, password_line = await self._sudo_wrap(line)
            if password_line is not None:
                stdin = password_line + stdin if isinstance(stdin, bytes) else (
                    password_line if stdin is None else prepend(password_line, stdin))
        if emit is not None:
            emit(EventKind.COMMAND, display)

        def sink(stream: str, lines: Sequence[str]) -> None:
            if emit is not None:
                emit(EventKind.STDOUT if stream == "stdout" else EventKind.STDERR, lines)
            if on_lines is not None:
                on_lines(stream, lines)

        started = time.monotonic()
        try:
            status, out, err = await self._execute(line, stdin, sink, keep_output, timeout)
        except asyncio.TimeoutError:
            if emit is not None:
                emit(EventKind.ERROR, _("timed out after {seconds:g} s: {command}").format(
                    seconds=timeout, command=display))
            raise TransportError(_("{command} did not finish within {seconds:g} s").format(
                command=f"`{display}`", seconds=timeout)) from None
        result = CommandResult(display, status, "\n".join(out), "\n".join(err),
                               time.monotonic() - started)
        if emit is not None:
            emit(EventKind.EXIT, f"{status} ({result.duration:.2f} s)")
        return result.check() if check else result

    async def stream_lines(self, command: Command | Sequence[str], *, sudo: bool = False,
                           emit: ScopedEmitter | None = None) -> AsyncIterator[str]:
        """Yield a command's stdout line by line as it arrives; raise if it fails."""
        queue: asyncio.Queue[Sequence[str] | None] = asyncio.Queue()

        def on_lines(stream: str, lines: Sequence[str]) -> None:
            if stream == "stdout":
                queue.put_nowait(lines)

        async def runner() -> CommandResult:
            try:
                return await self.run(command, sudo=sudo, emit=emit, on_lines=on_lines, keep_output=False)
            finally:
                queue.put_nowait(None)

        task = asyncio.ensure_future(runner())
        try:
            while (batch := await queue.get()) is not None:
                for line in batch:
                    yield line
            result = await task
        finally:
            if not task.done():
                task.cancel()
        if not result.ok:
            raise CommandFailed(result)

    async def upload(self, data: bytes | AsyncIterable[bytes], path: str, *, mode: int = 0o644,
                     sudo: bool = False, emit: ScopedEmitter | None = None, size: int | None = None) -> None:
        """Write ``data`` to ``path`` atomically: a temporary file beside it, then rename.

        The temporary file is made with umask 077 and chmod-ed before the
        rename, so the file never exists with wider permissions than asked. The
        byte count is checked before the rename: a connection that drops midway
        ends the remote `cat` with an early end of input, and a short file must
        never replace the old one. A stream must say its ``size``.
        """
        if isinstance(data, bytes):
            size = len(data)
        elif size is None:
            raise ValueError("upload of a stream needs its size")
        if emit is not None:
            emit(EventKind.INFO, f"upload {size} bytes to {path} (mode {mode:04o})")
        await self.run(shell(ATOMIC_WRITE, path, f"{mode:04o}", str(size)), sudo=sudo, stdin=data, check=True)

    async def sudo(self, command: Command | Sequence[str], **kwargs: object) -> CommandResult:
        return await self.run(command, sudo=True, **kwargs)  # type: ignore[arg-type]

    # -- privileges -------------------------------------------------------------
    async def is_root(self) -> bool:
        if self._is_root is None:
            result = await self.run(Command("id", "-u"))
            self._is_root = result.ok and result.stdout.strip() == "0"
        return self._is_root

    async def sudo_needs_password(self) -> bool:
        """True when this user may sudo only with a password (root: False)."""
        if await self.is_root():
            return False
        if self._sudo_needs_password is None:
            probe = await self._execute("sudo -n true", None, _discard, True, 30)
            self._sudo_needs_password = probe[0] != 0
        return self._sudo_needs_password

    async def check_sudo(self) -> None:
        """Prove sudo works with what we have, or raise a SudoError that says why."""
        if not await self.sudo_needs_password():
            return
        if not self.sudo_password:
            raise SudoError(_("sudo on this host needs a password: enter the sudo password"))
        status, out, err = await self._execute(
            "sudo -S -k -p '' true", self.sudo_password.reveal().encode() + b"\n", _discard, True, 30
        )
        if status != 0:
            text = "\n".join(err + out)
            if "not in the sudoers" in text or "not allowed" in text:
                raise SudoError(_("this user may not use sudo: log in as root or as a user in the sudo group"))
            raise SudoError(_("the sudo password was refused: check it and try again"))

    async def _sudo_wrap(self, line: str) -> tuple[str, bytes | None]:
        if await self.is_root():
            return line, None
        if await self.sudo_needs_password():
            if not self.sudo_password:
                raise SudoError(_("sudo on this host needs a password: enter the sudo password"))
            wrapped = "sudo -S -k -p '' -- sh -c " + shlex.quote(line)
            return wrapped, self.sudo_password.reveal().encode() + b"\n"
        return "sudo -n -- sh -c " + shlex.quote(line), None


# Write stdin to $1 with mode $2, atomically, once all $3 bytes arrived: a
# temporary file beside it, then a rename. The temporary file goes on any exit, a signal included (a dropped SSH
# session sends SIGHUP); an existing file keeps its owner (best effort: busybox
# chown may lack --reference); a full disk fails `cat` and leaves the old file.
ATOMIC_WRITE = (
    'set -e; umask 077; tmp="$1.regwiz-tmp.$$"; '
    'trap \'rm -f "$tmp"\' EXIT; trap \'exit 1\' HUP INT TERM PIPE; '
    'cat > "$tmp"; got=$(wc -c < "$tmp"); '
    'if [ "$got" -ne "$3" ]; then echo "regwiz: received $got of $3 bytes; $1 left as it was" >&2; exit 1; fi; '
    'chmod "$2" "$tmp"; '
    'if [ -e "$1" ]; then chown --reference="$1" "$tmp" 2>/dev/null || true; fi; '
    'mv -f "$tmp" "$1"; trap - EXIT'
)


def _discard(stream: str, lines: Sequence[str]) -> None:
    return None
