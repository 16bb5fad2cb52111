"""Saved plans: what ``--plan-out FILE`` writes and ``regwiz apply FILE`` applies, exactly.

The file is JSON, versioned (``"format": "regwiz-plan", "version": 1``), one entry per host
(the registry's server, or a client of the profile), each with its steps' plans in order::

    {"format": "regwiz-plan", "version": 1, "command": "clients", "profile": "/path/profile.toml",
     "created": "2026-12-01T14:00:00Z",
     "hosts": [{"role": "client", "name": "root@10.0.0.7", "kind": "sysv",
                "steps": [{"step": "docker-trust", "title": "...", "check": null,
                           "plan": {"summary": "...", "actions": ["..."], "decision": {...},
                                    "files_sudo": true, "typed_confirmation": null,
                                    "changes": [{"path": "/etc/default/docker", "mode": 420,
                                                 "sensitive": false, "before_sha256": "…" or null,
                                                 "after_sha256": "…" or null, "old": "…", "new": "…",
                                                 "diff": "…"}]}}]}]}

``before_sha256`` is the file as read at plan time (null: absent): apply refuses the host, naming
the file, when it is no longer so. A sensitive file (the server key, htpasswd, a config.yml with
cloud keys) has its digests and diff header only, never its text. Apply gets that text in one of
two ways, and checks its sha256 is the planned ``after_sha256``: planned again at apply time from
the profile and its ``*_env`` variables (config.yml: its text follows from them alone), or, for
what planning cannot give twice alike (a newly issued key, a bcrypt hash with a new salt), from
this machine's state folder (``plan-secrets/<sha256>``, mode 0600, as the CA key is kept): such a
plan is applied on the machine that made it.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import json
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import paths
from app.i18n import _
from app.remote_files import FileChange, sha256_text
from app.steps import Plan

FORMAT = "regwiz-plan"
VERSION = 1
ROLES = ("server", "client")


class PlanFileError(ValueError):
    """A plan file that cannot be applied: the message names the file and what is wrong in it."""


@dataclass
class SavedStep:
    step: str  # the step's kind (see commands.STEP_KINDS)
    title: str
    plan: Plan
    check: str | None = None  # a diagnosis fix: the check that offered it


@dataclass
class SavedHost:
    role: str  # "server" or "client"
    name: str  # the server's host, or the client's name as `clients` shows it
    kind: str | None = None  # a client's kind (ClientKind value)
    steps: list[SavedStep] = field(default_factory=list)


@dataclass
class SavedPlans:
    command: str
    profile: str
    hosts: list[SavedHost] = field(default_factory=list)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


# -- decisions: frozen dataclasses of str/int/bool/None, enums, tuples, addresses, dataclasses ------------

_ADDRESS_TYPES = (ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network,
                  ipaddress.IPv4Interface, ipaddress.IPv6Interface)


def encode_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, _ADDRESS_TYPES):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [encode_value(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode_value(getattr(value, f.name)) for f in dataclasses.fields(value) if f.compare}
    raise TypeError(f"a plan's decision cannot hold {type(value).__name__}")


def decode_value(kind: Any, data: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if data is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return decode_value(option, data, where)
            except PlanFileError:
                continue
        raise PlanFileError(_("{where}: {value} is not one of {choices}").format(where=where, value=repr(data),
                                                                                  choices=kind))
    if origin is tuple:
        if not isinstance(data, list):
            raise PlanFileError(_("{where}: a list was expected, found {found}").format(
                where=where, found=type(data).__name__))
        return tuple(decode_value(typing.get_args(kind)[0], v, f"{where}[{i}]") for i, v in enumerate(data))
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(data)
        except ValueError:
            raise PlanFileError(_("{where}: {value} is not one of {choices}").format(
                where=where, value=repr(data), choices=[m.value for m in kind])) from None
    if isinstance(kind, type) and issubclass(kind, _ADDRESS_TYPES):
        try:
            return kind(data)
        except (TypeError, ValueError):
            raise PlanFileError(_("{where}: {value} is not an address or network").format(
                where=where, value=repr(data))) from None
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return decode_dataclass(kind, data, where)
    if kind in (bool, int, str):
        if type(data) is not kind:
            raise PlanFileError(_("{where}: a {type} was expected, found {value}").format(
                where=where, type=kind.__name__, value=repr(data)))
        return data
    if kind is type(None) and data is None:
        return None
    raise PlanFileError(_("{where}: {value} does not fit {type}").format(where=where, value=repr(data), type=kind))


def decode_dataclass(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise PlanFileError(_("{where}: an object was expected, found {found}").format(
            where=where, found=type(data).__name__))
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if not f.compare:
            continue
        if f.name not in data:
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                continue  # a field added since the plan was saved: its default is the older behaviour
            raise PlanFileError(_("{where}: {key} is missing").format(where=where, key=repr(f.name)))
        values[f.name] = decode_value(hints[f.name], data[f.name], f"{where}.{f.name}")
    unknown = set(data) - set(values)
    if unknown:
        raise PlanFileError(_("{where}: unknown key(s) {keys}").format(where=where, keys=", ".join(sorted(unknown))))
    return cls(**values)


# -- writing -----------------------------------------------------------------------------------------

def secrets_dir() -> Path:
    return paths.state_dir() / "plan-secrets"


def keep_secret(text: str) -> str:
    """Keep a sensitive planned text on this machine (0600), by its sha256; return the digest."""
    digest = sha256_text(text)
    folder = paths.ensure_private_dir(secrets_dir())
    paths.write_atomic(folder / digest, text.encode(), 0o600)
    return digest


def kept_secret(digest: str) -> str | None:
    path = secrets_dir() / digest
    try:
        text = path.read_text()
    except OSError:
        return None
    return text if sha256_text(text) == digest else None


def _change_json(change: FileChange) -> dict[str, Any]:
    data: dict[str, Any] = {"path": change.path, "mode": change.mode, "sensitive": change.sensitive,
                            "before_sha256": change.before_sha256, "after_sha256": change.after_sha256,
                            "changes": change.changes_anything, "diff": change.diff()}
    if not change.sensitive:
        data["old"], data["new"] = change.old, change.new
    return data


def plan_json(plan: Plan) -> dict[str, Any]:
    return {"summary": plan.summary, "actions": list(plan.actions), "refused": plan.refused,
            "typed_confirmation": plan.typed_confirmation, "files_sudo": plan.files_sudo,
            "decision": encode_value(plan.decision), "changes": [_change_json(c) for c in plan.changes]}


def render(saved: SavedPlans) -> str:
    data = {"format": FORMAT, "version": VERSION, "command": saved.command, "profile": saved.profile,
            "created": saved.created,
            "hosts": [{"role": h.role, "name": h.name, "kind": h.kind,
                       "steps": [{"step": s.step, "title": s.title, "check": s.check, "plan": plan_json(s.plan)}
                                 for s in h.steps]} for h in saved.hosts]}
    return json.dumps(data, indent=2) + "\n"


def write(saved: SavedPlans, path: Path) -> None:
    path = path.expanduser()
    if path.parent and not path.parent.is_dir():
        raise PlanFileError(_("{path}: its folder {folder} does not exist").format(path=path, folder=path.parent))
    paths.write_atomic(path, render(saved).encode(), 0o644)


# -- reading -----------------------------------------------------------------------------------------

def _field(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, optional: bool = False) -> Any:
    if key not in data:
        if optional:
            return None
        raise PlanFileError(_("{where}: {key} is missing").format(where=where, key=repr(key)))
    value = data[key]
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else _(" or ").join(k.__name__ for k in kind)
        raise PlanFileError(_("{where}: {key} must be a {types}, found {value}").format(
            where=where, key=repr(key), types=names, value=f"{value!r:.60}"))
    return value


def _digest(data: dict[str, Any], key: str, where: str) -> str | None:
    value = _field(data, key, str, where, optional=True)
    if value is not None and (len(value) != 64 or any(c not in "0123456789abcdef" for c in value)):
        raise PlanFileError(_("{where}: {key} is not a sha256 in hex").format(where=where, key=repr(key)))
    return value


def _change(data: Any, where: str) -> FileChange:
    if not isinstance(data, dict):
        raise PlanFileError(_("{where}: an object was expected").format(where=where))
    path = _field(data, "path", str, where)
    if not path.startswith("/"):
        raise PlanFileError(_("{where}: 'path' must be absolute, found {value}").format(
            where=where, value=f"{path!r:.80}"))
    mode = _field(data, "mode", int, where)
    sensitive = _field(data, "sensitive", bool, where)
    before, after = _digest(data, "before_sha256", where), _digest(data, "after_sha256", where)
    if sensitive:
        if "old" in data or "new" in data:
            raise PlanFileError(_("{where}: a sensitive file's text is never in a plan file").format(where=where))
        changes = _field(data, "changes", bool, where)
        # The text comes at apply time (resolve_secrets); until then only its digests stand for it.
        return SensitiveChange(path, None, None, mode, True, before, planned_after=after, planned_change=changes)
    old = _field(data, "old", str, where, optional=True)
    new = _field(data, "new", str, where, optional=True)
    change = FileChange(path, old, new, mode, False)
    if change.before_sha256 != before or change.after_sha256 != after:
        raise PlanFileError(_("{where}: the digests do not match the file's old and new text (edited by "
                              "hand?)").format(where=where))
    return change


@dataclass(frozen=True)
class SensitiveChange(FileChange):
    """A sensitive file's planned change as read from a plan file: digests, no text yet."""

    planned_after: str | None = None
    planned_change: bool = False

    @property
    def changes_anything(self) -> bool:
        return self.planned_change if self.new is None else self.before_sha256 != self.after_sha256

    def with_text(self, text: str | None) -> FileChange:
        return FileChange(self.path, None, text, self.mode, True, self.before_sha256)


