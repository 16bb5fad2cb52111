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

Secrets never live in a profile: only the names of the environment variables
that hold them (``*_env`` keys). A key that looks like a secret is refused.

Profiles are read with ``tomllib`` and written with ``tomlkit``: saving a
profile that was read from a file changes only the values that changed, so
the user's comments, blank lines and key order survive.

A team profile holds only a ``[team]`` table: what a teammate's machine needs
to use the registry (its address, CA certificate and mode), nothing about the
server it runs on.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, Iterable, Mapping, NoReturn

import tomlkit
from tomlkit.items import AoT, InlineTable, Table, Whitespace

from app.htpasswd import USERNAME_RE
from app.paths import config_dir, ensure_private_dir, write_atomic
from app.redact import Secret
from app.registry.config import AUTH_CHOICES, MODE_CHOICES, TLS_CHOICES

KINDS = ("auto", "linux", "sysv", "rhel", "boot2docker", "containerd", "podman", "desktop", "local")
IMAGE_SOURCES = ("auto", "pull", "mirror", "upload")
DEFAULT_REMOTE_URL = "https://registry-1.docker.io"
DEFAULT_STORAGE = "/var/lib/registry"

# Keys that would hold a secret itself; the profile must name a variable instead.
SECRET_KEYS = frozenset({"password", "passphrase", "sudo_password", "secret", "access_key_secret", "token"})
_SECRET_SUFFIXES = ("_password", "_passphrase", "_secret", "_token")

_LOOPBACK = ("", "localhost", "::1", "[::1]")
_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- errors ------------------------------------------------------------------


class ProfileError(ValueError):
    """A profile that cannot be read, checked or written.

    ``str()`` is a whole sentence: the file, the line when known, the field and
    what is wrong with it. ``message`` is that sentence without the location.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        line: int | None = None,
        field: str | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.field = field
        self.column = column
        super().__init__(self._sentence())

    def _sentence(self) -> str:
        where = []
        if self.path is not None:
            where.append(str(self.path))
        if self.line is not None:
            where.append(f"line {self.line}" + (f", column {self.column}" if self.column else ""))
        return f"{', '.join(where)}: {self.message}" if where else self.message


# --- the model ---------------------------------------------------------------


@dataclass
class ServerProfile:
    host: str = ""  # address or ~/.ssh/config alias; "" in a team profile
    port: int = 22
    user: str = "root"
    identity_file: str | None = None
    passphrase_env: str | None = None  # the variable holding identity_file's passphrase
    password_env: str | None = None
    sudo_password_env: str | None = None
    local: bool = False  # the registry host is this machine


@dataclass
class RegistryUser:
    name: str
    password_env: str | None = None


@dataclass
class OSSProfile:
    bucket: str
    region: str
    endpoint: str | None = None
    internal: bool = False
    access_key_id_env: str | None = None
    access_key_secret_env: str | None = None


@dataclass
class RegistryProfile:
    port: int = 5000
    tls: str = "own-ca"  # own-ca | provided | none
    auth: str = "htpasswd"  # htpasswd | none
    storage: str = DEFAULT_STORAGE
    mode: str = "private"  # private | cache
    users: list[RegistryUser] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # extra certificate names
    remote_url: str = DEFAULT_REMOTE_URL  # the upstream of a cache
    cert_file: str | None = None  # tls = "provided"
    key_file: str | None = None
    image_source: str = "auto"  # auto | pull | mirror | upload
    mirror: str | None = None
    oss: OSSProfile | None = None  # [registry.storage_oss]: blobs in Alibaba Cloud OSS


@dataclass
class ClientProfile:
    host: str = ""
    port: int = 22
    user: str = "root"
    kind: str = "auto"
    identity_file: str | None = None
    passphrase_env: str | None = None
    password_env: str | None = None
    sudo_password_env: str | None = None


@dataclass
class TeamProfile:
    registry: str  # "host:port" as clients reach it
    ca_pem: str | None  # None: no TLS, or a certificate from a public CA
    mode: str = "private"
    tls: bool = True
    username: str | None = None
    password_env: str | None = None


@dataclass
class Profile:
    server: ServerProfile = field(default_factory=ServerProfile)
    registry: RegistryProfile = field(default_factory=RegistryProfile)
    clients: list[ClientProfile] = field(default_factory=list)
    team: TeamProfile | None = None
    path: Path | None = None
    source_text: str | None = None  # the text it was read from: save() keeps its comments

    @property
    def team_only(self) -> bool:
        """A shareable team profile: only its [team] table is written."""
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
            f"{name_or_path!r} is neither an existing profile file nor a profile name "
            "(a name is letters, digits, '.', '_' or '-', not starting with '.')",
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
            raise ProfileError(f"no profile named {path.stem!r} (looked in {path.parent})", path=None)
        raise ProfileError(f"no profile at {path}", path=None)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})", path=path) from exc
    except OSError as exc:
        raise ProfileError(f"cannot read the profile: {exc.strerror or exc}", path=path) from exc
    return parse_profile(text, path)


def save_profile(profile: Profile, path: Path | None = None) -> Path:
    """Write the profile atomically (mode 0600) and return where it went.

    ``path`` defaults to ``profile.path``. Missing folders are created, readable
    by the user alone. Afterwards ``profile.path`` and ``profile.source_text``
    describe the file, so a later save again changes only what changed.
    """
    target = Path(path).expanduser() if path is not None else profile.path
    if target is None:
        raise ProfileError("the profile has no file to be saved to: give a path or a name")
    text = render_profile(profile)
    try:
        _make_private_parents(target.parent)
        write_atomic(target, text.encode("utf-8"), 0o600)
    except OSError as exc:
        raise ProfileError(f"cannot write the profile: {exc.strerror or exc}", path=target) from exc
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
    value = environ.get(var)
    return Secret(value) if value else None


def _secret_env_key(key: str) -> str | None:
    """The ``*_env`` key to use instead, if ``key`` names a secret value."""
    low = key.lower()
    if low in SECRET_KEYS or low.endswith(_SECRET_SUFFIXES):
        return f"{key}_env"
    return None


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
            "a team profile needs an address teammates can reach: set server.host, "
            "or registry.names when the registry runs on this machine",
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


# --- reading -----------------------------------------------------------------

FieldPath = tuple  # ("clients", 1, "kind")


def _field_name(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _show(value: Any) -> str:
    """A value as the user wrote it, for an error message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 60 else text[:57] + '..."'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return str(value)


