"""``regwiz registry ls|prune|users`` and ``regwiz cert renew``: the registry after day one.

Only argparse is imported at the top: building the parser must stay cheap (``regwiz --help``); the
engine is imported when a command runs. Exit codes as every headless command: 0 all is well, 1 a
failure, 2 bad input. Passwords come only from environment variables named on the command line.
"""

from __future__ import annotations

import argparse
import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.headless import Run
    from app.profiles import Profile
    from app.redact import Redactor
    from app.registry.client import RegistryClient, RegistryEndpoint
    from app.registry.ops import PrunePlan
    from app.transport import Transport

OK, FAILED, USAGE = 0, 1, 2


# --- the parser ------------------------------------------------------------------------


def _options(parser: argparse.ArgumentParser, *, yes: bool, nested: bool = False) -> None:
    """--profile, --json, --trust-host-key (and --yes) on a parser. ``nested``: a sub-command's copy, whose
    SUPPRESS default leaves a value given before the sub-command in place (argparse would reset it)."""
    default: Any = argparse.SUPPRESS if nested else None
    parser.add_argument("--profile", metavar="NAME_OR_PATH", default=default,
                        help="a saved profile's name, or the path of a profile file")
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS if nested else False,
                        help="JSON lines on stdout")
    parser.add_argument("--trust-host-key", metavar="SHA256:...", default=default,
                        help="accept an unknown host key with exactly this fingerprint")
    if yes:
        parser.add_argument("--yes", action="store_true", default=argparse.SUPPRESS if nested else False,
                            help="apply (without it, the plan is only shown)")


def add_parsers(sub: Any) -> None:
    """The ``registry`` and ``cert`` commands, on cli.py's sub-parsers."""
    registry = sub.add_parser("registry", help="the registry's tags, pruning and users",
                              description="What the registry holds, pruning old tags, and its users.")
    verbs = registry.add_subparsers(dest="registry_command", metavar="ACTION", required=True)
    ls = verbs.add_parser("ls", help="every repository and tag, with digest, size and push time",
                          description="Every repository and tag with its manifest digest, its size (config and "
                                      "layers, as stored) and when it was pushed; then the bytes the storage "
                                      "takes on the host.")
    _options(ls, yes=False)
    ls.add_argument("--repo", metavar="NAME", help="only this repository")

    prune = verbs.add_parser("prune", help="delete old tags and give their space back",
                             description="Plan which tags go (all but the newest N of each repository, or those "
                                         "older than DAYS) and the bytes that come back; with --yes delete them, "
                                         "garbage-collect with pushes held off, and measure the space again.")
    _options(prune, yes=True)
    rule = prune.add_mutually_exclusive_group(required=True)
    rule.add_argument("--keep", type=int, metavar="N", help="keep the N newest tags of each repository")
    rule.add_argument("--older-than", type=float, metavar="DAYS", help="delete tags pushed over DAYS days ago")
    prune.add_argument("--repo", metavar="NAME", help="only this repository")

    users = verbs.add_parser("users", help="add, rotate or remove a registry user (no restart)",
                             description="Change the registry's htpasswd: the registry re-reads it, no restart. "
                                         "The profile records the user and its password variable, never the "
                                         "password.")
    _options(users, yes=True)  # --yes accepted (scripts pass it everywhere); the change is applied as asked
    actions = users.add_subparsers(dest="users_command", metavar="add|remove|rotate", required=True)
    for name, text in (("add", "add a user"), ("rotate", "give a user a new password"),
                       ("remove", "remove a user")):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument("name", metavar="NAME", help="the registry user")
        if name != "remove":
            action.add_argument("--password-env", metavar="VAR", required=True,
                                help="the environment variable holding the password")
        _options(action, yes=True, nested=True)

    cert = sub.add_parser("cert", help="the registry's TLS certificate", description="The registry's certificate.")
    cert_verbs = cert.add_subparsers(dest="cert_command", metavar="ACTION", required=True)
    renew = cert_verbs.add_parser("renew", help="a new server certificate from the same CA",
                                  description="Issue a new server certificate from regwiz's CA for the names and "
                                              "addresses clients use now (the host's addresses read again), "
                                              "restart the registry with it and prove it. Clients keep working: "
                                              "they trust the CA, not the certificate.")
    _options(renew, yes=True)


