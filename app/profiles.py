"""Profiles: a deployment described in a TOML file, to replay or share it.

A profile names the registry host, the registry's settings and its clients::

    [server]
    host = "203.0.113.10"        # address or ~/.ssh/config alias
    port = 22
    user = "root"
    password_env = "ECS_PASSWORD"         # optional: the variable holding the SSH password

    [registry]
    port = 5000
    tls = "own-ca"               # own-ca | provided | none
    ...

The dataclasses below are the only declaration of what a profile file may say:
each key's TOML name, check, default, comment, and whether it goes into a team
profile. Reading (with messages naming the file, line and field), writing back
and the team profile all follow from it (``app.profile_schema``).

Secrets never live in a profile: only the names of the environment variables
that hold them (``*_env`` keys). A key that looks like a secret is refused, when
read and when declared.

Profiles are read with ``tomllib`` and written with ``tomlkit``: saving a
profile that was read from a file changes only the values that changed, so
the user's comments, blank lines and key order survive.

A team profile holds only what is declared ``team=True``, today the ``[team]``
table: what a teammate's machine needs to use the registry (its address, CA
certificate and mode), nothing about the server it runs on.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from app.htpasswd import USERNAME_RE
from app.paths import config_dir, ensure_private_dir, write_atomic
from app.profile_schema import SECRET_KEYS as SECRET_KEYS  # re-exported, as ProfileError is
from app.profile_schema import (
    Choice,
    EnvName,
    Flag,
    Names,
    Port,
    ProfileError,
    Schema,
    Text,
    render,
    show,
    table,
    tables,
    value,
)
from app.i18n import N_, _
from app.redact import Secret
from app.registry.config import AUTH_CHOICES, MODE_CHOICES, TLS_CHOICES



def allowed_kinds() -> tuple[str, ...]:
    """The client kinds a profile may name: "auto", the registered kind classes (app/clients/kinds), "local"."""
    from app.clients.kinds import profile_kind_names

    return profile_kind_names()

IMAGE_SOURCES = ("auto", "pull", "mirror", "upload")
DEFAULT_REMOTE_URL = "https://registry-1.docker.io"
DEFAULT_STORAGE = "/var/lib/registry"

_LOOPBACK = ("", "localhost", "::1", "[::1]")
_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")
_HEADER = "regwiz profile: no secrets in here, only the names of the variables that hold them"


# --- rules beyond a value's type ---------------------------------------------------


def _absolute(path: str) -> str | None:
    if not path.startswith("/"):
        return _("must be an absolute path on the server (found {value})").format(value=show(path))
    if any(c in path for c in ":,"):
        return _("must not contain ':' or ',' (found {value})").format(value=show(path))
    return None


def _http_url(url: str) -> str | None:
    if url.startswith(("https://", "http://")):
        return None
    return _("must start with https:// or http:// (found {value})").format(value=show(url))


def _host_name(name: str) -> str | None:
    from app.targets import validate_host

    return _("must be an address or host name (found {value})").format(value=show(name)) if validate_host(name) \
        else None


def _user_name(name: str) -> str | None:
    if USERNAME_RE.fullmatch(name):
        return None
    return _("must be 1-64 letters, digits, '.', '_' or '-', not starting with '-' (found {value})").format(
        value=show(name))


def _host_port(address: str) -> str | None:
    return _("must be host:port, without a scheme or path (found {value})").format(value=show(address)) \
        if "/" in address else None


def _pem(text: str) -> str | None:
    if "-----BEGIN CERTIFICATE-----" in text:
        return None
    return _("must be a PEM certificate (-----BEGIN CERTIFICATE----- ...)")


_HOST = Text(empty=True, spaces=False)
_WORD = Text(spaces=False)


# --- the declaration ---------------------------------------------------------------


@dataclass
class ServerProfile:
    host: str = value(_HOST, default="", always=True, help="address or ~/.ssh/config alias")  # "" in a team profile
    port: int = value(Port(), default=22, always=True)
    user: str = value(_WORD, default="root", always=True)
    identity_file: str | None = value(Text(), default=None, help="optional")
    passphrase_env: str | None = value(EnvName(), default=None,
                                       help="optional: the variable holding the key's passphrase")
    password_env: str | None = value(EnvName(), default=None, help="optional: the variable holding the SSH password")
    sudo_password_env: str | None = value(EnvName(), default=None,
                                          help="optional: the variable holding the sudo password")
    local: bool = value(Flag(), default=False, help="true: the registry host is this machine")


@dataclass
class RegistryUser:
    name: str = value(Text(), _user_name, required=True, always=True)
    password_env: str | None = value(EnvName(), default=None, help="the variable holding this user's password")


@dataclass
class OSSProfile:
    bucket: str = value(_WORD, required=True, always=True)
    region: str = value(_WORD, required=True, always=True)
    endpoint: str | None = value(_WORD, default=None)
    internal: bool = value(Flag(), default=False)
    access_key_id_env: str | None = value(EnvName(), default=None, help="the variable holding the AccessKey ID")
    access_key_secret_env: str | None = value(EnvName(), default=None,
                                              help="the variable holding the AccessKey secret")


@dataclass
class RegistryProfile:
    port: int = value(Port(), default=5000, always=True)
    tls: str = value(Choice(TLS_CHOICES), default="own-ca", always=True)
    auth: str = value(Choice(AUTH_CHOICES), default="htpasswd", always=True)
    storage: str = value(Text(), _absolute, default=DEFAULT_STORAGE, always=True)
    mode: str = value(Choice(MODE_CHOICES), default="private", always=True)
    users: list[RegistryUser] = tables(RegistryUser, unique=("name", N_("user")))
    names: list[str] = value(Names(_host_name), factory=list, help="extra certificate names")
    # The upstream of a cache: written whenever the registry is one, default or not.
    remote_url: str = value(_WORD, _http_url, default=DEFAULT_REMOTE_URL, always=lambda t: t.get("mode") == "cache",
                            help="the upstream a cache mirrors")
    cert_file: str | None = value(Text(), default=None)  # tls = "provided"
    key_file: str | None = value(Text(), default=None)
    image_source: str = value(Choice(IMAGE_SOURCES), default="auto")
    mirror: str | None = value(_WORD, default=None)
    oss: OSSProfile | None = table(OSSProfile, optional=True, toml="storage_oss",
                                   help="when present, the registry keeps its blobs in Alibaba Cloud OSS")


@dataclass
class ClientProfile:
    host: str = value(_WORD, default="", required=True, always=True)
    port: int = value(Port(), default=22, always=True)
    user: str = value(_WORD, default="root", always=True)
    kind: str = value(Choice(lambda: allowed_kinds()), default="auto", always=True)
    identity_file: str | None = value(Text(), default=None)
    passphrase_env: str | None = value(EnvName(), default=None)
    password_env: str | None = value(EnvName(), default=None, help="optional, like identity_file")
    sudo_password_env: str | None = value(EnvName(), default=None)


@dataclass
class TeamProfile:
    registry: str = value(_WORD, _host_port, required=True, always=True,
                          help="host:port, as clients reach it")
    # None: no TLS, or a certificate from a public CA
    ca_pem: str | None = value(Text(), _pem, absent=None, always=True)
    mode: str = value(Choice(MODE_CHOICES), default="private", always=True)
    tls: bool = value(Flag(), default=True, always=True)
    username: str | None = value(_WORD, default=None)
    password_env: str | None = value(EnvName(), default=None, help="optional: the variable holding the password")


@dataclass
class Profile:
    server: ServerProfile = table(ServerProfile)
    registry: RegistryProfile = table(RegistryProfile)
    clients: list[ClientProfile] = tables(ClientProfile)
    team: TeamProfile | None = table(TeamProfile, optional=True, team=True,
                                     help="a team profile: how teammates reach and trust the registry")
    path: Path | None = None
    source_text: str | None = None  # the text it was read from: save() keeps its comments

    @property
    def team_only(self) -> bool:
        """A shareable team profile: only what is declared ``team=True`` is written."""
        return (
            self.team is not None and self.server.host == "" and not self.server.local and not self.clients
        )


# --- where profiles live -----------------------------------------------------


def profiles_dir() -> Path:
    return config_dir() / "profiles"


def resolve_profile_path(name_or_path: str) -> Path:
    """An existing file as given (``~`` expanded), else the profile of that name.

    A name is letters, digits, '.', '_' and '-' (not starting with '.'), and
    means ``profiles_dir()/NAME.toml``; ``.toml`` may be given or not.
    """
    given = Path(name_or_path).expanduser()
    if name_or_path and given.is_file():
        return given
    if not _NAME_RE.fullmatch(name_or_path or "") or name_or_path.startswith("."):
        raise ProfileError(
            _("{given} is neither an existing profile file nor a profile name "
              "(a name is letters, digits, '.', '_' or '-', not starting with '.')").format(given=repr(name_or_path)),
            path=given if name_or_path else None,
        )
    name = name_or_path if name_or_path.endswith(".toml") else f"{name_or_path}.toml"
    return profiles_dir() / name


def list_profiles() -> list[str]:
    """The names of the profiles in ``profiles_dir()``, sorted."""
    folder = profiles_dir()
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    return sorted(
        p.stem for p in entries
        if p.suffix == ".toml" and not p.name.startswith(".") and _NAME_RE.fullmatch(p.stem) and p.is_file()
    )


def load_profile(name_or_path: str) -> Profile:
    path = resolve_profile_path(name_or_path)
    if not path.exists():
        if path.parent == profiles_dir() and not Path(name_or_path).expanduser().is_absolute():
            raise ProfileError(_("no profile named {name} (looked in {folder})").format(
                name=repr(path.stem), folder=path.parent), path=None)
        raise ProfileError(_("no profile at {path}").format(path=path), path=None)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(_("the file is not UTF-8 text ({reason} at byte {offset})").format(
            reason=exc.reason, offset=exc.start), path=path) from exc
    except OSError as exc:
        raise ProfileError(_("cannot read the profile: {reason}").format(reason=exc.strerror or exc),
                           path=path) from exc
    return parse_profile(text, path)


def save_profile(profile: Profile, path: Path | None = None) -> Path:
    """Write the profile atomically (mode 0600) and return where it went.

    ``path`` defaults to ``profile.path``. Missing folders are created, readable
    by the user alone. Afterwards ``profile.path`` and ``profile.source_text``
    describe the file, so a later save again changes only what changed.
    """
    target = Path(path).expanduser() if path is not None else profile.path
    if target is None:
        raise ProfileError(_("the profile has no file to be saved to: give a path or a name"))
    text = render_profile(profile)
    try:
        _make_private_parents(target.parent)
        write_atomic(target, text.encode("utf-8"), 0o600)
    except OSError as exc:
        raise ProfileError(_("cannot write the profile: {reason}").format(reason=exc.strerror or exc),
                           path=target) from exc
    profile.path = target
    profile.source_text = text
    return target


def _make_private_parents(folder: Path) -> None:
    """Create missing folders 0700; of existing ones only regwiz's own are tightened."""
    if folder == profiles_dir():
        ensure_private_dir(config_dir())
        ensure_private_dir(folder)
        return
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for created in reversed(missing):
        created.mkdir(exist_ok=True)
        created.chmod(0o700)