_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART})*"
_KEY_LINE = re.compile(rf"[ \t]*({_DOTTED})[ \t]*=")
_AOT_HEADER = re.compile(rf"[ \t]*\[\[[ \t]*({_DOTTED})[ \t]*\]\]")
_TABLE_HEADER = re.compile(rf"[ \t]*\[[ \t]*({_DOTTED})[ \t]*\]")


def _key_parts(dotted: str) -> tuple[str, ...]:
    parts = []
    for raw in re.findall(_KEY_PART, dotted):
        if raw.startswith('"'):
            try:
                raw = json.loads(raw)
            except ValueError:
                raw = raw[1:-1]
        elif raw.startswith("'"):
            raw = raw[1:-1]
        parts.append(raw)
    return tuple(parts)


class _LineMap:
    """Where each key and table of a TOML text starts: a best-effort scan.

    Paths look like ("clients", 1, "kind"): the index counts the entries of an
    array of tables. Inline tables are not looked into (their key's line is used).
    """

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple, int] = {}
        self.duplicates: list[int] = []
        counts: dict[tuple, int] = {}
        current: tuple = ()
        in_string: str | None = None
        for number, line in enumerate(text.splitlines(), 1):
            if in_string:
                if in_string in line:
                    in_string = None
                continue
            if m := _AOT_HEADER.match(line):
                parts = _key_parts(m.group(1))
                full = self._resolve(parts[:-1], counts) + parts[-1:]
                index = counts.get(full, -1) + 1
                counts[full] = index
                current = full + (index,)
                self.lines.setdefault(full, number)
                self.lines[current] = number
                continue
            if m := _TABLE_HEADER.match(line):
                current = self._resolve(_key_parts(m.group(1)), counts)
                if current in self.lines:
                    self.duplicates.append(number)
                self.lines.setdefault(current, number)
                continue
            if m := _KEY_LINE.match(line):
                full = current + _key_parts(m.group(1))
                if full in self.lines:
                    self.duplicates.append(number)
                self.lines.setdefault(full, number)
                rest = line[m.end():].lstrip()
                for quote in ('"""', "'''"):
                    if rest.startswith(quote) and quote not in rest[3:]:
                        in_string = quote

    @staticmethod
    def _resolve(parts: tuple[str, ...], counts: dict[tuple, int]) -> tuple:
        path: tuple = ()
        for part in parts:
            path += (part,)
            if path in counts:  # inside the latest entry of that array of tables
                path += (counts[path],)
        return path

    def line_of(self, path: tuple) -> int | None:
        """The line of ``path``, else of its nearest enclosing key or table."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


class _Reader:
    """Checks the parsed TOML and builds the dataclasses, failing with the field's line."""

    def __init__(self, text: str, path: Path | None) -> None:
        self.text = text
        self.path = path
        self._map: _LineMap | None = None

    @property
    def map(self) -> _LineMap:
        if self._map is None:
            self._map = _LineMap(self.text)
        return self._map

    def fail(self, where: FieldPath, message: str) -> NoReturn:
        name = _field_name(where)
        raise ProfileError(f"{name} {message}", path=self.path, line=self.map.line_of(where), field=name)

    # --- the document --------------------------------------------------------

    def toml(self) -> dict[str, Any]:
        try:
            return tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            reason = str(exc)
            line = column = None
            if m := _TOML_WHERE.search(reason):
                line, column = int(m.group(1)), int(m.group(2))
                reason = reason[: m.start()]
            elif reason.endswith("(at end of document)"):
                reason = reason[: -len("(at end of document)")].rstrip()
                if reason.startswith("Cannot"):  # a key or table given twice
                    line = self.map.duplicates[0] if self.map.duplicates else None
                else:
                    line = self.text.count("\n") + 1
            raise ProfileError(
                f"the profile is not valid TOML: {reason[:1].lower()}{reason[1:]}",
                path=self.path, line=line, column=column,
            ) from None
        except RecursionError:
            raise ProfileError("the profile is not usable TOML: it nests too deeply", path=self.path) from None

    def refuse_secrets(self, value: Any, where: FieldPath = ()) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                env_key = _secret_env_key(key)
                holds_tables = isinstance(item, dict) or (
                    isinstance(item, list) and bool(item) and all(isinstance(x, dict) for x in item))
                if env_key and not holds_tables:
                    self.fail(
                        where + (key,),
                        "would hold a secret, and secrets never live in a profile: put it in an "
                        f"environment variable and give that variable's name as {_field_name(where + (env_key,))}",
                    )
                self.refuse_secrets(item, where + (key,))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.refuse_secrets(item, where + (index,))

    def profile(self) -> Profile:
        data = self.toml()
        self.refuse_secrets(data)
        server = self.table(data, ("server",), "[server]")
        registry = self.table(data, ("registry",), "[registry]")
        clients = self.tables(data, ("clients",), "[[clients]]")
        team = self.table(data, ("team",), "[team]")
        return Profile(
            server=self.server(server or {}),
            registry=self.registry(registry or {}),
            clients=[self.client(entry, index) for index, entry in enumerate(clients)],
            team=self.team(team) if team is not None else None,
            path=self.path,
            source_text=self.text,
        )

    # --- shapes --------------------------------------------------------------

    def _get(self, data: dict, where: FieldPath) -> Any:
        return data.get(where[-1])

    def table(self, data: dict, where: FieldPath, how: str) -> dict | None:
        value = self._get(data, where)
        if value is None or isinstance(value, dict):
            return value
        self.fail(where, f"must be a table, written {how} (found {_show(value)})")

    def tables(self, data: dict, where: FieldPath, how: str) -> list[dict]:
        value = self._get(data, where)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(where, f"must be an array of tables, each written {how} (found {_show(value)})")
        for index, entry in enumerate(value):
            if not isinstance(entry, dict):
                self.fail(where + (index,), f"must be a table, written {how} (found {_show(entry)})")
        return value

    # --- values --------------------------------------------------------------

    def string(self, data: dict, where: FieldPath, default: Any = None, *, required: bool = False,
               empty: bool = False, spaces: bool = True) -> Any:
        value = data.get(where[-1])
        if value is None:
            if required:
                self.fail(where, "is missing")
            return default
        if not isinstance(value, str):
            self.fail(where, f"must be a string (found {_show(value)})")
        if not empty and not value.strip():
            self.fail(where, "must not be empty")
        if not spaces and value and any(ch.isspace() or ord(ch) < 0x20 for ch in value):
            self.fail(where, f"must not contain spaces or control characters (found {_show(value)})")
        return value

    def port(self, data: dict, where: FieldPath, default: int) -> int:
        value = data.get(where[-1], default)
        if type(value) is not int or not 1 <= value <= 65535:
            self.fail(where, f"must be a whole number from 1 to 65535 (found {_show(value)})")
        return value

    def boolean(self, data: dict, where: FieldPath, default: bool) -> bool:
        value = data.get(where[-1], default)
        if not isinstance(value, bool):
            self.fail(where, f"must be true or false (found {_show(value)})")
        return value

    def choice(self, data: dict, where: FieldPath, choices: tuple[str, ...], default: str) -> str:
        value = data.get(where[-1], default)
        if value not in choices or not isinstance(value, str):
            self.fail(where, f"must be one of {', '.join(map(_show, choices))} (found {_show(value)})")
        return value

    def env_name(self, data: dict, where: FieldPath) -> str | None:
        value = data.get(where[-1])
        if value is None:
            return None
        # The value is not shown: a user may have put the secret itself here.
        if not isinstance(value, str) or not _ENV_RE.fullmatch(value):
            self.fail(
                where,
                "must be the name of an environment variable (letters, digits and '_', not starting "
                "with a digit), not the secret itself",
            )
        return value

    def strings(self, data: dict, where: FieldPath) -> list[str]:
        value = data.get(where[-1], [])
        if not isinstance(value, list):
            self.fail(where, f"must be an array of strings (found {_show(value)})")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip() or any(ch.isspace() for ch in item):
                self.fail(where + (index,), f"must be a name without spaces (found {_show(item)})")
        return list(value)

    # --- sections ------------------------------------------------------------

    def server(self, data: dict) -> ServerProfile:
        w = ("server",)
        return ServerProfile(
            host=self.string(data, w + ("host",), "", empty=True, spaces=False),
            port=self.port(data, w + ("port",), 22),
            user=self.string(data, w + ("user",), "root", spaces=False),
            identity_file=self.string(data, w + ("identity_file",)),
            passphrase_env=self.env_name(data, w + ("passphrase_env",)),
            password_env=self.env_name(data, w + ("password_env",)),
            sudo_password_env=self.env_name(data, w + ("sudo_password_env",)),
            local=self.boolean(data, w + ("local",), False),
        )

    def registry(self, data: dict) -> RegistryProfile:
        w = ("registry",)
        storage = self.string(data, w + ("storage",), DEFAULT_STORAGE)
        if not storage.startswith("/"):
            self.fail(w + ("storage",), f"must be an absolute path on the server (found {_show(storage)})")
        if any(c in storage for c in ":,"):
            self.fail(w + ("storage",), f"must not contain ':' or ',' (found {_show(storage)})")
        remote_url = self.string(data, w + ("remote_url",), DEFAULT_REMOTE_URL, spaces=False)
        if not remote_url.startswith(("https://", "http://")):
            self.fail(w + ("remote_url",), f"must start with https:// or http:// (found {_show(remote_url)})")
        users = []
        seen: set[str] = set()
        for index, entry in enumerate(self.tables(data, w + ("users",), "[[registry.users]]")):
            user = self.user(entry, w + ("users", index))
            if user.name in seen:
                self.fail(w + ("users", index, "name"), f"repeats the user {_show(user.name)}")
            seen.add(user.name)
            users.append(user)
        oss = self.table(data, w + ("storage_oss",), "[registry.storage_oss]")
        return RegistryProfile(
            port=self.port(data, w + ("port",), 5000),
            tls=self.choice(data, w + ("tls",), TLS_CHOICES, "own-ca"),
            auth=self.choice(data, w + ("auth",), AUTH_CHOICES, "htpasswd"),
            storage=storage,
            mode=self.choice(data, w + ("mode",), MODE_CHOICES, "private"),
            users=users,
            names=self.host_names(data, w + ("names",)),
            remote_url=remote_url,
            cert_file=self.string(data, w + ("cert_file",)),
            key_file=self.string(data, w + ("key_file",)),
            image_source=self.choice(data, w + ("image_source",), IMAGE_SOURCES, "auto"),
            mirror=self.string(data, w + ("mirror",), spaces=False),
            oss=self.oss(oss) if oss is not None else None,
        )

    def host_names(self, data: dict, where: FieldPath) -> list[str]:
        from app.targets import validate_host

        names = self.strings(data, where)
        for index, name in enumerate(names):
            if validate_host(name):
                self.fail(where + (index,), f"must be an address or host name (found {_show(name)})")
        return names

    def user(self, data: dict, w: FieldPath) -> RegistryUser:
        name = self.string(data, w + ("name",), required=True)
        if not USERNAME_RE.fullmatch(name):
            self.fail(w + ("name",), f"must be 1-64 letters, digits, '.', '_' or '-', not starting with '-' "
                                     f"(found {_show(name)})")
        return RegistryUser(name=name, password_env=self.env_name(data, w + ("password_env",)))

    def oss(self, data: dict) -> OSSProfile:
        w = ("registry", "storage_oss")
        return OSSProfile(
            bucket=self.string(data, w + ("bucket",), required=True, spaces=False),
            region=self.string(data, w + ("region",), required=True, spaces=False),
            endpoint=self.string(data, w + ("endpoint",), spaces=False),
            internal=self.boolean(data, w + ("internal",), False),
            access_key_id_env=self.env_name(data, w + ("access_key_id_env",)),
            access_key_secret_env=self.env_name(data, w + ("access_key_secret_env",)),
        )

    def client(self, data: dict, index: int) -> ClientProfile:
        w = ("clients", index)
        return ClientProfile(
            host=self.string(data, w + ("host",), required=True, spaces=False),
            port=self.port(data, w + ("port",), 22),
            user=self.string(data, w + ("user",), "root", spaces=False),
            kind=self.choice(data, w + ("kind",), KINDS, "auto"),
            identity_file=self.string(data, w + ("identity_file",)),
            passphrase_env=self.env_name(data, w + ("passphrase_env",)),
            password_env=self.env_name(data, w + ("password_env",)),
            sudo_password_env=self.env_name(data, w + ("sudo_password_env",)),
        )

    def team(self, data: dict) -> TeamProfile:
        w = ("team",)
        registry = self.string(data, w + ("registry",), required=True, spaces=False)
        if "/" in registry:
            self.fail(w + ("registry",), f"must be host:port, without a scheme or path (found {_show(registry)})")
        ca_pem = self.string(data, w + ("ca_pem",))
        if ca_pem is not None and "-----BEGIN CERTIFICATE-----" not in ca_pem:
            self.fail(w + ("ca_pem",), "must be a PEM certificate (-----BEGIN CERTIFICATE----- ...)")
        return TeamProfile(
            registry=registry,
            ca_pem=ca_pem,
            mode=self.choice(data, w + ("mode",), MODE_CHOICES, "private"),
            tls=self.boolean(data, w + ("tls",), True),
            username=self.string(data, w + ("username",), spaces=False),
            password_env=self.env_name(data, w + ("password_env",)),
        )


