"""The registry container's ``config.yml`` (CNCF distribution 2.x).

registry:2 reads ``/etc/docker/registry/config.yml``. No YAML library is
available, so ``to_yaml`` is a tiny deterministic emitter: every string is
double-quoted with JSON-style escapes, which both YAML 1.1 (go-yaml, what
distribution uses) and YAML 1.2 read back exactly.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass, field
from typing import Union
from urllib.parse import urlsplit

CONTAINER_CONFIG_PATH = "/etc/docker/registry/config.yml"
CONTAINER_CERT = "/etc/regwiz/certs/server.crt"
CONTAINER_KEY = "/etc/regwiz/certs/server.key"
CONTAINER_HTPASSWD = "/etc/regwiz/auth/htpasswd"
CONTAINER_DATA = "/var/lib/registry"
CONTAINER_ADDR = ":5000"  # inside the container; docker publishes the host port

TLS_CHOICES = ("own-ca", "provided", "none")
AUTH_CHOICES = ("htpasswd", "none")
MODE_CHOICES = ("private", "cache")

# --- YAML emitter ------------------------------------------------------------

Yaml = Union[dict, list, str, int, bool, None]

_PLAIN_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
# YAML 1.1 reads these bare words as booleans or null, even as keys.
_YAML11_SPECIAL = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _needs_escape(ch: str) -> bool:
    """Characters YAML would not keep as they are inside a double-quoted scalar."""
    code = ord(ch)
    return (
        code < 0x20
        or 0x7F <= code <= 0x9F  # DEL and C1 controls (incl. NEL, a YAML line break)
        or code in (0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF)  # line/paragraph separators, BOM
    )


def quote(text: str) -> str:
    """A double-quoted scalar that YAML and ``json.loads`` both read back as ``text``."""
    out = []
    for ch in text:
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            # go-yaml refuses \\uD8xx escapes and UTF-8 cannot carry a lone surrogate.
            raise ValueError(f"string contains a lone surrogate: {text!r}")
        elif _needs_escape(ch):
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)  # other non-ASCII stays as UTF-8: astral \\u pairs break go-yaml
    return '"' + "".join(out) + '"'


def _scalar(value: Yaml) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, dict):
        return "{}"  # only reached when empty
    if isinstance(value, list):
        return "[]"
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"YAML mapping keys must be strings, not {type(key).__name__}")
    plain = _PLAIN_KEY_RE.fullmatch(key) and key.lower() not in _YAML11_SPECIAL
    return key if plain else quote(key)


def _is_block(value: Yaml) -> bool:
    return isinstance(value, (dict, list)) and bool(value)


def to_yaml(value: Yaml, indent: int = 0) -> str:
    """Block-style YAML for nested dicts and lists of scalars, two spaces per level."""
    pad = " " * indent
    if isinstance(value, dict) and value:
        return "".join(_mapping_entry(k, v, indent) for k, v in value.items())
    if isinstance(value, list) and value:
        return "".join(_sequence_item(item, indent) for item in value)
    return f"{pad}{_scalar(value)}\n"


def _mapping_entry(key: object, value: Yaml, indent: int) -> str:
    pad = " " * indent
    if _is_block(value):
        return f"{pad}{_key(key)}:\n" + to_yaml(value, indent + 2)
    return f"{pad}{_key(key)}: {_scalar(value)}\n"


def _sequence_item(item: Yaml, indent: int) -> str:
    pad = " " * indent
    if not _is_block(item):
        return f"{pad}- {_scalar(item)}\n"
    # Render one level deeper, then let "- " take the place of the first indent.
    nested = to_yaml(item, indent + 2)
    return f"{pad}- " + nested[indent + 2 :]


# --- settings ----------------------------------------------------------------


@dataclass(frozen=True)
class OSSStorage:
    """Aliyun OSS (the ``oss`` driver exists in distribution 2.x, not in v3)."""

    bucket: str
    region: str  # e.g. "oss-cn-hangzhou"
    access_key_id: str
    access_key_secret: str = field(repr=False)  # a secret: never in a repr or a log
    endpoint: str | None = None  # custom endpoint
    internal: bool = False  # use the internal (VPC) endpoint
    secure: bool = True
    root_directory: str = "/registry"


@dataclass(frozen=True)
class FilesystemStorage:
    host_path: str = "/var/lib/registry"  # on the host; mounted at CONTAINER_DATA


@dataclass(frozen=True)
class RegistrySettings:
    port: int = 5000  # published on the host
    tls: str = "own-ca"  # own-ca | provided | none
    auth: str = "htpasswd"  # htpasswd | none
    storage: FilesystemStorage | OSSStorage = FilesystemStorage()
    mode: str = "private"  # private | cache
    proxy_remote_url: str = "https://registry-1.docker.io"  # used when mode == "cache"
    proxy_username: str | None = None
    proxy_password: str | None = field(default=None, repr=False)
    delete_enabled: bool = True

    def validate(self) -> list[str]:
        """Human messages for bad values; empty when all is fine."""
        problems = _check_choices(self)
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            problems.append(f"Port must be a number from 1 to 65535, not {self.port!r}.")
        if self.mode == "cache":
            problems += _check_proxy(self)
        if isinstance(self.storage, OSSStorage):
            problems += _check_oss(self.storage)
        else:
            problems += check_storage_path(self.storage.host_path)
        return problems


def check_storage_path(path: str) -> list[str]:
    """The storage folder becomes half of `docker run -v HOST:CONTAINER`: no separators in it."""
    if not path.startswith("/"):
        return [f"Storage folder must be an absolute path, not {path!r}."]
    if any(c in path for c in ":,") or any(ord(c) < 32 or ord(c) == 127 for c in path):
        return [f"Storage folder must not contain ':', ',' or control characters (found {path!r})."]
    return []


def _check_choices(settings: RegistrySettings) -> list[str]:
    problems = []
    for label, value, choices in (
        ("TLS", settings.tls, TLS_CHOICES),
        ("Authentication", settings.auth, AUTH_CHOICES),
        ("Mode", settings.mode, MODE_CHOICES),
    ):
        if value not in choices:
            problems.append(f"{label} must be one of {', '.join(choices)}, not {value!r}.")
    return problems


def _check_proxy(settings: RegistrySettings) -> list[str]:
    problems = []
    url = urlsplit(settings.proxy_remote_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        problems.append(
            f"Upstream registry URL must look like https://registry-1.docker.io, not {settings.proxy_remote_url!r}."
        )
    if bool(settings.proxy_username) != bool(settings.proxy_password):
        problems.append("Upstream registry user name and password go together: give both or neither.")
    return problems


def _check_oss(oss: OSSStorage) -> list[str]:
    problems = []
    if not oss.bucket.strip():
        problems.append("OSS bucket must not be empty.")
    if not re.fullmatch(r"oss-[a-z0-9-]+", oss.region):
        problems.append(f"OSS region must look like oss-cn-hangzhou, not {oss.region!r}.")
    if not oss.access_key_id.strip() or not oss.access_key_secret.strip():
        problems.append("OSS AccessKey ID and AccessKey secret must not be empty.")
    if not oss.root_directory.startswith("/"):
        problems.append(f"OSS root directory must start with '/', not {oss.root_directory!r}.")
    return problems


# --- config.yml --------------------------------------------------------------


def _storage(settings: RegistrySettings) -> dict:
    store = settings.storage
    if isinstance(store, OSSStorage):
        oss: dict = {
            "accesskeyid": store.access_key_id,
            "accesskeysecret": store.access_key_secret,
            "region": store.region,
            "bucket": store.bucket,
        }
        if store.endpoint:
            oss["endpoint"] = store.endpoint
        # The driver type-checks these as booleans: never write them as strings.
        oss |= {"internal": store.internal, "encrypt": False, "secure": store.secure,
                "rootdirectory": store.root_directory}
        result: dict = {"oss": oss}
    else:
        result = {"filesystem": {"rootdirectory": CONTAINER_DATA}}
    if settings.delete_enabled:
        result["delete"] = {"enabled": True}
    # No blob descriptor cache: `registry garbage-collect` runs beside the serving registry, which
    # would go on listing swept blobs from an in-memory cache (distribution#1803, #2966, #4569); on
    # filesystem storage a blob's stat is a file read anyway.
    return result


def _http(settings: RegistrySettings) -> dict:
    http: dict = {"addr": CONTAINER_ADDR, "headers": {"X-Content-Type-Options": ["nosniff"]}}
    if settings.tls != "none":
        http["tls"] = {"certificate": CONTAINER_CERT, "key": CONTAINER_KEY}
    return http


def _proxy(settings: RegistrySettings) -> dict:
    proxy: dict = {"remoteurl": settings.proxy_remote_url}
    if settings.proxy_username:
        proxy["username"] = settings.proxy_username
    if settings.proxy_password:
        proxy["password"] = settings.proxy_password
    return proxy


def config_dict(settings: RegistrySettings) -> dict:
    config: dict = {
        "version": "0.1",
        "log": {"fields": {"service": "registry"}},
        "storage": _storage(settings),
        "http": _http(settings),
    }
    if settings.auth == "htpasswd":
        config["auth"] = {"htpasswd": {"realm": "regwiz", "path": CONTAINER_HTPASSWD}}
    if settings.mode == "cache":
        config["proxy"] = _proxy(settings)
    config["health"] = {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}}
    return config


def render_config(settings: RegistrySettings) -> str:
    return to_yaml(config_dict(settings))


def config_digest(text: str) -> str:
    """sha256 of the rendered config: a container label that shows when choices changed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- maintenance -------------------------------------------------------------


def delete_enabled(text: str) -> bool:
    """Whether a regwiz config.yml turns deletes on (``storage.delete.enabled: true``)."""
    lines = text.splitlines(keepends=True)
    if "storage:\n" not in lines:
        return False
    block = list(itertools.takewhile(lambda line: line.startswith(" ") or not line.strip(),
                                     lines[lines.index("storage:\n") + 1:]))
    for number, line in enumerate(block[:-1]):
        if line.strip() == "delete:" and block[number + 1].strip() == "enabled: true":
            return True
    return False
