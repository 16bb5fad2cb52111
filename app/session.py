"""From a profile to the engine's objects: transports, deploy choices, the registry as clients see it.

Secrets come from environment variables whose names the profile holds, or
(onboarding) from the user; a missing one is a clear error (exit 2) naming the
variable or flag that gives it.
"""

from __future__ import annotations

from pathlib import Path

from app.clients.model import ClientKind, RegistryTarget
from app.profiles import ClientProfile, Profile, ProfileError, ServerProfile, TeamProfile, secret_from_env
from app.redact import Redactor, Secret
from app.registry import config as regconfig
from app.registry.deploy import DeployChoices
from app.registry.image import ImageSource
from app.targets import HostForm, parse_number, validate_host



class SetupError(Exception):
    """Something the user must set before regwiz can run (exit code 2)."""


def load_named_profile(name_or_path: str) -> Profile:
    """``--profile``'s profile; a name no file system can hold is bad input (exit 2), not a crash."""
    from app.profiles import load_profile

    try:
        return load_profile(name_or_path)
    except (OSError, ValueError) as exc:
        if isinstance(exc, ProfileError):
            raise
        reason = getattr(exc, "strerror", None) or exc.__class__.__name__
        raise SetupError(f"--profile {name_or_path[:60]!r}{'...' if len(name_or_path) > 60 else ''}: not a "
                         f"usable name or path ({reason}): give a saved profile's name or a profile file") from None


def _secret(var: str | None, what: str, redactor: Redactor | None, required: bool = False) -> Secret | None:
    secret = secret_from_env(var)
    if var and secret is None and required:
        raise SetupError(f"{what}: set the environment variable {var} (the profile names it)")
    if var and secret is None:
        raise SetupError(f"{what}: the environment variable {var} is not set: set it, or take the key that "
                         f"names it out of the profile")
    if redactor is not None and secret is not None:
        redactor.add(secret)
    return secret


def host_form(entry: ServerProfile | ClientProfile, redactor: Redactor | None) -> HostForm:
    if getattr(entry, "local", False) or getattr(entry, "kind", "") == "local":
        return HostForm(local=True, sudo_password=_secret(entry.sudo_password_env, "sudo password", redactor))
    password = _secret(entry.password_env, f"password for {entry.user}@{entry.host}", redactor)
    auth = "key" if entry.identity_file else "password" if password else "agent"
    return HostForm(host=entry.host, port=entry.port, user=entry.user, auth=auth, password=password,
                    identity_file=entry.identity_file or "",
                    passphrase=_secret(entry.passphrase_env, f"passphrase of {entry.identity_file}", redactor),
                    sudo_password=_secret(entry.sudo_password_env, "sudo password", redactor) or
                    (password if entry.user != "root" else None))


def client_kind(entry: ClientProfile) -> ClientKind | None:
    if entry.kind in ("auto", "local"):
        return None
    return ClientKind(entry.kind)


def deploy_choices(profile: Profile, redactor: Redactor | None) -> DeployChoices:
    reg = profile.registry
    storage: regconfig.FilesystemStorage | regconfig.OSSStorage = regconfig.FilesystemStorage(reg.storage)
    if reg.oss is not None:
        key_id = _secret(reg.oss.access_key_id_env, "OSS AccessKey ID", redactor, required=True)
        key_secret = _secret(reg.oss.access_key_secret_env, "OSS AccessKey secret", redactor, required=True)
        assert key_id is not None and key_secret is not None
        storage = regconfig.OSSStorage(bucket=reg.oss.bucket, region=reg.oss.region,
                                       access_key_id=key_id.reveal(), access_key_secret=key_secret.reveal(),
                                       endpoint=reg.oss.endpoint, internal=reg.oss.internal)
    users = {}
    if reg.auth == "htpasswd":
        for user in reg.users:
            secret = _secret(user.password_env, f"password of registry user {user.name}", redactor, required=True)
            if secret is None:
                raise SetupError(f"registry user {user.name} needs password_env in the profile")
            users[user.name] = secret
    address = "127.0.0.1" if profile.server.local else profile.server.host
    settings = regconfig.RegistrySettings(port=reg.port, tls=reg.tls, auth=reg.auth, storage=storage,
                                          mode=reg.mode, proxy_remote_url=reg.remote_url)
    return DeployChoices(
        settings=settings, names=[address, *reg.names], users=users,
        image=ImageSource.from_environment(kind=reg.image_source, mirror=reg.mirror),
        provided_cert=Path(reg.cert_file).expanduser() if reg.cert_file else None,
        provided_key=Path(reg.key_file).expanduser() if reg.key_file else None,
    )