def parse_profile(text: str, path: Path | None = None) -> Profile:
    """The profile in ``text``; every problem is a ProfileError naming the field and line.

    Unknown keys are allowed (a newer regwiz may have written them), but a key
    that would hold a secret is refused.
    """
    return _Reader(text, path).profile()


# --- writing -----------------------------------------------------------------

_REQUIRED = object()  # a key without a default: absent never equals a value


class _Table:
    def __init__(self, spec: dict[str, Any], optional: bool) -> None:
        self.spec, self.optional = spec, optional


class _Tables:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec


# Key order and defaults of each table, as written in a fresh profile.
_SERVER = {"host": "", "port": 22, "user": "root", "identity_file": None, "passphrase_env": None,
           "password_env": None,
           "sudo_password_env": None, "local": False}
_USER = {"name": _REQUIRED, "password_env": None}
_OSS = {"bucket": _REQUIRED, "region": _REQUIRED, "endpoint": None, "internal": False,
        "access_key_id_env": None, "access_key_secret_env": None}
_REGISTRY = {"port": 5000, "tls": "own-ca", "auth": "htpasswd", "storage": DEFAULT_STORAGE, "mode": "private",
             "names": [], "remote_url": DEFAULT_REMOTE_URL, "cert_file": None, "key_file": None,
             "image_source": "auto", "mirror": None,
             "users": _Tables(_USER), "storage_oss": _Table(_OSS, optional=True)}
