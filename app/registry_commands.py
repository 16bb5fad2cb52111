"""``regwiz registry ls|prune|users``, ``regwiz cert renew`` and ``regwiz ca rotate``: the registry after day one.

Only argparse is imported at the top: building the parser must stay cheap (``regwiz --help``); the
engine is imported when a command runs. Exit codes as every headless command: 0 all is well, 1 a
failure, 2 bad input. Passwords come only from environment variables named on the command line.
"""

from __future__ import annotations

import argparse
import copy
from typing import TYPE_CHECKING, Any

from app.i18n import N_, _

if TYPE_CHECKING:
    from pathlib import Path

    from app.headless import Run
    from app.profiles import Profile
    from app.redact import Redactor
    from app.registry.client import RegistryEndpoint
    from app.registry.ops import PrunePlan
    from app.transport import Transport

OK, FAILED, USAGE = 0, 1, 2


# --- the parser ------------------------------------------------------------------------


def _options(parser: argparse.ArgumentParser, *, yes: bool, nested: bool = False) -> None:
    """--profile, --json, --trust-host-key (and --yes) on a parser. ``nested``: a sub-command's copy, whose
    SUPPRESS default leaves a value given before the sub-command in place (argparse would reset it)."""
    default: Any = argparse.SUPPRESS if nested else None
    parser.add_argument("--profile", metavar="NAME_OR_PATH", default=default,
                        help=_("a saved profile's name, or the path of a profile file"))
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS if nested else False,
                        help=_("JSON lines on stdout"))
    parser.add_argument("--trust-host-key", metavar="SHA256:...", default=default,
                        help=_("accept an unknown host key with exactly this fingerprint"))
    if yes:
        parser.add_argument("--yes", action="store_true", default=argparse.SUPPRESS if nested else False,
                            help=_("apply (without it, the plan is only shown)"))


def add_parsers(sub: Any) -> None:
    """The ``registry`` and ``cert`` commands, on cli.py's sub-parsers."""
    registry = sub.add_parser("registry", help=_("the registry's tags, pruning and users"),
                              description=_("What the registry holds, pruning old tags, and its users."))
    verbs = registry.add_subparsers(dest="registry_command", metavar="ACTION", required=True)
    ls = verbs.add_parser("ls", help=_("every repository and tag, with digest, size and push time"),
                          description=_("Every repository and tag with its manifest digest, its size (config and "
                                      "layers, as stored) and when it was pushed; then the bytes the storage "
                                      "takes on the host."))
    _options(ls, yes=False)
    ls.add_argument("--repo", metavar="NAME", help=_("only this repository"))

    prune = verbs.add_parser("prune", help=_("delete old tags and give their space back"),
                             description=_("Plan which tags go (all but the newest N of each repository, or those "
                                         "older than DAYS) and the bytes that come back; with --yes delete them, "
                                         "garbage-collect with pushes held off, and measure the space again."))
    _options(prune, yes=True)
    rule = prune.add_mutually_exclusive_group(required=True)
    rule.add_argument("--keep", type=int, metavar="N", help=_("keep the N newest tags of each repository"))
    rule.add_argument("--older-than", type=float, metavar="DAYS", help=_("delete tags pushed over DAYS days ago"))
    prune.add_argument("--repo", metavar="NAME", help=_("only this repository"))

    users = verbs.add_parser("users", help=_("add, rotate or remove a registry user (no restart)"),
                             description=_("Change the registry's htpasswd: the registry re-reads it, no restart. "
                                         "The profile records the user and its password variable, never the "
                                         "password."))
    _options(users, yes=True)  # --yes accepted (scripts pass it everywhere); the change is applied as asked
    actions = users.add_subparsers(dest="users_command", metavar="add|remove|rotate", required=True)
    for name, text in (("add", _("add a user")), ("rotate", _("give a user a new password")),
                       ("remove", _("remove a user"))):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument("name", metavar="NAME", help=_("the registry user"))
        if name != "remove":
            action.add_argument("--password-env", metavar="VAR", required=True,
                                help=_("the environment variable holding the password"))
        _options(action, yes=True, nested=True)

    cert = sub.add_parser("cert", help=_("the registry's TLS certificate"),
                          description=_("The registry's certificate."))
    cert_verbs = cert.add_subparsers(dest="cert_command", metavar="ACTION", required=True)
    renew = cert_verbs.add_parser("renew", help=_("a new server certificate from the same CA"),
                                  description=_("Issue a new server certificate from regwiz's CA for the names and "
                                              "addresses clients use now (the host's addresses read again), "
                                              "restart the registry with it and prove it. Clients keep working: "
                                              "they trust the CA, not the certificate."))
    _options(renew, yes=True)

    ca = sub.add_parser("ca", help=_("regwiz's certificate authority"), description=_("regwiz's own CA."))
    ca_verbs = ca.add_subparsers(dest="ca_command", metavar="ACTION", required=True)
    rotate = ca_verbs.add_parser(
        "rotate", help=_("a new CA: every client trusts it, the registry moves to it, the old CA goes"),
        description=_("Make a new CA beside the old one; make every client of the profile trust both; give "
                    "the registry a certificate from the new CA; prove a pull on each client; then remove "
                    "the old CA from them. A client that cannot be reached is listed (exit 1): finish it "
                    "later with --resume."))
    _options(rotate, yes=True)
    rotate.add_argument("--resume", action="store_true",
                        help=_("finish the rotation in progress (the clients it could not reach)"))