# --- from the profile ----------------------------------------------------------------


def _setup_error(message: str) -> Exception:
    from app.session import SetupError

    return SetupError(message)


def _profile(args: argparse.Namespace) -> Profile:
    from app.session import load_named_profile

    if not getattr(args, "profile", None):
        raise _setup_error("--profile NAME_OR_PATH is needed: the profile of the registry's host")
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
        raise _setup_error(f"regwiz's CA is not in {pki.ca_dir()}: run this where the registry was deployed "
                           "(or copy that CA folder here)")
    return pki.load_or_create_ca().cert_pem


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
    raise _setup_error("a registry user's password is needed to read the registry: set "
                       + (named or "password_env for a [[registry.users]] entry in the profile, and that variable"))


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
        raise _setup_error(f"--repo {name[:80]!r} is not a repository name: lower-case letters, digits and "
                           "separators (. _ - /)")


async def _on_server(profile: Profile, run: Run, work: Any, report: bool = True) -> int:
    """Connect to the profile's server, run ``work(transport, host)``, always close (and write the report)."""
    from app.session import host_form
    from app.transport import TransportError

    form = host_form(profile.server, run.bus.redactor)
    problems = form.errors() if not form.local else {}
    if problems:
        raise _setup_error("the profile's [server] is not usable: "
                           + "; ".join(f"{k}: {v}" for k, v in problems.items()) + ": fix it in the profile")
    transport = form.transport()
    host = profile.server.host or "this machine"
    try:
        await run.connect(transport, host)
        return await work(transport, host)
    except TransportError as exc:
        run.out.record("error", message=str(exc), status="failure")
        return FAILED
    finally:
        await transport.close()
        if report:
            run.finish()


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
            print(f"{'REPOSITORY:TAG':<40} {'DIGEST':<19} {'SIZE':>9}  PUSHED", file=run.out.stream)
            for info in tags:
                print(f"{info.repository + ':' + info.tag:<40} {info.digest[:19]:<19} {_human_size(info.size):>9}  "
                      f"{iso_time(info.pushed) or '-'}", file=run.out.stream)
            if not tags:
                print("(no tags)", file=run.out.stream)
        where = storage or "OSS (not measured: the blobs are not on the host)"
        run.out.record("usage", path=storage, bytes=usage, command=f"du -sb {storage}" if storage else None,
                       tags=len(tags), summary=f"{where}: {_human_size(usage)} ({usage} bytes) on the host"
                       if usage is not None else where)
        return OK

    return await _on_server(profile, run, work, report=False)


# --- registry prune ------------------------------------------------------------------