_CLIENT = {"host": "", "port": 22, "user": "root", "kind": "auto", "identity_file": None, "passphrase_env": None,
           "password_env": None,
           "sudo_password_env": None}
_TEAM = {"registry": _REQUIRED, "ca_pem": None, "mode": "private", "tls": True, "username": None,
         "password_env": None}
_TOP: dict[str, _Table | _Tables] = {
    "server": _Table(_SERVER, optional=False), "registry": _Table(_REGISTRY, optional=False),
    "clients": _Tables(_CLIENT), "team": _Table(_TEAM, optional=True)}

# Written even when they hold their default, so a fresh profile shows them.
_ALWAYS = {
    "server": {"host", "port", "user"},
    "registry": {"port", "tls", "auth", "storage", "mode"},
    "users": {"name"},
    "storage_oss": {"bucket", "region"},
    "clients": {"host", "port", "user", "kind"},
    "team": {"registry", "ca_pem", "mode", "tls"},
}
_COMMENTS = {
    ("server", "host"): "address or ~/.ssh/config alias",
    ("server", "identity_file"): "optional",
    ("server", "passphrase_env"): "optional: the variable holding the key's passphrase",
    ("server", "password_env"): "optional: the variable holding the SSH password",
    ("server", "sudo_password_env"): "optional: the variable holding the sudo password",
    ("server", "local"): "true: the registry host is this machine",
    ("registry", "tls"): " | ".join(TLS_CHOICES),
    ("registry", "auth"): " | ".join(AUTH_CHOICES),
    ("registry", "mode"): " | ".join(MODE_CHOICES),
    ("registry", "names"): "extra certificate names",
    ("registry", "remote_url"): "the upstream a cache mirrors",
    ("registry", "image_source"): " | ".join(IMAGE_SOURCES),
    ("users", "password_env"): "the variable holding this user's password",
    ("storage_oss", "access_key_id_env"): "the variable holding the AccessKey ID",
    ("storage_oss", "access_key_secret_env"): "the variable holding the AccessKey secret",
    ("clients", "kind"): " | ".join(KINDS),
    ("clients", "password_env"): "optional, like identity_file",
    ("team", "registry"): "host:port, as clients reach it",
    ("team", "mode"): " | ".join(MODE_CHOICES),
    ("team", "password_env"): "optional: the variable holding the password",
}
_TABLE_COMMENTS = {
    "storage_oss": "when present, the registry keeps its blobs in Alibaba Cloud OSS",
    "team": "a team profile: how teammates reach and trust the registry",
}
_COMMENT_COLUMNS = (29, 38)  # where the comments of the example profile start
_HEADER = "regwiz profile: no secrets in here, only the names of the variables that hold them"