def registry_target(profile: Profile, redactor: Redactor | None) -> RegistryTarget:
    from app.registry.prove import client_target

    return client_target(deploy_choices(profile, redactor))


def team_target(team: TeamProfile, redactor: Redactor | None, password: Secret | None = None) -> RegistryTarget:
    """The registry a team profile describes, as this machine's clients will use it.

    ``password`` (typed by the user) wins over the team profile's ``password_env``;
    either way it is added to ``redactor`` before anything can log it.
    """
    host, number = team_registry_address(team)
    if not team.username:
        password = None  # no login: nothing to send
    elif password:
        if redactor is not None:
            redactor.add(password)
    else:
        password = secret_from_env(team.password_env)
        if password is None:
            raise SetupError(missing_registry_password(team))
        if redactor is not None:
            redactor.add(password)
    return RegistryTarget(host, number, team.tls, team.ca_pem.encode() if team.ca_pem else None,
                          team.username, password, cache=team.mode == "cache")


def team_registry_address(team: TeamProfile) -> tuple[str, int]:
    """The team's registry host (without IPv6 brackets) and port, checked: bad input is a SetupError."""
    host, _, port = team.registry.rpartition(":")
    number = parse_number(port)
    if not host.strip("[]") or number is None or not 1 <= number <= 65535:
        raise SetupError(f"the team profile's registry must be HOST:PORT with a port of 1 to 65535 "
                         f"(found {team.registry!r}): fix [team] registry, or export the team profile again")
    # The address ends up in client paths and commands: only an address or a host name.
    problem = validate_host(host.strip("[]"))
    if problem:
        raise SetupError(f"the team profile's registry host {host!r}: {problem}: fix [team] registry")
    return host.strip("[]"), number


def missing_registry_password(team: TeamProfile) -> str:
    """What to do when the team's registry user has no password: both ways to give one."""
    named = f" (its password_env, {team.password_env}, is not set)" if team.password_env else ""
    return (f"the registry user {team.username} needs a password{named}: put it in an environment variable "
            f"and pass --password-env VAR, or name that variable as password_env in the team profile's [team]")


# -- what the wizard learned, into the profile (no secret: only what to ask again) --------

def profile_name_for(host: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", host).strip("-.") or "local"


def record_server(profile: Profile, form: HostForm) -> Profile:
    """The registry host, as the credentials step reached it."""
    server = profile.server
    server.local = form.local
    if not form.local:
        server.host, server.port, server.user = form.host, form.port, form.user
        server.identity_file = form.identity_file or None if form.auth == "key" else None
    return profile


def record_registry(profile: Profile, choices: DeployChoices) -> Profile:
    from app.profiles import RegistryUser

    settings = choices.settings
    reg = profile.registry
    reg.port, reg.tls, reg.auth, reg.mode = settings.port, settings.tls, settings.auth, settings.mode
    if isinstance(settings.storage, regconfig.FilesystemStorage):
        reg.storage = settings.storage.host_path
    known = {u.name: u for u in reg.users}
    reg.users = [known.get(name) or RegistryUser(name, None) for name in choices.users]
    reg.names = list(dict.fromkeys([*reg.names, *choices.names[1:]]))
    reg.image_source = choices.image.kind
    reg.mirror = choices.image.mirror
    if settings.mode == "cache":
        reg.remote_url = settings.proxy_remote_url
    return profile


def record_clients(profile: Profile, forms: dict[str, tuple[HostForm, ClientKind | None]]) -> Profile:
    from app.profiles import ClientProfile

    known = {(c.host, c.user): c for c in profile.clients}
    clients = []
    for form, kind in forms.values():
        key = ("", "") if form.local else (form.host, form.user)
        entry = known.get(key) or ClientProfile()
        if form.local:
            entry.kind = "local"
        else:
            entry.host, entry.port, entry.user = form.host, form.port, form.user
            entry.kind = kind.value if kind else entry.kind or "auto"
        clients.append(entry)
    profile.clients = clients
    return profile
