"""The end of the wizard: what was set up, what changed where, and how to use it from here.

``build_summary`` gathers it from the run (the deploy choices, each client's result,
the files the run changed) without touching any host; ``export_team_profile`` writes
the team profile a teammate onboards with. It says only what is true: a client is
listed as done only when its result is OK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.clients.configure import ClientResult
from app.i18n import _
from app.profiles import (Profile, ProfileError, RegistryUser, ServerProfile, load_profile, render_profile,
                          team_profile_from)
from app.registry.deploy import DeployChoices
from app.paths import write_atomic
from app.runlog import FileChangeRecord
from app.steps import Status

DEFAULT_TEAM_FILE = "team.toml"
NEW_FILE = "new file"

_LOOPBACK = ("localhost", "::1")


@dataclass
class ClientLine:
    name: str
    kind: str  # "?" when it was never detected
    status: Status
    seconds: float | None  # the proving pull's time, when it pulled
    message: str

    @property
    def done(self) -> bool:
        return self.status is Status.OK


@dataclass
class ChangeLine:
    host: str  # "this machine" for the local one
    path: str
    backup: str  # the backup's path, or NEW_FILE (delete the file to undo)


@dataclass
class SetupSummary:
    deployed: bool  # a registry was deployed in this run
    address: str = ""  # HOST:PORT as clients reach it
    url: str = ""  # https://HOST:PORT, or http:// without TLS
    tls: str = "none"  # own-ca | provided | none
    auth: str = "none"  # htpasswd | none
    mode: str = "private"  # private | cache
    ca_file: Path | None = None
    ca_fingerprint: str | None = None  # SHA256, as openssl x509 -fingerprint -sha256 shows it
    ca_pem: str | None = None
    users: list[str] = field(default_factory=list)
    clients: list[ClientLine] = field(default_factory=list)
    changes: list[ChangeLine] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # how to use the registry, ready to paste
    actions: list[str] = field(default_factory=list)  # what to do from here
    profile_path: Path | None = None  # the saved profile (the dashboard opens it)
    team: Profile | None = None  # the team profile made from this set-up
    team_problem: str | None = None  # why there is none

    @property
    def clients_done(self) -> list[ClientLine]:
        return [c for c in self.clients if c.done]

    def lines(self) -> list[str]:
        """The whole summary as plain text (the headless output and the tests read it)."""
        out = [_("Registry: {url}").format(url=self.url) if self.deployed else _("Registry: not deployed in this run")]
        if self.ca_file:
            out += [_("CA certificate: {path}").format(path=self.ca_file),
                    "  " + _("SHA256 fingerprint {fingerprint}").format(fingerprint=self.ca_fingerprint)]
        out.append(_("Users: {users}").format(users=", ".join(self.users)) if self.users
                   else _("Users: none (no login)"))
        out.append(_("Clients ({done} of {total} done):").format(done=len(self.clients_done), total=len(self.clients)))
        out += [f"  {client_text(c)}" for c in self.clients] or ["  " + _("none configured in this run")]
        out.append(_("Files changed:"))
        out += ["  " + _("{host}: {path} (backup: {backup})").format(host=c.host, path=c.path, backup=c.backup)
                for c in self.changes] or ["  " + _("none")]
        out += [_("Use it:")] + [f"  {c}" for c in self.commands]
        out += [_("From here:")] + [f"  {a}" for a in self.actions]
        return out


def client_text(client: ClientLine) -> str:
    mark = "✓ " + _("done") if client.done else "✗ " + _(client.status.value)  # (marked in app/headless.py)
    timing = _(", pull {seconds:.1f} s").format(seconds=client.seconds) if client.seconds is not None else ""
    return f"{client.name} ({client.kind}): {mark}{timing}: {client.message}"


def _loopback(host: str) -> bool:
    return host in _LOOPBACK or host.startswith("127.")


def _saved_profile(path: Path | None) -> Profile | None:
    if path is None:
        return None
    try:
        return load_profile(str(path))
    except ProfileError:
        return None  # the summary still shows what this run did; the export names no variables


def _team_profile(choices: DeployChoices, ca_pem: str | None, saved: Profile | None) -> tuple[Profile | None,
                                                                                                 str | None]:
    """The team profile of this registry, from what was deployed (not from how its host was reached)."""
    from app.session import record_registry

    first = choices.names[0] if choices.names else ""
    local = _loopback(first)
    profile = Profile(server=ServerProfile(host="" if local else first, local=local))
    record_registry(profile, choices)
    if saved is not None:  # the variables the saved profile names for the users' passwords
        envs = {u.name: u.password_env for u in saved.registry.users}
        profile.registry.users = [RegistryUser(u.name, envs.get(u.name)) for u in profile.registry.users]
    try:
        return team_profile_from(profile, ca_pem), None
    except ProfileError as exc:
        return None, exc.message + _(" (the registry runs on this machine at {address}: deploy it with an address "
                                     "teammates reach as an extra name)").format(address=first)


def _commands(address: str, tls: str, auth: str, mode: str, user: str | None) -> list[str]:
    lines = []
    if auth == "htpasswd":
        lines.append(f"docker login {address} -u {user or 'USER'}")
    if mode == "cache":
        lines += [f"docker pull {address}/library/alpine:latest   # through the cache",
                  f'daemon.json: "registry-mirrors": ["{"http" if tls == "none" else "https"}://{address}"]']
    else:
        lines += [f"docker tag IMAGE {address}/NAME:TAG",
                  f"docker push {address}/NAME:TAG",
                  f"docker pull {address}/NAME:TAG"]
    lines.append("regwiz onboard team.toml   # on a teammate's machine (or --host USER@HOST)")
    return lines


def build_summary(choices: DeployChoices | None, client_results: list[ClientResult],
                  changes: list[FileChangeRecord], profile_path: Path | None) -> SetupSummary:
    """What this run set up, from its own records (no host is asked)."""
    summary = SetupSummary(deployed=choices is not None, profile_path=profile_path)
    summary.clients = [ClientLine(r.name, r.kind.value if r.kind else "?", r.status, r.pull_seconds,
                                  r.message) for r in client_results]
    summary.changes = [ChangeLine(c.host or "this machine", c.path, c.backup or NEW_FILE) for c in changes]
    if choices is not None:
        settings = choices.settings
        summary.address = choices.address
        summary.url = f"{'http' if settings.tls == 'none' else 'https'}://{choices.address}"
        summary.tls, summary.auth, summary.mode = settings.tls, settings.auth, settings.mode
        summary.users = list(choices.users) if settings.auth == "htpasswd" else []
        if settings.tls == "own-ca":
            from app import pki

            ca = pki.load_or_create_ca()
            summary.ca_file, summary.ca_fingerprint = ca.cert_path, ca.fingerprint_sha256
            summary.ca_pem = ca.cert_pem.decode()
        summary.commands = _commands(choices.address, settings.tls, settings.auth, settings.mode,
                                     summary.users[0] if summary.users else None)
        summary.team, summary.team_problem = _team_profile(choices, summary.ca_pem, _saved_profile(profile_path))
    else:
        summary.team_problem = "no registry was deployed in this run: deploy one first"
    summary.actions = _actions(summary)
    return summary


def _actions(summary: SetupSummary) -> list[str]:
    actions = []
    if summary.profile_path is not None:
        actions.append(_("Check its health any time: {command} (the dashboard)").format(
            command=f"regwiz --profile {summary.profile_path.stem}"))
    else:
        actions.append(_("The dashboard needs a saved profile: none was saved in this run"))
    if summary.team is not None:
        actions.append(_("Share it: export the team profile; teammates run {command}").format(
            command="regwiz onboard FILE"))
    failed = [c.name for c in summary.clients if not c.done]
    if failed:
        actions.append(_("Not done: {clients}: go back to Clients (Escape) to see why and retry").format(
            clients=", ".join(failed)))
    actions.append(_("Onboard another machine from here"))
    return actions


class ExportError(Exception):
    """The team profile could not be written; the message says what to do."""


class ExportExists(ExportError):
    """The file exists: it is overwritten only when the user says so."""


class ExportUnwritable(ExportError):
    """The file's folder cannot be written; a caller that named the file another way words its own advice."""

    def __init__(self, message: str, path: Path, reason: str) -> None:
        super().__init__(message)
        self.path, self.reason = path, reason