def _data(profile: Profile) -> dict[str, Any]:
    """The profile as plain TOML-shaped values, None for an absent optional key or table."""
    s, r = profile.server, profile.registry
    oss = r.oss
    return {
        "server": {"host": s.host, "port": s.port, "user": s.user, "identity_file": s.identity_file,
                   "passphrase_env": s.passphrase_env, "password_env": s.password_env,
                   "sudo_password_env": s.sudo_password_env, "local": s.local},
        "registry": {
            "port": r.port, "tls": r.tls, "auth": r.auth, "storage": r.storage, "mode": r.mode,
            "names": list(r.names), "remote_url": r.remote_url, "cert_file": r.cert_file, "key_file": r.key_file,
            "image_source": r.image_source, "mirror": r.mirror,
            "users": [{"name": u.name, "password_env": u.password_env} for u in r.users],
            "storage_oss": None if oss is None else {
                "bucket": oss.bucket, "region": oss.region, "endpoint": oss.endpoint, "internal": oss.internal,
                "access_key_id_env": oss.access_key_id_env, "access_key_secret_env": oss.access_key_secret_env,
            },
        },
        "clients": [
            {"host": c.host, "port": c.port, "user": c.user, "kind": c.kind, "identity_file": c.identity_file,
             "passphrase_env": c.passphrase_env, "password_env": c.password_env,
             "sudo_password_env": c.sudo_password_env}
            for c in profile.clients
        ],
        "team": None if profile.team is None else {
            "registry": profile.team.registry, "ca_pem": profile.team.ca_pem, "mode": profile.team.mode,
            "tls": profile.team.tls, "username": profile.team.username,
            "password_env": profile.team.password_env,
        },
    }


