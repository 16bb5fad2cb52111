"""Onboarding a machine from a team profile: what the TUI and the headless command share.

A teammate gets a team profile (``regwiz export-team-profile``), reads it here from
a file or from pasted text, says which machine to set up (this one, or a host over
SSH) and, when the registry has a login, gives the registry password. What comes
back is a ``RegistryTarget`` and a ``ClientSpec`` for ``configure_clients``.

Nothing here stores a secret: passwords stay in ``Secret`` and go to the redactor.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from app.clients.configure import ClientResult, ClientSpec
from app.clients.model import ClientKind, RegistryTarget
from app.profiles import ProfileError, TeamProfile, parse_profile, secret_from_env
from app.i18n import N_, _
from app.redact import Redactor, Secret
from app.steps import Status
from app.targets import HostForm, parse_number, validate_host, validate_key_file, validate_port, validate_user

EXPORT_HINT = N_("make one with regwiz export-team-profile --profile NAME (or the Summary step's export)")


class OnboardError(Exception):
    """A team profile or an answer that cannot be used; the message says what to do."""


# -- the team profile -----------------------------------------------------------------

def registry_address_problem(registry: str) -> str | None:
    """None when ``HOST:PORT`` is usable by clients, else what is wrong and how to fix it."""
    host, sep, port = registry.rpartition(":")
    number = parse_number(port)
    if not sep or not host.strip("[]") or number is None or not 1 <= number <= 65535:
        return _("the registry must be HOST:PORT with a port of 1 to 65535 (found {found}): fix [team] registry, "
                 "or export the team profile again").format(found=repr(registry[:80]))
    problem = validate_host(host.strip("[]"))
    if problem:
        return _("the registry host {host}: {problem}: fix [team] registry").format(host=repr(host[:80]),
                                                                                  problem=problem)
    return None


def team_from_text(text: str, path: Path | None = None) -> TeamProfile:
    """The ``[team]`` of a team profile's text (pasted, or read from ``path``)."""
    where = f"{path}: " if path is not None else ""
    if not text.strip():
        raise OnboardError(where + _("the team profile is empty: paste its text, or give its file"))
    try:
        profile = parse_profile(text, path)
    except ProfileError as exc:
        raise OnboardError(_("{error}: fix it, or ask for the team profile again").format(error=exc)) from None
    team = profile.team
    if team is None:
        raise OnboardError(where + _("this is not a team profile (it has no [team] table): {hint}").format(
            hint=_(EXPORT_HINT)))
    problem = registry_address_problem(team.registry)
    if problem:
        raise OnboardError(f"{where}{problem}")
    return team


