"""Changing files on a host the safe way: diff first, backup, atomic write, restore.

Backups go to /var/backups/regwiz/<run stamp>/<original path>, not beside the
file: a folder such as /etc/network/interfaces.d or a certs.d tree would read a
backup placed next to the original as live configuration.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import time
from dataclasses import dataclass, field

from app.events import EventKind, ScopedEmitter
from app.transport import Command, Transport, shell

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


@dataclass
class RemoteFiles:
    """Reads and writes files on one host with sudo, keeping backups to restore."""

    transport: Transport
    emit: ScopedEmitter | None = None
    #: False for files of the user's own (Docker Desktop's ~/.docker).
    sudo: bool = True
    stamp: str = field(default_factory=lambda: time.strftime("%Y%m%dT%H%M%S"))
    backups: list[Backup] = field(default_factory=list)

    async def read(self, path: str) -> str | None:
        """The file's exact text (through base64, so no byte is lost), or None if absent."""
        encoded = await self.read_base64(path)
        return None if encoded is None else base64.b64decode(encoded).decode("utf-8", errors="replace")

    async def read_bytes(self, path: str) -> bytes | None:
        encoded = await self.read_base64(path)
        return None if encoded is None else base64.b64decode(encoded)

    async def read_base64(self, path: str) -> str | None:
        if self.emit is not None:
            self.emit.info(f"read {path}")
        result = await self.transport.run(
            shell('if [ -e "$1" ]; then base64 < "$1" | tr -d "\\n"; else exit 3; fi', path), sudo=self.sudo
        )
        if result.exit_status == 3:
            return None
        return result.check().stdout.strip()

    async def mode_of(self, path: str) -> int | None:
        result = await self.transport.run(Command("stat", "-c", "%a", path), sudo=self.sudo)
        return int(result.stdout.strip(), 8) if result.ok and result.stdout.strip() else None

    async def backup(self, path: str) -> Backup:
        """Copy the file, keeping its mode and owner, under this run's backup folder."""
        root = BACKUP_ROOT if self.sudo else await self._user_backup_root()
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
        """Back the file up, then replace it atomically (temp file and rename)."""
        backup = await self.backup(change.path)
        if change.new is None:
            if self.emit is not None:
                self.emit(EventKind.FILE_CHANGED, [change.path, backup.backup_path or "-"])
            await self.transport.run(Command("rm", "-f", "--", change.path), sudo=self.sudo, emit=self.emit, check=True)
            return backup
        if self.emit is not None:
            self.emit(EventKind.FILE_CHANGED, [change.path, backup.backup_path or "-"])
        mode = await self.mode_of(change.path) if change.old is not None else None
        await self.transport.run(Command("mkdir", "-p", "--", _dirname(change.path)), sudo=self.sudo, check=True)
        await self.transport.upload(change.new.encode(), change.path, mode=mode or change.mode,
                                    sudo=self.sudo, emit=self.emit)
        return backup

    async def _user_backup_root(self) -> str:
        home = (await self.transport.run(shell('printf %s "$HOME"'))).stdout.strip()
        return USER_BACKUP_ROOT.replace("~", home, 1)

    async def restore(self, backup: Backup) -> None:
        """Put the old file back (atomically), or remove a file that was new."""
        if backup.backup_path is None:
            await self.transport.run(Command("rm", "-f", "--", backup.path), sudo=self.sudo, emit=self.emit, check=True)
            return
        await self.transport.run(shell(
            'cp -a -- "$1" "$2.regwiz-restore" && mv -f -- "$2.regwiz-restore" "$2"',
            backup.backup_path, backup.path), sudo=self.sudo, emit=self.emit, check=True)

    async def restore_all(self) -> None:
        for backup in reversed(self.backups):
            await self.restore(backup)


def _dirname(path: str) -> str:
    head = path.rsplit("/", 1)[0]
    return head or "/"