# --- from the profile ----------------------------------------------------------------


def _setup_error(message: str) -> Exception:
    from app.session import SetupError

    return SetupError(message)


def _profile(args: argparse.Namespace) -> Profile:
    from app.session import load_named_profile

    if not getattr(args, "profile", None):
        raise _setup_error(_("{option} is needed: the profile of the registry's host").format(
            option="--profile NAME_OR_PATH"))
    return load_named_profile(args.profile)


def _run(args: argparse.Namespace, yes: bool) -> Run:
    from app.headless import Output, Run

    return Run(Output(bool(getattr(args, "json", False))), yes, getattr(args, "trust_host_key", None))


def _ca_pem(profile: Profile) -> bytes | None:
    """regwiz's CA certificate for an own-ca registry; never made here (a new CA would trust nothing)."""
    from app import pki

    if profile.registry.tls != "own-ca":
        return None
    if not (pki.ca_dir() / pki.CA_CERT_NAME).exists():
        raise _setup_error(_("regwiz's CA is not in {folder}: run this where the registry was deployed (or copy "
                             "that CA folder here)").format(folder=pki.ca_dir()))
    current = pki.load_or_create_ca().cert_pem
    try:
        previous = pki.previous_ca()  # a rotation in progress: the registry may still show the old CA's certificate
    except pki.PKIError as exc:
        raise _setup_error(_("{error} (kept by an unfinished regwiz ca rotate)").format(error=exc)) from None
    return pki.trust_bundle(current, previous.cert_pem) if previous else current


def _registry_host(profile: Profile) -> str:
    return "127.0.0.1" if profile.server.local else profile.server.host


def _credentials(profile: Profile, redactor: Redactor) -> tuple[str | None, str | None]:
    """The first registry user whose password variable is set (one login is all these commands need)."""
    from app.profiles import secret_from_env

    reg = profile.registry
    if reg.auth != "htpasswd":
        return None, None
    for user in reg.users:
        secret = secret_from_env(user.password_env)
        if secret is not None:
            redactor.add(secret)
            return user.name, secret.reveal()
    named = ", ".join(f"${u.password_env} ({u.name})" for u in reg.users if u.password_env)
    raise _setup_error(_("a registry user's password is needed to read the registry: set {what}").format(
        what=named or _("password_env for a [[registry.users]] entry in the profile, and that variable")))


def _endpoint(profile: Profile, redactor: Redactor, username: str | None = None,
              password: str | None = None) -> RegistryEndpoint:
    from app.registry.client import RegistryEndpoint

    if username is None:
        username, password = _credentials(profile, redactor)
    reg = profile.registry
    return RegistryEndpoint(_registry_host(profile), reg.port, reg.tls != "none", _ca_pem(profile), username, password)


def _storage(profile: Profile) -> str | None:
    return None if profile.registry.oss is not None else profile.registry.storage