def _same(a: Any, b: Any) -> bool:
    """Equal as TOML values (True is not 1)."""
    try:
        return json.dumps(a, sort_keys=True, default=repr) == json.dumps(b, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        return a == b


def _plain(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item


def _current(container: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """What a tomlkit table holds, shaped like ``_data``: defaults for absent keys."""
    out: dict[str, Any] = {}
    for key, sub in spec.items():
        present = container is not None and key in container
        if isinstance(sub, _Table):
            if present:
                out[key] = _current(container[key], sub.spec)
            else:
                out[key] = None if sub.optional else _current(None, sub.spec)
        elif isinstance(sub, _Tables):
            out[key] = [_current(entry, sub.spec) for entry in container[key]] if present else []
        else:
            out[key] = _plain(container[key]) if present else sub
    return out


def _value_item(section: str, key: str, value: Any) -> Any:
    if isinstance(value, str) and "\n" in value:
        # A multi-line basic string, its text starting on the next line (TOML drops that newline).
        item = tomlkit.string(value, multiline=True)
        body = item.as_string()
        if not body.startswith('"""\n'):
            item = tomlkit.parse(f'v = """\n{body[3:]}\n')["v"]
    else:
        item = tomlkit.item(value)
        if isinstance(value, list):
            item.multiline(False)
    comment = _COMMENTS.get((section, key))
    if comment:
        item.comment(comment)
        width = len(f"{key} = {item.as_string()}")
        column = next((c for c in _COMMENT_COLUMNS if width + 2 <= c), width + 2)
        item.trivia.comment_ws = " " * (column - width)
    return item


def _fresh_table(section: str, want: dict[str, Any], spec: dict[str, Any], *, inline: bool = False) -> Any:
    """A new table holding ``want``: its keys in the documented order, with comments.

    ``inline``: an inline table (no comments), to go where one is already used.
    """
    table = tomlkit.inline_table() if inline else tomlkit.table()
    if section in _TABLE_COMMENTS and not inline:
        table.comment(_TABLE_COMMENTS[section])
    subtables = []
    for key, sub in spec.items():
        value = want.get(key)
        if isinstance(sub, (_Table, _Tables)):
            subtables.append((key, sub, value))
        elif value is not None and (key in _ALWAYS.get(section, ()) or not _same(value, sub)
                                    or (section, key) == ("registry", "remote_url") and want.get("mode") == "cache"):
            table.append(key, _value_item("" if inline else section, key, value))
    for key, sub, value in subtables:
        if isinstance(sub, _Table) and value is not None:
            table.append(key, _fresh_table(key, value, sub.spec, inline=inline))
        elif isinstance(sub, _Tables) and value:
            table.append(key, _fresh_tables(key, value, sub.spec, inline=inline))
    return table


def _fresh_tables(section: str, want: list[dict[str, Any]], spec: dict[str, Any], *, inline: bool = False) -> Any:
    """A new array of tables, or with ``inline`` an array of inline tables."""
    tables = tomlkit.array() if inline else tomlkit.aot()
    for entry in want:
        tables.append(_fresh_table(section, entry, spec, inline=inline))
    return tables


def _fresh_document(profile: Profile) -> tomlkit.TOMLDocument:
    data = _data(profile)
    doc = tomlkit.document()
    doc.add(tomlkit.comment(_HEADER))
    doc.add(tomlkit.nl())
    sections = ["team"] if profile.team_only else list(_TOP)
    for key in sections:
        sub, value = _TOP[key], data[key]
        if isinstance(sub, _Tables):
            if value:
                doc.add(key, _fresh_tables(key, value, sub.spec))
        elif value is not None:
            doc.add(key, _fresh_table(key, value, sub.spec))
    return doc


def _ends_with_blank(item: Any) -> bool:
    """Whether a tomlkit table, array of tables or document ends with a blank line."""
    if isinstance(item, AoT):
        return bool(len(item)) and _ends_with_blank(item[-1])
    body = getattr(item, "body", None)
    if body is None:
        body = getattr(getattr(item, "value", None), "body", None)
    if not body:
        return False
    last = body[-1][1]
    if isinstance(last, Whitespace):
        return "\n" in last.as_string()
    return isinstance(last, (Table, AoT)) and _ends_with_blank(last)


def _add_table(container: Any, key: str, item: Table | AoT) -> None:
    """Add a new table where tomlkit puts it, keeping the blank line that closed the container."""
    closing = _ends_with_blank(container)
    if closing:
        (item[-1] if isinstance(item, AoT) else item).add(tomlkit.nl())
    container[key] = item


def _sync(container: Any, section: str, want: dict[str, Any], spec: dict[str, Any]) -> None:
    """Change in ``container`` (a tomlkit table) only what differs from ``want``."""
    inline = isinstance(container, InlineTable)
    for key, sub in spec.items():
        value = want[key]
        present = key in container
        if isinstance(sub, _Table):
            if value is None:
                if present:
                    del container[key]
            elif present:
                _sync(container[key], key, value, sub.spec)
            elif not sub.optional and _same(_current(None, sub.spec), value):
                continue  # absent and all defaults: leave it absent
            else:
                _add_table(container, key, _fresh_table(key, value, sub.spec, inline=inline))
        elif isinstance(sub, _Tables):
            current = [_current(entry, sub.spec) for entry in container[key]] if present else []
            if _same(current, value):
                continue
            if not value:
                del container[key]
            elif not present:
                _add_table(container, key, _fresh_tables(key, value, sub.spec, inline=inline))
            else:
                _sync_tables(container[key], key, current, value, sub.spec)
        else:
            current = _plain(container[key]) if present else sub
            if _same(current, value):
                continue
            if value is None:
                del container[key]
            elif present:
                old = container[key]
                new = _value_item("" if inline else section, key, value)
                if hasattr(old, "trivia"):  # keep the user's comment and spacing
                    new.trivia.indent = old.trivia.indent
                    new.trivia.comment_ws = old.trivia.comment_ws
                    new.trivia.comment = old.trivia.comment
                    new.trivia.trail = old.trivia.trail
                container[key] = new
            else:
                container[key] = _value_item("" if inline else section, key, value)


def _sync_tables(tables: Any, section: str, current: list[dict], want: list[dict], spec: dict[str, Any]) -> None:
    """Edit an array of tables (or of inline tables) entry by entry: unchanged entries keep their text."""
    inline = not isinstance(tables, AoT)
    keys_now = [json.dumps(c, sort_keys=True) for c in current]
    keys_want = [json.dumps(w, sort_keys=True) for w in want]
    ops = SequenceMatcher(None, keys_now, keys_want, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(ops):
        if tag == "equal":
            continue
        shared = min(i2 - i1, j2 - j1)
        for index in reversed(range(i1 + shared, i2)):
            del tables[index]
        for offset in range(shared):
            _sync(tables[i1 + offset], section, want[j1 + offset], spec)
        for offset, j in enumerate(range(j1 + shared, j2)):
            position = i1 + shared + offset
            entry = _fresh_table(section, want[j], spec, inline=inline)
            if inline:
                tables.insert(position, entry)
                continue
            # Entries are kept apart by a blank line, as tomlkit writes them.
            if position > 0 and not _ends_with_blank(tables[position - 1]):
                entry.trivia.indent = "\n"
            if position >= len(tables):
                if len(tables) and _ends_with_blank(tables[-1]):
                    entry.add(tomlkit.nl())  # the blank line that closed the array moves down
                tables.append(entry)
            else:
                entry.add(tomlkit.nl())
                tables.insert(position, entry)


def render_profile(profile: Profile) -> str:
    """The TOML text of ``profile``.

    With ``profile.source_text``, that text is edited in place: only the values
    that differ change, so comments, blank lines and key order survive. The
    result is checked by reading it back; if an unusual layout of the source
    defeats the in-place edit, a fresh document is written instead.
    """
    want = _data(profile)
    if profile.source_text is not None:
        try:
            doc = tomlkit.parse(profile.source_text)
            if profile.team_only:  # the rest of the file is not part of a team profile: left as it is
                _sync(doc, "", {"team": want["team"]}, {"team": _TOP["team"]})
            else:
                _sync(doc, "", want, _TOP)
            text = doc.as_string()
            if "\r\n" in profile.source_text:  # new lines end like the user's
                text = re.sub(r"(?<!\r)\n", "\r\n", text)
            if _matches(parse_profile(text), want, profile.team_only):
                return text
        except ProfileError:
            pass
        except Exception:  # noqa: BLE001 - tomlkit on an odd layout; the fresh document is correct
            pass
    try:
        text = _fresh_document(profile).as_string()
    except ProfileError:
        raise
    except (TypeError, ValueError) as exc:
        raise ProfileError(f"the profile holds a value TOML cannot represent: {exc}", path=profile.path) from exc
    try:
        back = parse_profile(text)
    except ProfileError as exc:
        raise ProfileError(exc.message, path=profile.path, field=exc.field) from None
    if not _matches(back, want, profile.team_only):
        raise ProfileError("the profile holds values that do not survive being written", path=profile.path)
    return text


def _matches(back: Profile, want: dict[str, Any], team_only: bool) -> bool:
    got = _data(back)
    if team_only:
        return _same(got["team"], want["team"])
    return _same(got, want)