def _plan(data: Any, where: str, decision_type: type | None) -> Plan:
    if not isinstance(data, dict):
        raise PlanFileError(_("{where}: an object was expected").format(where=where))
    changes = _field(data, "changes", list, where)
    actions = _field(data, "actions", list, where)
    if not all(isinstance(a, str) for a in actions):
        raise PlanFileError(_("{where}: 'actions' must be a list of text").format(where=where))
    decision = None
    if decision_type is not None:
        decision = decode_value(decision_type, data.get("decision"), f"{where}.decision")
    elif data.get("decision") is not None:
        raise PlanFileError(_("{where}: this step takes no decision").format(where=where))
    return Plan(_field(data, "summary", str, where), changes=[_change(c, f"{where}.changes[{i}]")
                                                              for i, c in enumerate(changes)],
                actions=list(actions), typed_confirmation=_field(data, "typed_confirmation", str, where, True),
                refused=_field(data, "refused", str, where, True), decision=decision,
                files_sudo=_field(data, "files_sudo", bool, where))


def parse(text: str, source: str, decision_types: dict[str, type | None]) -> SavedPlans:
    """The plans of a plan file's text; ``decision_types``: each step kind's decision class."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PlanFileError(_("{source} is not JSON ({error}): give a file written by --plan-out").format(
            source=source, error=exc)) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PlanFileError(_("{source} is not a regwiz plan file (no {format}): give a file written by "
                              "--plan-out").format(source=source, format=f"\"format\": \"{FORMAT}\""))
    version = data.get("version")
    if version != VERSION:
        raise PlanFileError(_("{source}: plan file version {found}; this regwiz reads version {version}: "
                              "plan again with this regwiz").format(source=source, found=repr(version),
                                                                    version=VERSION))
    saved = SavedPlans(_field(data, "command", str, source), _field(data, "profile", str, source),
                       created=_field(data, "created", str, source))
    for i, host in enumerate(_field(data, "hosts", list, source)):
        where = f"{source}: hosts[{i}]"
        if not isinstance(host, dict):
            raise PlanFileError(_("{where}: an object was expected").format(where=where))
        role = _field(host, "role", str, where)
        if role not in ROLES:
            raise PlanFileError(_("{where}: 'role' must be one of {choices}, found {value}").format(
                where=where, choices=", ".join(ROLES), value=f"{role!r:.40}"))
        entry = SavedHost(role, _field(host, "name", str, where), _field(host, "kind", str, where, True))
        for j, step in enumerate(_field(host, "steps", list, where)):
            at = f"{where}.steps[{j}]"
            if not isinstance(step, dict):
                raise PlanFileError(_("{where}: an object was expected").format(where=at))
            kind = _field(step, "step", str, at)
            if kind not in decision_types:
                raise PlanFileError(_("{where}: unknown step {step} (known: {known})").format(
                    where=at, step=f"{kind!r:.40}", known=", ".join(sorted(decision_types))))
            entry.steps.append(SavedStep(kind, _field(step, "title", str, at),
                                         _plan(step.get("plan"), f"{at}.plan", decision_types[kind]),
                                         _field(step, "check", str, at, True)))
        saved.hosts.append(entry)
    return saved


def load(path: Path, decision_types: dict[str, type | None]) -> SavedPlans:
    try:
        text = path.expanduser().read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFileError(_("{path}: cannot be read ({reason})").format(
            path=path, reason=getattr(exc, "strerror", None) or exc)) from None
    return parse(text, str(path), decision_types)