# --- secrets -----------------------------------------------------------------


def secret_from_env(var: str | None, environ: Mapping[str, str] = os.environ) -> Secret | None:
    """The secret held by the variable ``var``; None when no variable is named,
    it is unset, or it is empty (an empty password authenticates nothing, and
    None lets the caller ask the user instead)."""
    if not var:
        return None
    found = environ.get(var)
    return Secret(found) if found else None


# --- team profiles -----------------------------------------------------------


def team_profile_from(profile: Profile, ca_pem: str | None) -> Profile:
    """A profile to share with a team: only where the registry is and how to trust it.

    No server, no clients: nothing about how the registry host is reached.
    """
    server, registry = profile.server, profile.registry
    host = server.host
    if server.local:
        if registry.names:
            host = registry.names[0]
        elif host in _LOOPBACK or host.startswith("127."):
            host = ""
    if not host:
        raise ProfileError(
            _("a team profile needs an address teammates can reach: set server.host, "
              "or registry.names when the registry runs on this machine"),
            path=profile.path,
            field="registry.names" if server.local else "server.host",
        )
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    user = registry.users[0] if registry.users and registry.auth != "none" else None
    team = TeamProfile(
        registry=f"{host}:{registry.port}",
        ca_pem=ca_pem,
        mode=registry.mode,
        tls=registry.tls != "none",
        username=user.name if user else None,
        password_env=user.password_env if user else None,
    )
    return Profile(server=ServerProfile(), registry=RegistryProfile(), clients=[], team=team)


# --- reading and writing: all from the declaration ---------------------------------


def parse_profile(text: str, path: Path | None = None, *, declaration: type[Profile] = Profile) -> Profile:
    """The profile in ``text``; every problem is a ProfileError naming the field and line.

    Unknown keys are allowed (a newer regwiz may have written them), but a key
    that would hold a secret is refused. ``declaration``: a Profile subclass
    declaring more (the tests show a key added there is read, checked and written).
    """
    profile: Profile = Schema.of(declaration).parse(text, path)
    profile.path, profile.source_text = path, text
    return profile


def render_profile(profile: Profile) -> str:
    """The TOML text of ``profile`` (of a team-only profile: its team parts alone).

    With ``profile.source_text``, that text is edited in place: only the values
    that differ change, so comments, blank lines and key order survive. The
    result is checked by reading it back; if an unusual layout of the source
    defeats the in-place edit, a fresh document is written instead.
    """
    schema = Schema.of(type(profile))
    if profile.team_only:  # the rest of a file is not part of a team profile: left as it is
        schema = schema.team_view()
    return render(profile, schema, profile.source_text, _HEADER, profile.path)