async def _prune(args: argparse.Namespace) -> int:
    from app.headless import HeadlessFailure
    from app.registry.client import RegistryClient
    from app.registry.ops import PruneStep

    _check_repo(args.repo)
    if args.keep is not None and args.keep < 1:
        raise _setup_error(f"--keep {args.keep}: keep at least 1 tag of each repository (to empty a repository, "
                           "--older-than 0 --repo NAME)")
    if args.older_than is not None and not args.older_than >= 0:
        raise _setup_error(f"--older-than {args.older_than}: give a number of days, 0 or more")
    profile = _profile(args)
    if profile.registry.mode == "cache":
        raise _setup_error("a pull-through cache is pruned by the registry itself (proxy.ttl); regwiz prunes "
                           "private registries")
    run = _run(args, yes=args.yes)
    client = RegistryClient(_endpoint(profile, run.bus.redactor))

    def on_plan(plan: PrunePlan) -> None:
        for planned in plan.delete:
            info = planned.info
            run.out.record("prune-tag", repository=info.repository, tag=info.tag, digest=info.digest, size=info.size,
                           pushed=_iso(info.pushed), frees=planned.frees, note=planned.note,
                           summary=f"{info.repository}:{info.tag} goes, {planned.frees} bytes back"
                           + (f" ({planned.note})" if planned.note else ""))
        for info, why in plan.spared:
            run.out.record("prune-spared", repository=info.repository, tag=info.tag, digest=info.digest,
                           reason=why, summary=f"{info.repository}:{info.tag} stays: {why}")
        run.out.record("prune-plan", tags=len(plan.delete), kept=len(plan.kept), planned_bytes=plan.freed_bytes,
                       summary=f"{len(plan.delete)} tags to delete, about {plan.freed_bytes} bytes back; "
                               f"{len(plan.kept)} tags kept")

    step = PruneStep(client, _storage(profile), profile.registry.port, profile.registry.tls != "none",
                     keep=args.keep, older_than_days=args.older_than, repository=args.repo, on_plan=on_plan)

    async def work(transport: Transport, host: str) -> int:
        ok = await run.step(step, transport, "prune", host)
        result = step.result
        if result.usage_after is not None:
            planned = step.prune.freed_bytes if step.prune else 0
            run.out.record("prune", deleted=[{"repository": t.repository, "tag": t.tag, "digest": t.digest}
                                             for t in result.deleted],
                           freed_bytes=result.freed_bytes, planned_bytes=planned, usage_before=result.usage_before,
                           usage_after=result.usage_after,
                           summary=f"{len(result.deleted)} tags deleted; the storage went from "
                                   f"{result.usage_before} to {result.usage_after} bytes ({result.freed_bytes} freed, "
                                   f"{planned} planned)")
        if not ok:
            raise HeadlessFailure("the prune did not finish: see the step above (the registry's config.yml was "
                                  "put back; deleted manifests do not come back)")
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
            raise _setup_error(f"--password-env {variable}: that environment variable is not set (or empty): put "
                               f"{name}'s password in it")
        try:
            htpasswd.validate_password(password.reveal())
        except htpasswd.HtpasswdError as exc:
            raise _setup_error(f"the password in ${variable}: {exc}") from None
    profile = _profile(args)
    if profile.registry.auth != "htpasswd":
        raise _setup_error("the profile's registry has no htpasswd auth (auth = \"none\"): there are no users")
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
            raise HeadlessFailure(f"{step.title}: {result.message}")
        users = [u for u in profile.registry.users if u.name != name]
        if action != "remove":
            users.append(RegistryUser(name, variable))
        profile.registry.users = users
        saved = save_profile(profile)
        run.out.record("user", user=name, action=action, password_env=variable, profile=str(saved),
                       restarted=False, summary=f"{name}: {action} done, no restart; the profile {saved} "
                                                f"records it" + (f" with password_env = {variable}" if variable else ""))
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

    username, _ = _credentials(profile, redactor)
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
        raise _setup_error(f"the registry's TLS is {profile.registry.tls!r}: cert renew issues from regwiz's own CA "
                           "(tls = \"own-ca\"); for your own certificate, replace cert_file/key_file and deploy")
    _ca_pem(profile)  # the CA must be here: a new one would not be trusted by any client
    run = _run(args, yes=args.yes)
    choices = _choices_for_renewal(profile, run.bus.redactor)
    step = RenewCertificateStep(choices)

    async def work(transport: Transport, host: str) -> int:
        if not await run.step(step, transport, "cert", host):
            raise HeadlessFailure("the certificate was not renewed: see the step above (the old certificate and "
                                  "container are back when the new one did not answer)")
        if not run.yes:
            return OK
        served = await asyncio.to_thread(RegistryClient(endpoint_for(choices)).tls_handshake)
        served_serial = int(served.get("serial") or "0", 16)
        run.out.record("certificate", old_serial=_hex(step.old_serial), new_serial=_hex(step.new_serial),
                       served_serial=_hex(served_serial), sans=served["sans"], not_after=served["not_after"],
                       summary=f"the registry now shows certificate {_hex(served_serial)} (was "
                               f"{_hex(step.old_serial)}), valid until {served['not_after']}, for "
                               f"{', '.join(served['sans'])}")
        if served_serial != step.new_serial:
            raise HeadlessFailure(f"the registry still shows certificate {_hex(served_serial)}, not the new "
                                  f"{_hex(step.new_serial)}: restart its container (docker restart registry)")
        steps = await prove(choices, run.bus.scoped(source="prove", host=host))
        for proof in steps:
            run.out.record("proof", name=proof.name, status="ok" if proof.ok else "failure", detail=proof.detail,
                           seconds=round(proof.seconds, 3))
        return OK if all(s.ok for s in steps) else FAILED

    return await _on_server(profile, run, work)


def _hex(serial: int | None) -> str | None:
    return None if serial is None else f"{serial:X}"