def _check_repo(name: str | None) -> None:
    from app.registry.client import is_valid_repository

    if name is not None and not is_valid_repository(name):
        raise _setup_error(_("--repo {name} is not a repository name: lower-case letters, digits and separators "
                             "(. _ - /)").format(name=repr(name[:80])))


async def _on_server(profile: Profile, run: Run, work: Any, report: bool = True) -> int:
    """The headless commands' own frame: connect, ``work(transport, host)``, close (and report)."""
    from app.commands import on_server

    return await on_server(profile, run, work, report)


def _human_size(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


# --- registry ls ---------------------------------------------------------------------


def _cells(text: str, width: int, right: bool = False) -> str:
    """``text`` padded to ``width`` terminal columns (a Chinese character takes two)."""
    from app.cli_help import columns

    pad = " " * max(0, width - columns(text))
    return pad + text if right else text + pad


async def registry(args: argparse.Namespace) -> int:
    handler = {"ls": _ls, "prune": _prune, "users": _users}[args.registry_command]
    return await handler(args)


async def _ls(args: argparse.Namespace) -> int:
    import asyncio

    from app.registry.client import RegistryClient
    from app.registry.ops import attach_push_times, iso_time, list_tags, storage_usage

    _check_repo(args.repo)
    profile = _profile(args)
    run = _run(args, yes=False)
    client = RegistryClient(_endpoint(profile, run.bus.redactor))
    storage = _storage(profile)

    async def work(transport: Transport, host: str) -> int:
        tags = await asyncio.to_thread(list_tags, client, args.repo)
        await attach_push_times(transport, storage, tags)
        usage = await storage_usage(transport, storage) if storage else None
        if run.out.json_mode:
            for info in tags:
                run.out.record("tag", **{k: v for k, v in info.record().items() if k != "type"})
        else:
            heading = (_cells(_("REPOSITORY:TAG"), 40), _cells(_("DIGEST"), 19), _cells(_("SIZE"), 9, right=True),
                       _("PUSHED"))
            print("{} {} {}  {}".format(*heading), file=run.out.stream)
            for info in tags:
                print(f"{info.repository + ':' + info.tag:<40} {info.digest[:19]:<19} {_human_size(info.size):>9}  "
                      f"{iso_time(info.pushed) or '-'}", file=run.out.stream)
            if not tags:
                print(_("(no tags)"), file=run.out.stream)
        where = storage or _("OSS (not measured: the blobs are not on the host)")
        run.out.record("usage", path=storage, bytes=usage, command=f"du -sb {storage}" if storage else None,
                       tags=len(tags), summary=_("{where}: {size} ({bytes} bytes) on the host").format(
                           where=where, size=_human_size(usage), bytes=usage) if usage is not None else where)
        return OK

    return await _on_server(profile, run, work, report=False)


# --- registry prune ------------------------------------------------------------------


async def _prune(args: argparse.Namespace) -> int:
    from app.headless import HeadlessFailure
    from app.registry.client import RegistryClient
    from app.registry.ops import PruneStep

    _check_repo(args.repo)
    if args.keep is not None and args.keep < 1:
        raise _setup_error(_("--keep {keep}: keep at least 1 tag of each repository (to empty a repository, "
                             "--older-than 0 --repo NAME)").format(keep=args.keep))
    if args.older_than is not None and not args.older_than >= 0:
        raise _setup_error(_("--older-than {days}: give a number of days, 0 or more").format(days=args.older_than))
    profile = _profile(args)
    if profile.registry.mode == "cache":
        raise _setup_error(_("a pull-through cache is pruned by the registry itself (proxy.ttl); regwiz prunes "
                             "private registries"))
    run = _run(args, yes=args.yes)
    client = RegistryClient(_endpoint(profile, run.bus.redactor))

    def on_plan(plan: PrunePlan) -> None:
        for planned in plan.delete:
            info = planned.info
            run.out.record("prune-tag", repository=info.repository, tag=info.tag, digest=info.digest, size=info.size,
                           pushed=_iso(info.pushed), frees=planned.frees, note=planned.note,
                           summary=_("{tag} goes, {bytes} bytes back").format(
                               tag=f"{info.repository}:{info.tag}", bytes=planned.frees)
                           + (f" ({planned.note})" if planned.note else ""))
        for info, why in plan.spared:
            run.out.record("prune-spared", repository=info.repository, tag=info.tag, digest=info.digest,
                           reason=why, summary=_("{tag} stays: {why}").format(tag=f"{info.repository}:{info.tag}",
                                                                              why=why))
        run.out.record("prune-plan", tags=len(plan.delete), kept=len(plan.kept), planned_bytes=plan.freed_bytes,
                       summary=_("{count} tags to delete, about {bytes} bytes back; {kept} tags kept").format(
                           count=len(plan.delete), bytes=plan.freed_bytes, kept=len(plan.kept)))

    step = PruneStep(client, _storage(profile), profile.registry.port, profile.registry.tls != "none",
                     keep=args.keep, older_than_days=args.older_than, repository=args.repo, on_plan=on_plan)

    async def work(transport: Transport, host: str) -> int:
        ok = await run.step(step, transport, "prune", host)
        result = step.result
        if result.usage_after is not None:
            applied = step.applied_prune
            planned = applied.freed_bytes if applied else 0
            run.out.record("prune", deleted=[{"repository": t.repository, "tag": t.tag, "digest": t.digest}
                                             for t in result.deleted],
                           freed_bytes=result.freed_bytes, planned_bytes=planned, usage_before=result.usage_before,
                           usage_after=result.usage_after, collect_seconds=result.collect_seconds,
                           restarted=result.restarted,
                           summary=_("{count} tags deleted; the storage went from {before} to {after} bytes "
                                     "({freed} freed, {planned} planned)").format(
                                         count=len(result.deleted), before=result.usage_before,
                                         after=result.usage_after, freed=result.freed_bytes, planned=planned))
        if not ok:
            raise HeadlessFailure("the prune did not finish: see the step above (the registry was restarted, "
                                  "its storage writable; deleted manifests do not come back)")
        return OK

    return await _on_server(profile, run, work)


def _iso(seconds: float | None) -> str | None:
    from app.registry.ops import iso_time

    return iso_time(seconds)


# --- registry users ------------------------------------------------------------------


async def _users(args: argparse.Namespace) -> int:
    from app import htpasswd
    from app.headless import HeadlessFailure
    from app.profiles import RegistryUser, save_profile, secret_from_env
    from app.registry.client import RegistryClient
    from app.registry.ops import UsersStep
    from app.steps import Outcome

    action, name = args.users_command, args.name
    try:
        htpasswd.validate_username(name)
    except htpasswd.HtpasswdError as exc:
        raise _setup_error(str(exc)) from None
    password = None
    variable = getattr(args, "password_env", None)
    if action != "remove":
        password = secret_from_env(variable)
        if password is None:
            raise _setup_error(_("--password-env {variable}: that environment variable is not set (or empty): put "
                                 "{user}'s password in it").format(variable=variable, user=name))
        try:
            htpasswd.validate_password(password.reveal())
        except htpasswd.HtpasswdError as exc:
            raise _setup_error(_("the password in {variable}: {error}").format(variable=f"${variable}",
                                                                              error=exc)) from None
    profile = _profile(args)
    if profile.registry.auth != "htpasswd":
        raise _setup_error(_("the profile's registry has no htpasswd auth (auth = \"none\"): there are no users"))
    # The command names the one change to make: it is applied as asked (there is no diff to review but a hash).
    run = _run(args, yes=True)
    if password is not None:
        run.bus.redactor.add(password)
    client = RegistryClient(_endpoint(profile, run.bus.redactor, name, password.reveal() if password else None))
    step = UsersStep(action, name, password, client)

    async def work(transport: Transport, host: str) -> int:
        from app.steps import StepContext, run_step

        async def confirm(plan: Any) -> bool:
            return True

        result = await run_step(step, StepContext(transport, run.bus.scoped(source="users", host=host)), confirm)
        run.out.record("step", step=step.title, outcome=result.outcome.value, message=result.message)
        if result.outcome is not Outcome.APPLIED:
            raise HeadlessFailure(f"{_(step.title)}: {result.message}")
        users = [u for u in profile.registry.users if u.name != name]
        if action != "remove":
            users.append(RegistryUser(name, variable))
        profile.registry.users = users
        saved = save_profile(profile)
        run.out.record("user", user=name, action=action, password_env=variable, profile=str(saved),
                       restarted=False, summary=(_("{user}: {action} done, no restart; the profile {profile} records "
                                                   "it with password_env = {variable}") if variable else
                                                 _("{user}: {action} done, no restart; the profile {profile} records "
                                                   "it")).format(user=name, action=action, profile=saved,
                                                                 variable=variable))
        return OK

    return await _on_server(profile, run, work)


# --- cert renew ----------------------------------------------------------------------


async def cert(args: argparse.Namespace) -> int:
    return await {"renew": _cert_renew}[args.cert_command](args)


def _choices_for_renewal(profile: Profile, redactor: Redactor) -> Any:
    """The deploy choices, with only the registry users whose password is at hand (the proof logs in as
    the first; htpasswd itself is left as it is)."""
    from app.profiles import secret_from_env
    from app.session import deploy_choices

    username, _password = _credentials(profile, redactor)
    narrowed = copy.deepcopy(profile)
    narrowed.registry.users = [u for u in profile.registry.users
                               if u.name == username or secret_from_env(u.password_env) is not None]
    return deploy_choices(narrowed, redactor)


async def _cert_renew(args: argparse.Namespace) -> int:
    import asyncio

    from app.headless import HeadlessFailure
    from app.registry.client import RegistryClient
    from app.registry.ops import RenewCertificateStep
    from app.registry.prove import endpoint_for, prove

    profile = _profile(args)
    if profile.registry.tls != "own-ca":
        raise _setup_error(_("the registry's TLS is {tls}: cert renew issues from regwiz's own CA (tls = \"own-ca\"); "
                             "for your own certificate, replace cert_file/key_file and deploy").format(
                                 tls=repr(profile.registry.tls)))
    _ca_pem(profile)  # the CA must be here: a new one would not be trusted by any client
    run = _run(args, yes=args.yes)
    choices = _choices_for_renewal(profile, run.bus.redactor)
    step = RenewCertificateStep(choices)

    async def work(transport: Transport, host: str) -> int:
        if not await run.step(step, transport, "cert", host):
            raise HeadlessFailure(_("the certificate was not renewed: see the step above (the old certificate and "
                                    "container are back when the new one did not answer)"))
        if not run.yes:
            return OK
        served = await asyncio.to_thread(RegistryClient(endpoint_for(choices)).tls_handshake)
        served_serial = int(served.get("serial") or "0", 16)
        old_serial, new_serial = step.applied_serials
        run.out.record("certificate", old_serial=_hex(old_serial), new_serial=_hex(new_serial),
                       served_serial=_hex(served_serial), sans=served["sans"], not_after=served["not_after"],
                       summary=_("the registry now shows certificate {serial} (was {old}), valid until {not_after}, "
                                 "for {names}").format(serial=_hex(served_serial), old=_hex(old_serial),
                                                       not_after=served["not_after"], names=", ".join(served["sans"])))
        if served_serial != new_serial:
            raise HeadlessFailure(_("the registry still shows certificate {serial}, not the new {new}: restart its "
                                    "container ({command})").format(serial=_hex(served_serial), new=_hex(new_serial),
                                                                    command="docker restart registry"))
        steps = await prove(choices, run.bus.scoped(source="prove", host=host))
        for proof in steps:
            run.out.record("proof", name=proof.name, status="ok" if proof.ok else "failure", detail=proof.detail,
                           seconds=round(proof.seconds, 3))
        return OK if all(s.ok for s in steps) else FAILED

    return await _on_server(profile, run, work)


def _hex(serial: int | None) -> str | None:
    return None if serial is None else f"{serial:X}"


# --- ca rotate -----------------------------------------------------------------------

ROTATION_FILE = "rotation.json"


def _rotation_path() -> Path:
    from app import pki

    return pki.ca_dir() / ROTATION_FILE


def _load_rotation() -> dict | None:
    """The rotation in progress (state dir's ca/rotation.json), or None."""
    import json

    path = _rotation_path()
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise _setup_error(_("{path} cannot be read ({error}): fix or remove it (it records which clients of a CA "
                             "rotation are done)").format(path=path, error=exc)) from None
    if not isinstance(state, dict) or not isinstance(state.get("clients"), dict):
        raise _setup_error(_("{path} is not a rotation record: remove it and run {command} again").format(
            path=path, command="regwiz ca rotate"))
    return state


def _save_rotation(state: dict) -> None:
    import json

    from app.paths import write_atomic

    write_atomic(_rotation_path(), (json.dumps(state, indent=2) + "\n").encode(), 0o600)


def _profile_key(profile: Profile) -> str:
    return str(profile.path.resolve()) if profile.path else ""


def _rotate_step(choices: Any) -> Any:
    """cert renew's step from the new CA (defined here: the engine is imported only when the command runs)."""
    from app import pki
    from app.registry.ops import CERT_PATH, KEY_PATH, RenewCertificateStep
    from app.remote_files import FileChange

    class RotateCertificateStep(RenewCertificateStep):
        """cert renew from the new CA; a certificate already from it is kept (a second run plans nothing)."""

        title = N_("Move the registry to a certificate from the new CA")

        async def _certificate_files(self, ctx: Any, names: list[str]) -> list[FileChange]:
            old_cert, old_key = await ctx.files.read(CERT_PATH), await ctx.files.read(KEY_PATH)
            ca = pki.load_or_create_ca()
            if old_cert and old_key and pki.certificate_matches(old_cert.encode(), old_key.encode(), ca, names):
                return [FileChange(CERT_PATH, old_cert, old_cert, mode=0o644),
                        FileChange(KEY_PATH, old_key, old_key, mode=0o600, sensitive=True)]
            return await super()._certificate_files(ctx, names)

    return RotateCertificateStep(choices)


async def ca(args: argparse.Namespace) -> int:
    return await {"rotate": _ca_rotate}[args.ca_command](args)


def _rotation_plan(run: Run, profile: Profile, names: list[str], state: dict | None, address: str) -> None:
    from app import pki

    done = {n for n, s in (state or {}).get("clients", {}).items() if s == "done"}
    todo = [n for n in names if n not in done]
    where = pki.ca_dir()
    clients = ", ".join(todo) or _("none")
    steps = [] if state else [_("make a new CA in {where} (the old one kept in {previous} until the end)").format(
        where=where, previous=pki.previous_ca_dir())]
    if not (state or {}).get("registry"):
        steps.append(_("make the clients trust both CAs: their ca.crt for {address} holds both certificates "
                       "({clients})").format(address=address, clients=clients))
        steps.append(_("give the registry a certificate from the new CA and recreate its container by the deploy's "
                       "path (the old container kept until the new one answers), then prove it from here"))
    steps.append(_("on each client: ca.crt with the new CA alone, then a pull that proves it "
                   "({clients})").format(clients=clients))
    steps.append(_("forget the old CA here once every client is done"))
    for step in steps:
        run.out.record("plan", summary=step,
                       status="applying" if run.yes else "not applied (run again with --yes)")
    if not state:
        run.out.record("note", summary=_("only the profile's [[clients]] are changed: a machine onboarded from a team "
                                         "profile trusts the old CA alone and fails once the registry moves; after "
                                         "the rotation, export the team profile again and onboard it with that. "
                                         "regwiz's CA is shared by every profile of this state folder: a registry of "
                                         "another profile keeps its certificate from the old CA (its clients keep "
                                         "working) until its next {command}, which issues from the new CA").format(
                                             command="`cert renew`"))


async def _ca_rotate(args: argparse.Namespace) -> int:
    import shlex

    from app import commands, pki

    profile = _profile(args)
    if profile.registry.tls != "own-ca":
        raise _setup_error(_("the registry's TLS is {tls}: ca rotate rotates regwiz's own CA "
                             "(tls = \"own-ca\")").format(tls=repr(profile.registry.tls)))
    _ca_pem(profile)
    state = _load_rotation()
    name = shlex.quote(args.profile)  # printed in commands to run: pasted into a shell
    if state is not None and state.get("profile") != _profile_key(profile):
        raise _setup_error(_("a CA rotation started with another profile ({profile}) is not finished: "
                             "finish it with that profile and --resume first").format(profile=state.get('profile')))
    if state is not None and not args.resume:
        raise _setup_error(_("a CA rotation started at {started} is not finished: finish it with "
                             "{command}").format(started=state.get('started'),
                                                 command=f"regwiz ca rotate --profile {name} --resume --yes"))
    if state is None and args.resume:
        raise _setup_error(_("no CA rotation is in progress: start one with {command}").format(
            command=f"regwiz ca rotate --profile {name} --yes"))
    run = _run(args, yes=args.yes)
    specs = commands._client_specs(profile, run)  # every client's secrets are checked before any change
    choices = _choices_for_renewal(profile, run.bus.redactor)
    address = f"{_registry_host(profile)}:{profile.registry.port}"
    _rotation_plan(run, profile, [s.name for s in specs], state, address)
    if not run.yes:
        return OK
    try:
        return await _rotate(run, profile, specs, choices, state, name)
    except pki.PKIError as exc:  # a CA file that cannot be read or written: said, never a traceback
        raise _headless_failure(_("{error} (the rotation record is {path})").format(error=exc,
                                                                                   path=_rotation_path())) from None
    finally:
        run.finish()


async def _rotate(run: Run, profile: Profile, specs: list[Any], choices: Any, state: dict | None,
                  name: str) -> int:
    import dataclasses
    import time

    from app import pki
    from app.registry.prove import client_target

    if state is None:
        old, new = pki.start_rotation()
        state = {"profile": _profile_key(profile), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "old_fingerprint": old.fingerprint_sha256, "new_fingerprint": new.fingerprint_sha256,
                 "registry": False, "clients": {}}
        _save_rotation(state)
        run.out.record("ca", old_fingerprint=old.fingerprint_sha256, new_fingerprint=new.fingerprint_sha256,
                       summary=_("new CA {new} made; the old {old} is kept in {previous} until every client is "
                                 "done").format(new=new.fingerprint_sha256, old=old.fingerprint_sha256,
                                                previous=pki.previous_ca_dir()))
    else:
        new, previous = pki.load_or_create_ca(), pki.previous_ca()
        if previous is None or new.fingerprint_sha256 != state.get("new_fingerprint"):
            raise _setup_error(_("the CA files in {where} are not those of the rotation in progress "
                                 "({path}): restore them, or remove that file to start over").format(
                                     where=pki.ca_dir(), path=_rotation_path()))
        old = previous
        run.out.record("ca", old_fingerprint=old.fingerprint_sha256, new_fingerprint=new.fingerprint_sha256,
                       summary=_("resuming the rotation to {new} started at {started}").format(
                           new=new.fingerprint_sha256, started=state['started']))
    base = client_target(choices)  # the new CA: pki's current one
    both = dataclasses.replace(base, ca_pem=pki.trust_bundle(new.cert_pem, old.cert_pem))
    new_only = dataclasses.replace(base, ca_pem=new.cert_pem)
    clients: dict[str, str] = state["clients"]

    if not state["registry"]:
        pending = [s for s in specs if s.name not in clients]
        for result in await _clients_phase(run, pending, both, "trust-both"):
            if result.status.value == "ok":
                clients[result.name] = "both"
        _save_rotation(state)
        if not await _registry_phase(run, profile, choices, new_only):
            unready = [s.name for s in specs if clients.get(s.name) is None]
            but = _(" (but {clients})").format(clients=", ".join(unready)) if unready else ""
            raise _headless_failure(_(
                "the registry is still on its certificate from the old CA (see the step above); every client "
                "still trusts the old CA{but}, so nothing pulls worse than before. Fix it, then: {command}").format(
                    but=but, command=f"regwiz ca rotate --profile {name} --resume --yes"))
        state["registry"] = True
        _save_rotation(state)

    pending = [s for s in specs if clients.get(s.name) != "done"]
    for result in await _clients_phase(run, pending, new_only, "new-ca-only"):
        if result.status.value == "ok":
            clients[result.name] = "done"
    _save_rotation(state)
    left = [s.name for s in specs if clients.get(s.name) != "done"]
    if left:
        behind = [n for n in left if clients.get(n) is None]
        both_still = [n for n in left if clients.get(n) == "both"]
        parts = []
        if behind:
            parts.append(_("not reached: {clients}, still trusting only the old CA; since the registry "
                           "now shows a certificate from the new CA, pulls there fail ({error}) "
                           "until this is finished").format(clients=", ".join(behind),
                                                            error="x509: certificate signed by unknown authority"))
        if both_still:
            parts.append(_("not proven with the new CA alone: {clients} (they trust both; ca.crt "
                           "may still hold the old CA)").format(clients=", ".join(both_still)))
        run.out.record("rotation", status="failure", unfinished=left, old_ca_kept=str(pki.previous_ca_dir()),
                       summary=_("{parts}. When they answer again: {command}").format(
                           parts="; ".join(parts), command=f"regwiz ca rotate --profile {name} --resume --yes"))
        return FAILED
    pki.finish_rotation()
    _rotation_path().unlink(missing_ok=True)
    run.out.record("rotation", status="ok", new_fingerprint=new.fingerprint_sha256, clients=[s.name for s in specs],
                   summary=_("every client trusts only the new CA {new} and pulled; the old CA "
                             "is forgotten here. Teammates: export the team profile again ({command}), it carries "
                             "the new CA").format(new=new.fingerprint_sha256,
                                                  command=f"regwiz export-team-profile --profile {name}"))
    return OK


def _headless_failure(message: str) -> Exception:
    from app.headless import HeadlessFailure

    return HeadlessFailure(message)


async def _clients_phase(run: Run, specs: list[Any], registry: Any, phase: str) -> list[Any]:
    """Configure and prove these clients with ``registry``'s CA bundle; a client's failure is its own."""
    from app.clients.configure import configure_clients
    from app.clients.testimage import ensure_test_image

    if not specs:
        return []

    async def confirm_all(plans: list[Any]) -> bool:
        for client, plan in plans:
            run.out.record("plan", client=client, phase=phase, summary=plan.summary, actions=plan.actions,
                           diff=plan.diff(), status="applying")
        return True

    async def accept_key(client: str, unknown: Any) -> bool:
        return run.trust_fingerprint == unknown.fingerprint

    await ensure_test_image(registry)
    results = await configure_clients(specs, registry, run.bus, confirm_all, accept_key=accept_key)
    for result in results:
        run.out.record("client", client=result.name, phase=phase, kind=result.kind.value if result.kind else None,
                       status=result.status.value, message=result.message, pull_seconds=result.pull_seconds)
    return results


async def _registry_phase(run: Run, profile: Profile, choices: Any, new_only: Any) -> bool:
    """The registry on a certificate from the new CA, shown to a client that trusts only that CA."""
    import asyncio

    from app.registry.client import RegistryClient, RegistryError
    from app.registry.prove import prove

    step = _rotate_step(choices)

    async def work(transport: Transport, host: str) -> int:
        if not await run.step(step, transport, "cert", host):
            return FAILED
        try:
            served = await asyncio.to_thread(RegistryClient(new_only.endpoint()).tls_handshake)
        except RegistryError as exc:
            run.out.record("error", status="failure", message=_("the registry does not show a certificate from the "
                                                                "new CA: {error}").format(error=exc))
            return FAILED
        run.out.record("certificate", served_serial=f"{int(served.get('serial') or '0', 16):X}",
                       sans=served["sans"], not_after=served["not_after"],
                       summary=_("the registry shows a certificate from the new CA, valid until "
                                 "{not_after}, for {names}").format(not_after=served['not_after'],
                                                                    names=", ".join(served['sans'])))
        proofs = await prove(choices, run.bus.scoped(source="prove", host=host))
        for proof in proofs:
            run.out.record("proof", name=proof.name, status="ok" if proof.ok else "failure", detail=proof.detail,
                           seconds=round(proof.seconds, 3))
        return OK if all(p.ok for p in proofs) else FAILED

    return await _on_server(profile, run, work, report=False) == OK