def team_from_file(given: str) -> tuple[TeamProfile, Path]:
    """The team profile in the file ``given`` (``~`` expanded) and its path."""
    if not given.strip():
        raise OnboardError(_("give the team profile's file (or paste its text)"))
    try:
        path = Path(given.strip()).expanduser()
        exists = path.is_file()
    except (OSError, RuntimeError, ValueError) as exc:  # too long, an unknown ~user, a NUL byte
        raise OnboardError(_("{given} is not a usable path ({error}): give the team profile's file").format(
            given=repr(given[:80]), error=exc.__class__.__name__)) from None
    if not exists:
        raise OnboardError(_("no file at {path}: give the file regwiz export-team-profile wrote").format(path=path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise OnboardError(_("{path} is not UTF-8 text: give the .toml file regwiz wrote").format(path=path)) from None
    except OSError as exc:
        raise OnboardError(_("cannot read {path} ({reason}): check its permissions").format(
            path=path, reason=exc.strerror or exc)) from None
    return team_from_text(text, path), path


def ca_fingerprint(ca_pem: str) -> str:
    """The CA's SHA256 fingerprint as the summary and openssl show it ("?" when it cannot be read)."""
    from cryptography import x509  # (loaded when needed: start-up time)
    from cryptography.hazmat.primitives import hashes

    try:
        digest = x509.load_pem_x509_certificate(ca_pem.encode()).fingerprint(hashes.SHA256())
    except ValueError:
        return "? (the certificate in the team profile cannot be read: ask for it again)"
    return ":".join(f"{b:02X}" for b in digest)


def needs_password(team: TeamProfile) -> bool:
    """The registry has a login: its user's password must be given."""
    return bool(team.username)


def password_from_env(team: TeamProfile) -> Secret | None:
    """The password from the team profile's ``password_env``, when that variable is set."""
    return secret_from_env(team.password_env) if needs_password(team) else None


def registry_for(team: TeamProfile, redactor: Redactor | None, password: Secret | None) -> RegistryTarget:
    """The registry as this machine's clients will use it, with ``password`` for its user.

    Raises OnboardError when the registry has a login and no password is given.
    """
    problem = registry_address_problem(team.registry)
    if problem:
        raise OnboardError(problem)
    if needs_password(team):
        if not password:
            via = _(" (or set {variable})").format(variable=team.password_env) if team.password_env else ""
            raise OnboardError(_("enter the password of registry user {user}").format(user=team.username) + via)
        if redactor is not None:
            redactor.add(password)  # before anything can log it
    from app.session import team_target

    # Without the user, team_target reads no variable and needs no password (so this call works
    # whether or not it takes a password itself); the user and password are set here.
    anonymous = dataclasses.replace(team, username=None, password_env=None)
    target = team_target(anonymous, redactor)
    if not needs_password(team):
        return target
    return dataclasses.replace(target, username=team.username, password=password)


# -- the machine --------------------------------------------------------------------

THIS_MACHINE = "this machine"


def local_spec(kind: ClientKind | None = None, sudo_password: Secret | None = None) -> ClientSpec:
    """This machine as the client to configure."""
    return ClientSpec(THIS_MACHINE, HostForm(local=True, sudo_password=sudo_password).transport, kind)


@dataclass
class HostAnswers:
    """What the user typed about the host to onboard (strings as typed; secrets wrapped)."""

    host: str
    port: str = "22"
    user: str = "root"
    auth: str = "password"  # password | key | agent
    password: Secret | None = None
    identity_file: str = ""
    passphrase: Secret | None = None


def host_problems(answers: HostAnswers) -> dict[str, str]:
    """Each field's problem (by field name: host, port, user, password, identity_file), none when usable."""
    problems = {
        "host": validate_host(answers.host),
        "port": validate_port(answers.port or "22"),
        "user": validate_user(answers.user or "root"),
    }
    if answers.auth == "password" and not answers.password:
        problems["password"] = _("enter the SSH password (or choose a key file or the agent)")
    if answers.auth == "key":
        problems["identity_file"] = validate_key_file(answers.identity_file)
    return {name: problem for name, problem in problems.items() if problem}


def host_form(answers: HostAnswers, redactor: Redactor | None) -> HostForm:
    """The host as a HostForm; raises OnboardError naming the first field that is wrong."""
    problems = host_problems(answers)
    if problems:
        name, problem = next(iter(problems.items()))
        raise OnboardError(f"{name.replace('_', ' ')}: {problem}")
    user = (answers.user or "root").strip()
    password = answers.password if answers.auth == "password" else None
    form = HostForm(host=answers.host.strip(), port=parse_number(answers.port or "22") or 22, user=user,
                    auth=answers.auth, password=password, identity_file=answers.identity_file.strip(),
                    passphrase=answers.passphrase if answers.auth == "key" else None,
                    # A non-root user runs sudo with the login password (none for a key or the agent).
                    sudo_password=password if user != "root" else None)
    if redactor is not None:
        form.register_secrets(redactor)
    return form


def host_spec(form: HostForm, kind: ClientKind | None = None) -> ClientSpec:
    """A host over SSH as the client to configure, named as the user knows it."""
    return ClientSpec(f"{form.user}@{form.host}", form.transport, kind)


# -- the outcome ------------------------------------------------------------------

def registry_refused(message: str) -> bool:
    """The registry refused the login (wrong password or user), in regwiz's or docker's words."""
    low = message.lower()
    if "registry refused" in low or "incorrect username or password" in low:
        return True
    # A failed `docker login`/`podman login` (a failed pull saying "unauthorized" only wants a login).
    return "login" in low and "--password-stdin" in low and ("unauthorized" in low or "401" in low)


@dataclass
class OnboardOutcome:
    done: bool  # the pull on the machine worked
    password_refused: bool  # the registry refused the password: ask for it again
    message: str  # one sentence: what happened and what to do


def outcome_of(result: ClientResult, registry: RegistryTarget) -> OnboardOutcome:
    """What the configuring of one machine means for the user: done only when its pull worked."""
    if result.status is Status.OK and result.pull_seconds is not None:
        return OnboardOutcome(True, False, _("Done: {client} pulled {image} in {seconds:.1f} s. It can push and "
                                             "pull now.").format(client=result.name, image=registry.image_ref(),
                                                                 seconds=result.pull_seconds))
    if result.status is Status.OK:  # e.g. containerd: trusted, yet nothing pulled to prove it
        return OnboardOutcome(False, False, _("{client}: {message}. Not proven by a pull: pull an image there to "
                                              "check.").format(client=result.name, message=result.message))
    if result.status is Status.SKIPPED:
        return OnboardOutcome(False, False, _("{client}: nothing changed (the plan was not confirmed). Press ctrl+r "
                                              "to see it again.").format(client=result.name))
    if registry_refused(result.message):
        return OnboardOutcome(False, True, _("The registry refused the password of user {user}: retype it and "
                                             "press ctrl+r.").format(user=registry.username))
    return OnboardOutcome(False, False, _("{client} is not done: {reason}").format(
        client=result.name, reason=result.message or result.status.value))