def default_export_path(cwd: Path | None = None) -> Path:
    return (cwd or Path.cwd()) / DEFAULT_TEAM_FILE


def export_team_profile(summary: SetupSummary, given: str, overwrite: bool = False) -> Path:
    """Write the set-up's team profile (with the CA when own-ca) to ``given``; return the path written."""
    if summary.team is None:
        raise ExportError(summary.team_problem or "there is no team profile to export")
    return write_team_profile(summary.team, given, overwrite)


def write_team_profile(team: Profile, given: str, overwrite: bool = False) -> Path:
    """Write a team profile to the file ``given``, atomically; an existing file only when ``overwrite``."""
    if not given.strip():
        raise ExportError(_("give the file to write the team profile to"))
    if not team.team_only:  # it is readable by others: nothing about how the server is reached may go in
        raise ExportError(_("this is a whole profile, not a team profile: make one with the Summary step's export "
                            "or {command}").format(command="regwiz export-team-profile"))
    try:
        path = Path(given.strip()).expanduser().absolute()
        exists, is_dir = path.exists(), path.is_dir()
    except (OSError, RuntimeError, ValueError) as exc:
        raise ExportError(_("{given} is not a usable path ({error}): give a file name such as {example}").format(
            given=repr(given[:80]), error=exc.__class__.__name__, example=DEFAULT_TEAM_FILE)) from None
    if is_dir:
        raise ExportError(_("{path} is a folder: give a file name in it, e.g. {example}").format(
            path=path, example=path / DEFAULT_TEAM_FILE))
    if exists and not overwrite:
        raise ExportExists(_("{path} exists already").format(path=path))
    text = render_profile(team)
    try:
        # Atomic: a teammate never reads half a file. No secret in it, so readable by others.
        write_atomic(path, text.encode("utf-8"), 0o644)
    except OSError as exc:
        reason = str(exc.strerror or exc)
        raise ExportUnwritable(_("cannot write {path} ({reason}): give a file in a folder you can write to").format(
            path=path, reason=reason), path, reason) from None
    return path
