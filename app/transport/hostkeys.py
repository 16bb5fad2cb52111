"""Host-key trust: known keys pass, unknown keys are asked about, changed keys are refused.

Keys are trusted when they are in the user's ``~/.ssh/known_hosts`` or in
regwiz's own known_hosts (where keys accepted in regwiz are written). Checking
is never turned off: asyncssh validates every connection against these files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app import paths
from app.i18n import _
from app.transport.base import TransportError

if TYPE_CHECKING:  # asyncssh is imported when keys are read: the first screen imports this module
    import asyncssh


def fingerprint(key: asyncssh.SSHKey) -> str:
    return key.get_fingerprint("sha256")


def host_pattern(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


class HostKeyUnknown(TransportError):
    """No trusted key for this host yet: the user must be shown it and decide."""

    def __init__(self, host: str, port: int, key: asyncssh.SSHKey) -> None:
        self.host, self.port, self.key = host, port, key
        self.key_type = key.get_algorithm()
        self.fingerprint = fingerprint(key)
        super().__init__(
            _("The host key of {host} is not known yet.\n"
              "{key_type} key fingerprint {fingerprint}.\n"
              "Compare it with the one your cloud console or provider shows before you accept it.").format(
                host=host_pattern(host, port), key_type=self.key_type, fingerprint=self.fingerprint)
        )


class HostKeyNotAccepted(TransportError):
    """An unknown host key the user (or the run's --trust-host-key) did not accept: not connected."""

    def __init__(self, name: str, unknown: HostKeyUnknown) -> None:
        self.name, self.unknown = name, unknown
        super().__init__(_("the host key of {host} was not accepted").format(host=name))


class HostKeyChanged(TransportError):
    """The host shows a key other than the one trusted: refused, always."""

    def __init__(self, host: str, port: int, key: asyncssh.SSHKey | None, source: str) -> None:
        self.host, self.port = host, port
        self.fingerprint = fingerprint(key) if key is not None else "unknown"
        pattern = host_pattern(host, port)
        super().__init__(
            _("REFUSED: the host key of {host} has changed (now {fingerprint}).\n"
              "Someone may be intercepting the connection (a man in the middle), or the server "
              "was reinstalled. regwiz will not connect.\n"
              "If you know the server was rebuilt, check its new key out of band, then remove the old "
              "entry with: {command}").format(host=pattern, fingerprint=self.fingerprint,
                                              command=f"ssh-keygen -R '{pattern}' -f {source}")
        )


@dataclass
class KnownHostsStore:
    """The known_hosts files regwiz trusts, and the one it writes to."""

    own: Path
    extra: tuple[Path, ...] = ()

    @classmethod
    def default(cls) -> "KnownHostsStore":
        return cls(paths.known_hosts_path(), (Path("~/.ssh/known_hosts").expanduser(),))

    def files(self) -> list[Path]:
        return [p for p in (*self.extra, self.own) if p.is_file()]

    def load(self) -> asyncssh.SSHKnownHosts:
        import asyncssh

        text = "\n".join(p.read_text(errors="replace") for p in self.files())
        return asyncssh.import_known_hosts(text)

    def trusted_keys(self, host: str, port: int, address: str | None = None) -> list[asyncssh.SSHKey]:
        return list(self.load().match(host, address or "", port)[0])

    def source_of(self, host: str, port: int) -> Path:
        """The file holding the host's entry (for the 'how to clear it' advice)."""
        import asyncssh

        for path in self.files():
            kh = asyncssh.import_known_hosts(path.read_text(errors="replace"))
            if kh.match(host, "", port)[0]:
                return path
        return self.own

    def accept(self, host: str, port: int, key: asyncssh.SSHKey) -> None:
        """Trust a key the user accepted, in regwiz's own file."""
        paths.ensure_private_dir(self.own.parent)
        line = f"{host_pattern(host, port)} {key.export_public_key('openssh').decode().strip()}\n"
        with self.own.open("a") as out:
            out.write(line)
        self.own.chmod(0o600)
