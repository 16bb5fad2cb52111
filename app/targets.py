"""What the user typed about a host, checked, and turned into a transport."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.i18n import _
from app.redact import Redactor, Secret

if TYPE_CHECKING:
    from app.transport.base import Transport
    from app.transport.hostkeys import KnownHostsStore

# The SSH side (asyncssh, and through it cryptography) is imported where it is
# used, not here: the first screen imports this module, and start-up stays fast.

# A DNS name or ~/.ssh/config alias: letters, digits, dots, dashes, underscores.
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$")
# POSIX portable user names (what useradd accepts by default), plus '.'.
_USERNAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}\$?$", re.I)


def validate_host(value: str) -> str | None:
    """None when the value is a usable address or name, else what is wrong."""
    value = value.strip()
    if not value:
        return _("enter the server's address or name")
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        pass
    if not _HOSTNAME.match(value):
        return _("not an address or host name (letters, digits, '.', '-' only)")
    return None


def parse_number(value: str) -> int | None:
    """An ASCII whole number, or None ("²".isdigit() is True, yet int("²") fails)."""
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else None


def validate_port(value: str) -> str | None:
    port = parse_number(value)
    if port is None or not 1 <= port <= 65535:
        return _("the port is a number, 1 to 65535")
    return None


def validate_user(value: str) -> str | None:
    if not value.strip():
        return _("enter the user to log in as (root on a fresh server)")
    if not _USERNAME.match(value.strip()):
        return _("not a valid user name")
    return None


def validate_key_file(value: str) -> str | None:
    if not value.strip():
        return _("enter the path of the private key file")
    try:
        path = Path(value.strip()).expanduser()
        exists, readable = path.is_file(), os.access(path, os.R_OK)
    except (OSError, RuntimeError, ValueError) as exc:
        # Too long, an unknown ~user, a NUL byte: not a path this machine can read.
        return _("not a usable path ({error}): check the key file's path").format(error=exc.__class__.__name__)
    if not exists:
        return _("no file at {path}").format(path=path)
    if not readable:
        return _("{path} is not readable by you").format(path=path)
    return None


@dataclass
class HostForm:
    """The credentials step's answers. Secrets stay wrapped in ``Secret``."""

    local: bool = False
    host: str = ""
    port: int = 22
    user: str = "root"
    auth: str = "password"  # password | key | agent
    password: Secret | None = None
    identity_file: str = ""
    passphrase: Secret | None = None
    sudo_password: Secret | None = None

    def errors(self) -> dict[str, str]:
        if self.local:
            return {}
        checks = {
            "host": validate_host(self.host),
            "port": validate_port(str(self.port)),
            "user": validate_user(self.user),
        }
        if self.auth == "key" and (self.identity_file.strip() or not self._alias_has_key()):
            checks["identity_file"] = validate_key_file(self.identity_file)
        if self.auth == "password" and not self.password:
            checks["password"] = "enter the password"
        return {k: v for k, v in checks.items() if v}

    def _alias_has_key(self) -> bool:
        from app.transport import sshconfig

        return bool(sshconfig.resolve(self.host.strip()).identity_files) if self.host.strip() else False

    def register_secrets(self, redactor: Redactor) -> None:
        for secret in (self.password, self.passphrase, self.sudo_password):
            redactor.add(secret)

    def transport(self, known_hosts: KnownHostsStore | None = None) -> Transport:
        if self.local:
            from app.transport.local import LocalTransport

            return LocalTransport(sudo_password=self.sudo_password)
        from app.transport import sshconfig
        from app.transport.ssh import SSHTarget, SSHTransport

        # A ~/.ssh/config alias supplies what the form leaves at its defaults.
        resolved = sshconfig.resolve(self.host.strip())
        port = int(self.port)
        user = self.user.strip() or None
        identity = Path(self.identity_file).expanduser() if self.auth == "key" else None
        if resolved.is_alias:
            port = resolved.port if port == 22 and resolved.port else port
            user = resolved.user if user in (None, "root") and resolved.user else user
            if self.auth == "key" and not self.identity_file.strip() and resolved.identity_files:
                identity = Path(resolved.identity_files[0]).expanduser()
        target = SSHTarget(
            host=resolved.host,
            port=port,
            user=user,
            password=self.password if self.auth == "password" else None,
            identity_file=identity,
            passphrase=self.passphrase if self.auth == "key" else None,
            use_agent=self.auth == "agent",
            sudo_password=self.sudo_password,
        )
        if known_hosts is not None:
            target.known_hosts = known_hosts
        return SSHTransport(target)
