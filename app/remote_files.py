"""Changing files on a host the safe way: diff first, backup, atomic write, restore.

Backups go to /var/backups/regwiz/<run stamp>/<original path>, not beside the
file: a folder such as /etc/network/interfaces.d or a certs.d tree would read a
backup placed next to the original as live configuration.
"""

from __future__ import annotations

import base64
import contextlib
import difflib
import hashlib
import shlex
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, AsyncIterator, Sequence

from app.i18n import _
from app.events import EventKind, ScopedEmitter
from app.transport import Command, CommandFailed, CommandResult, Transport, TransportError, shell
from app.transport.base import ATOMIC_WRITE

if TYPE_CHECKING:
    from app.facts import Reply

BACKUP_ROOT = "/var/backups/regwiz"
USER_BACKUP_ROOT = "~/.local/state/regwiz/backups"  # without sudo: the user's own


def unified_diff(path: str, old: str | None, new: str | None) -> str:
    before = (old or "").splitlines(keepends=True)
    after = (new or "").splitlines(keepends=True)
    lines = difflib.unified_diff(
        before, after,
        fromfile=f"{path} (current)" if old is not None else "/dev/null",
        tofile=f"{path} (new)" if new is not None else "/dev/null",
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return text


@dataclass(frozen=True)
class FileChange:
    """One file's planned change: its content now (None: absent) and after."""

    path: str
    old: str | None
    new: str | None
    mode: int = 0o644
    #: Keys, password hashes, cloud credentials: the diff names the file only.
    sensitive: bool = False
    #: sha256 of the file as read when planned (None: it was absent); apply refuses when it differs.
    #: Taken from ``old`` when not given (a saved plan gives it: a sensitive file's text is not saved).
    before_sha256: str | None = None

    def __post_init__(self) -> None:
        if self.before_sha256 is None and self.old is not None:
            object.__setattr__(self, "before_sha256", sha256_text(self.old))

    @property
    def after_sha256(self) -> str | None:
        return None if self.new is None else sha256_text(self.new)

    @property
    def changes_anything(self) -> bool:
        return self.old != self.new

    def diff(self) -> str:
        if self.sensitive:
            what = "created" if self.old is None else "removed" if self.new is None else "changed"
            return f"--- {self.path}\n+++ {self.path}\n@@ {what} (content not shown: it holds secrets) @@\n"
        return unified_diff(self.path, self.old, self.new)


def sha256_text(text: str) -> str:
    """The digest of a file's text as regwiz reads and writes it (UTF-8)."""
    return hashlib.sha256(text.encode()).hexdigest()


# For each (path, digest) pair, "-" for a file that was absent: print the path of every file that
# is no longer as planned. One command for all of a step's files: nothing is changed in between.
_UNCHANGED = (
    'while [ $# -ge 2 ]; do p=$1; d=$2; shift 2; '
    'if [ "$d" = - ]; then if [ -e "$p" ]; then echo "$p"; fi; '
    'elif [ ! -e "$p" ]; then echo "$p"; '
    'else s=$(sha256sum < "$p") || exit 4; if [ "${s%% *}" != "$d" ]; then echo "$p"; fi; fi; done'
)


async def changed_since_planned(transport: Transport, changes: list[FileChange], sudo: bool = True) -> list[str]:
    """The planned files that are no longer as they were read at plan time, in one remote command."""
    pairs = [(c.path, c.before_sha256 or "-") for c in changes if c.changes_anything]
    if not pairs:
        return []
    result = await transport.run(shell(_UNCHANGED, *(x for pair in pairs for x in pair)), sudo=sudo, check=True)
    return [line for line in result.stdout.splitlines() if line.strip()]


@dataclass
class Backup:
    path: str
    backup_path: str | None  # None: the file did not exist before
    #: sha256 of the file before the change, when known: a backup that was never made (the write's
    #: command cut off before its copy) leaves the file as it was, which restore and its check accept.
    before_sha256: str | None = None


# Back up (keeping mode and owner) and replace a file in one command. $1 path, $2 the backup's path
# ("" for a file planned absent), $3 the backup root, $4 the mode of a new file, $5 the file's digest
# as planned ("" if not known), $6 "write" (the new text on stdin, $7 its byte count) or "remove".
# A file that is not as planned (there or not, its digest) is refused (exit 5) before anything
# changes; the new text goes to a temporary file beside it, renamed over it (ATOMIC_WRITE).
_REPLACE = (
    'p=$1; b=$2; r=$3; m=$4; d=$5; what=$6; n=${7:-0}; '
    'if [ -z "$b" ] && [ -e "$p" ]; then echo "regwiz: $p exists, it was planned absent; not changed" >&2; exit 5; fi; '
    'if [ -n "$b" ]; then '
    'if [ ! -e "$p" ]; then echo "regwiz: $p is gone since it was planned; not changed" >&2; exit 5; fi; '
    'if [ -n "$d" ]; then s=$(sha256sum < "$p") || exit 1; if [ "${s%% *}" != "$d" ]; then '
    'echo "regwiz: $p changed since it was planned; not changed" >&2; exit 5; fi; fi; '
    'mkdir -p "$(dirname "$b")" && chmod 700 "$r" && cp -a -- "$p" "$b" || exit 1; '
    'k=$(stat -c %a "$p") && [ "$k" != 0 ] && m=$k; fi; '
    'if [ "$what" = remove ]; then exec rm -f -- "$p"; fi; '
    'mkdir -p -- "$(dirname "$p")" || exit 1; set -- "$p" "$m" "$n"; '
)


# Several files in one command (RemoteFiles.write_all): $1 a shell line run first (folders to make), then
# 7 arguments per file as _REPLACE takes them. Each file's text comes on stdin as one line of base64, read
# with `read` (a byte at a time from a pipe: never past its line, as `head -c` may), in a subshell of its
# own so that its exits and traps are its own; "wrote N" on stdout after each file N (from 0).
_LINE_WRITE = ATOMIC_WRITE.replace('cat > "$tmp"', 'IFS= read -r l; printf %s "$l" | base64 -d > "$tmp"')
assert _LINE_WRITE != ATOMIC_WRITE
_REPLACE_MANY = (
    'eval "$1" || exit 1; shift; i=0; '
    'while [ $# -ge 7 ]; do (' + _REPLACE + _LINE_WRITE + ') || exit $?; echo "wrote $i"; i=$((i+1)); shift 7; done'
)
#: Beyond this many bytes in all, write_all writes file by file (`read` takes a byte at a time).
WRITE_ALL_MAX = 256 * 1024


class FileNotAsPlanned(CommandFailed):
    """A write refused before any change: the file is not as it was planned (there or not, or its text)."""

    def __init__(self, result: CommandResult, path: str) -> None:
        super().__init__(result)
        self.path = path


# Each file's text as one line: "+" and its base64, or "-" for a file that is absent.
_READ_MANY = (
    'for p do if [ -e "$p" ]; then b=$(base64 < "$p") || exit 4; printf "+%s\\n" "$(printf %s "$b" | tr -d "\\n")"; '
    'else echo -; fi; done'
)
# Put a backup back (atomically), or remove a file that was new. $1 the backup ("" for none), $2 the
# file, $3 its digest before (or ""): a backup never made means the change never started, which
# the file's digest must confirm.
_RESTORE = (
    'b=$1; p=$2; d=$3; '
    'if [ -z "$b" ]; then exec rm -f -- "$p"; fi; '
    'if [ -e "$b" ]; then cp -a -- "$b" "$p.regwiz-restore" && exec mv -f -- "$p.regwiz-restore" "$p"; fi; '
    'if [ -n "$d" ] && [ -e "$p" ]; then s=$(sha256sum < "$p") && [ "${s%% *}" = "$d" ] && exit 0; fi; '
    'echo "regwiz: no backup $b, and $p is not as it was" >&2; exit 1'
)


@dataclass
class RemoteFiles:
    """Reads and writes files on one host with sudo, keeping backups to restore."""

    transport: Transport
    emit: ScopedEmitter | None = None
    #: False for files of the user's own (Docker Desktop's ~/.docker).
    sudo: bool = True
    stamp: str = field(default_factory=lambda: time.strftime("%Y%m%dT%H%M%S"))
    backups: list[Backup] = field(default_factory=list)
    _user_root: str | None = field(default=None, repr=False)
    _prefetched: dict[str, str | None] = field(default_factory=dict, repr=False)

    async def read(self, path: str) -> str | None:
        """The file's exact text (through base64, so no byte is lost), or None if absent."""
        encoded = await self.read_base64(path)
        return None if encoded is None else base64.b64decode(encoded).decode("utf-8", errors="replace")

    async def read_bytes(self, path: str) -> bytes | None:
        encoded = await self.read_base64(path)
        return None if encoded is None else base64.b64decode(encoded)

    def read_snippet(self, paths: list[str]) -> str:
        """The shell snippet that reads these files as ``prefetched`` does, to run among other reads in one
        command (facts.read_in_one, with sudo as ``self.sudo``); its reply goes to ``prefetched``. A
        subshell: a file it cannot read ends only the snippet (status 4)."""
        return f"(set -- {shlex.join(dict.fromkeys(paths))}; {_READ_MANY})"

    @contextlib.asynccontextmanager
    async def prefetched(self, paths: list[str], read: "Reply | None" = None) -> AsyncIterator[None]:
        """Read these files in one remote command; within the block, ``read`` answers from that read.

        Each answer is given once (a second read of a path asks the host again), and none outlives the
        block: a plan reads its files together, and nothing it does later sees a stale answer.
        ``read``: the reply of ``read_snippet(paths)``, read with other reads in one command, instead
        of a command of its own.
        """
        wanted = list(dict.fromkeys(paths))
        for path in wanted:
            if self.emit is not None:
                self.emit.info(_("read {path}").format(path=path))
        if read is None:
            stdout = (await self.transport.run(shell(_READ_MANY, *wanted), sudo=self.sudo, check=True)).stdout
        elif not read.ok:
            raise TransportError(f"reading {', '.join(wanted)} on {self.transport.label} exited with {read.status}")
        else:
            stdout = read.text
        lines = stdout.splitlines()
        if len(lines) != len(wanted) or any(line[:1] not in ("+", "-") for line in lines):
            raise TransportError(f"reading {', '.join(wanted)} on {self.transport.label} gave unexpected output")
        self._prefetched = {path: (line[1:].strip() if line[0] == "+" else None)
                            for path, line in zip(wanted, lines, strict=True)}
        try:
            yield
        finally:
            self._prefetched = {}

    async def read_base64(self, path: str) -> str | None:
        if path in self._prefetched:
            return self._prefetched.pop(path)
        if self.emit is not None:
            self.emit.info(_("read {path}").format(path=path))
        result = await self.transport.run(
            shell('if [ -e "$1" ]; then base64 < "$1" | tr -d "\\n"; else exit 3; fi', path), sudo=self.sudo
        )
        if result.exit_status == 3:
            return None
        return result.check().stdout.strip()

    async def mode_of(self, path: str) -> int | None:
        result = await self.transport.run(Command("stat", "-c", "%a", path), sudo=self.sudo)
        return int(result.stdout.strip(), 8) if result.ok and result.stdout.strip() else None

    async def _backup_root(self) -> str:
        return BACKUP_ROOT if self.sudo else await self._user_backup_root()

    async def backup(self, path: str) -> Backup:
        """Copy the file, keeping its mode and owner, under this run's backup folder."""
        root = await self._backup_root()
        target = f"{root}/{self.stamp}{path}"
        result = await self.transport.run(shell(
            'if [ ! -e "$1" ]; then exit 3; fi; '
            'mkdir -p "$(dirname "$2")" && chmod 700 "$3" && cp -a -- "$1" "$2"',
            path, target, root), sudo=self.sudo, emit=self.emit)
        backup = Backup(path, None if result.exit_status == 3 else target)
        if result.exit_status not in (0, 3):
            result.check()
        self.backups.append(backup)
        return backup

    async def write(self, change: FileChange) -> Backup:
        """Back the file up, then replace it atomically (temp file and rename): one remote command.

        The file must be as it was planned (there or not, its digest): otherwise nothing is changed
        (FileNotAsPlanned).
        """
        backup, args, data = self._planned_write(change, await self._backup_root())
        # Recorded before the command runs: a command cut off after its copy is rolled back like any other.
        self.backups.append(backup)
        try:
            if data is None:
                await self.transport.run(shell(_REPLACE, *args, "remove"), sudo=self.sudo, emit=self.emit,
                                         check=True)
                return backup
            await self.transport.run(shell(_REPLACE + ATOMIC_WRITE, *args, "write", str(len(data))),
                                     sudo=self.sudo, stdin=data, emit=self.emit, check=True)
        except CommandFailed as failed:
            if failed.result.exit_status == 5:  # refused before its copy: nothing to restore
                self.backups.remove(backup)
                raise FileNotAsPlanned(failed.result, change.path) from None
            raise
        return backup

    def _planned_write(self, change: FileChange, root: str) -> tuple[Backup, list[str], bytes | None]:
        """A write's backup (made by its command), _REPLACE's first five arguments and the new text's bytes
        (None: the file is removed), said in the log as the write is sent: the file and its backup, and
        for new text its size and mode."""
        existed = change.old is not None or change.before_sha256 is not None
        backup = Backup(change.path, f"{root}/{self.stamp}{change.path}" if existed else None,
                        change.before_sha256)
        data = None if change.new is None else change.new.encode()
        if self.emit is not None:
            self.emit(EventKind.FILE_CHANGED, [change.path, backup.backup_path or "-"])
            if data is not None:
                mode = _("its mode kept") if existed else _("mode {mode}").format(mode=f"{change.mode:04o}")
                self.emit(EventKind.INFO, _("upload {size} bytes to {path} ({mode})").format(
                    size=len(data), path=change.path, mode=mode))
        args = [change.path, backup.backup_path or "", root, f"{change.mode:04o}", change.before_sha256 or ""]
        return backup, args, data

    async def write_all(self, changes: list[FileChange], prelude: str = "",
                        absent: Sequence[str] = ()) -> list[Backup]:
        """``write`` for each change that changes anything, in one remote command (each file backed up and
        replaced atomically, in order, as ``write`` does). ``prelude``: a shell line the command runs
        first (its values quoted by the caller), e.g. the folders to make. A file not as planned stops
        the command there (FileNotAsPlanned): the files before it are written (their backups recorded,
        for the step's rollback), it and the files after it are not touched.

        ``absent``: files planned absent that the step's later actions may create (local-kv.db, which
        dockerd's first start writes): checked absent first, in the same command (one there stops it
        before any change), and recorded as a backup of a new file, so the rollback removes them; no
        copy is made, as there is nothing to copy."""
        guards = [f'[ ! -e {shlex.quote(path)} ] || {{ echo "regwiz: "{shlex.quote(path)}" exists, it was '
                  f'planned absent; not changed" >&2; false; }}' for path in absent]
        prelude = " && ".join(guards + ([prelude] if prelude else []))
        backups = await self._write_all([c for c in changes if c.changes_anything], prelude)
        # Recorded once written: a command that stopped changed nothing they could be removed for.
        self.backups += [Backup(path, None) for path in absent]
        return backups

    async def _write_all(self, changes: list[FileChange], prelude: str) -> list[Backup]:
        if any(c.new is None for c in changes) or sum(len(c.new or "") for c in changes) > WRITE_ALL_MAX:
            if prelude:
                await self.transport.run(shell(prelude), sudo=self.sudo, emit=self.emit, check=True)
            return [await self.write(change) for change in changes]
        root = await self._backup_root()
        args: list[str] = [prelude or "true"]
        lines: list[bytes] = []
        backups: list[Backup] = []
        for change in changes:
            backup, file_args, data = self._planned_write(change, root)
            assert data is not None  # (a removal is written file by file, above)
            backups.append(backup)
            args += [*file_args, "write", str(len(data))]
            lines.append(base64.b64encode(data) + b"\n")
        # Recorded before the command runs: a command cut off after a copy is rolled back like any other.
        self.backups += backups
        result = await self.transport.run(shell(_REPLACE_MANY, *args), sudo=self.sudo, stdin=b"".join(lines),
                                          emit=self.emit)
        if result.ok:
            return backups
        done = sum(1 for line in result.stdout.splitlines() if line.startswith("wrote "))
        if result.exit_status == 5 and done < len(changes):  # refused before its copy: nothing to restore
            for backup in backups[done:]:
                self.backups.remove(backup)
            raise FileNotAsPlanned(result, changes[done].path)
        for backup in backups[done + 1:]:  # never started: nothing to restore
            self.backups.remove(backup)
        raise CommandFailed(result)

    async def _user_backup_root(self) -> str:
        if self._user_root is None:
            home = (await self.transport.run(shell('printf %s "$HOME"'))).stdout.strip()
            self._user_root = USER_BACKUP_ROOT.replace("~", home, 1)
        return self._user_root

    async def restore(self, backup: Backup) -> None:
        """Put the old file back (atomically), or remove a file that was new."""
        await self.transport.run(shell(_RESTORE, backup.backup_path or "", backup.path, backup.before_sha256 or ""),
                                 sudo=self.sudo, emit=self.emit, check=True)

    async def restore_all(self) -> None:
        for backup in reversed(self.backups):
            await self.restore(backup)


def _dirname(path: str) -> str:
    head = path.rsplit("/", 1)[0]
    return head or "/"
