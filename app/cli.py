"""The ``regwiz`` command: the TUI, or headless commands that drive the same engine.

    regwiz                                        the wizard
    regwiz --profile P                            P's health dashboard (the wizard beneath it)
    regwiz diagnose --profile P [--yes] [--json]  check the registry host (--yes applies fixes)
    regwiz deploy   --profile P [--yes] [--json]  diagnose, fix, deploy and prove the registry
    regwiz clients  --profile P [--yes] [--json]  configure and prove the profile's clients
                    [--inventory FILE [--limit PATTERN]] [--forks N]   (the clients of an Ansible inventory)
    regwiz setup    --profile P [--yes] [--json]  deploy, then clients, in one run
    regwiz onboard FILE [--host H] [--password-env VAR] [--ssh-password-env VAR] [--yes] [--json]
                                                  this machine (or H) joins a team's registry
    regwiz export-team-profile --profile P [-o FILE] [--password-env VAR]
                                                  the shareable part of a profile
    regwiz diagnose|deploy|clients|setup ... --plan-out FILE
                                                  write the plans to FILE; change nothing
    regwiz apply FILE [--json]                    apply a saved plan file, exactly, host by host
    regwiz registry ls|prune|users --profile P ...  the registry's tags, pruning, users
    regwiz cert renew --profile P [--yes]         a new server certificate from the same CA
    regwiz ca rotate --profile P [--resume] [--yes]  a new CA, trusted by every client, the old one removed

Textual is imported only when the TUI starts, so headless use and ``--help``
stay fast and never need a terminal.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

from app import __version__
from app.i18n import _

if TYPE_CHECKING:
    import argparse

OK, FAILED, USAGE = 0, 1, 2


def _plan_out(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--plan-out", metavar="FILE",
                        help=_("write the plans (every diff, action and decision; no secret) to FILE and change "
                             "nothing; regwiz apply FILE applies exactly them"))
    return parser


def _common(parser: argparse.ArgumentParser, profile: bool = True) -> None:
    if profile:
        parser.add_argument("--profile", required=True, metavar="NAME_OR_PATH",
                            help=_("a saved profile's name, or the path of a profile file"))
    parser.add_argument("--yes", action="store_true", help=_("apply changes (without it, plans are only shown)"))
    parser.add_argument("--json", action="store_true", help=_("JSON lines on stdout, one object per check or step"))
    parser.add_argument("--trust-host-key", metavar="SHA256:...",
                        help=_("accept an unknown host key with exactly this fingerprint"))


def build_parser() -> argparse.ArgumentParser:
    import argparse  # here, not at the top: the wizard alone (no arguments) never needs it

    parser = argparse.ArgumentParser(
        prog="regwiz",
        description=_("Set up a private Docker registry with TLS and auth on a server you reach "
        "by SSH, then configure the machines that push and pull from it."),
    )
    parser.add_argument("--version", action="version", version=f"regwiz {__version__}")
    parser.add_argument("--profile", metavar="NAME_OR_PATH",
                        help=_("open this profile's health dashboard, which re-checks the host, the registry "
                             "and every client (the wizard is beneath it)"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _common(sub.add_parser("diagnose", help=_("check the registry host (with --yes: apply the recommended fixes)"),
                           description=_("Check the registry host: Docker, the route conflict, port, disk, clock, "
                                       "firewall. With --yes, apply each failing check's recommended fix.")))
    _common(sub.add_parser("deploy", help=_("diagnose, fix, deploy and prove the registry"),
                           description=_("Diagnose the host (fixing with --yes), deploy the registry as the "
                                       "profile says, and prove it from this machine.")))
    clients = sub.add_parser("clients", help=_("configure the profile's clients and prove a pull on each"),
                             description=_("Make every client in the profile (or in an Ansible inventory) trust "
                                         "the registry, log in and pull."))
    _common(clients)
    _fleet_arguments(clients)
    _common(sub.add_parser("setup", help=_("all of it: diagnose and fix, deploy and prove, then every client"),
                           description=_("deploy, then clients, in one run and one connection per host.")))
    onboard = sub.add_parser("onboard", help=_("make this machine (or --host) use a team's registry"),
                             description=_("Join a team's registry from a shareable team profile: trust, "
                                         "login, and a pull that proves it."))
    onboard.add_argument("file", metavar="FILE", help=_("the team profile (regwiz export-team-profile)"))
    onboard.add_argument("--host", metavar="[USER@]HOST[:PORT]", help=_("onboard this host over SSH instead"))
    onboard.add_argument("--password-env", metavar="VAR",
                         help=_("the environment variable holding the registry user's password (overrides the "
                              "team profile's password_env; without either, a terminal asks for it)"))
    onboard.add_argument("--ssh-password-env", metavar="VAR",
                         help=_("the environment variable holding --host's SSH password (default: SSH agent/keys)"))
    _common(onboard, profile=False)
    for name in ("diagnose", "deploy", "clients", "setup"):
        _plan_out(sub.choices[name])
    applying = sub.add_parser("apply", help=_("apply a plan file written by --plan-out, exactly"),
                              description=_("Apply the plans of FILE host by host, exactly as they were saved. A "
                                          "host where a planned file changed since is refused, naming the file."))
    applying.add_argument("file", metavar="FILE", help=_("a plan file (diagnose|deploy|clients|setup --plan-out)"))
    applying.add_argument("--json", action="store_true", help=_("JSON lines on stdout, one object per step or client"))
    applying.add_argument("--trust-host-key", metavar="SHA256:...",
                          help=_("accept an unknown host key with exactly this fingerprint"))
    applying.set_defaults(yes=True)  # the plans were confirmed when saved; the file is there to review
    export = sub.add_parser("export-team-profile", help=_("write the shareable part of a profile"),
                            description=_("Write a team profile: the registry address, its CA and mode; no secrets."))
    export.add_argument("--profile", required=True, metavar="NAME_OR_PATH")
    export.add_argument("-o", "--output", metavar="FILE", help=_("where to write it (default: stdout)"))
    export.add_argument("--password-env", metavar="VAR",
                        help=_("the variable teammates keep the registry password in, written as password_env "
                             "(default: the registry user's password_env in the profile)"))
    from app import registry_commands  # argparse only at its top: --help stays fast

    registry_commands.add_parsers(sub)
    from app.cli_help import localise

    localise(parser)
    return parser


def _forks(text: str) -> int:
    import argparse

    try:
        number = int(text)
    except ValueError:
        number = 0
    if not 1 <= number <= 256:
        raise argparse.ArgumentTypeError(
            _("give a whole number from 1 to 256 (found {text})").format(text=repr(text[:20])))
    return number


def _fleet_arguments(parser: argparse.ArgumentParser) -> None:
    """Many clients: from an Ansible inventory (app/inventory.py), and how many at once."""
    parser.add_argument("--inventory", metavar="FILE",
                        help=_("configure the hosts of this Ansible inventory instead of the profile's [[clients]] "
                             "(read by ansible-inventory; passwords come from environment variables the profile "
                             "names, never from the inventory)"))
    parser.add_argument("--limit", metavar="PATTERN",
                        help=_("only the inventory's hosts matching this Ansible host pattern (as ansible --limit)"))
    parser.add_argument("--forks", type=_forks, default=8, metavar="N",
                        help=_("how many clients are worked on at once (default: 8)"))


def main(argv: list[str] | None = None) -> int:
    from app.i18n import use_configured

    use_configured()  # before any string is shown: the saved language, else LC_ALL / LC_MESSAGES / LANG
    if not (sys.argv[1:] if argv is None else argv):
        return _wizard(None)  # no arguments: straight to the wizard (start-up time), no parser built
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help is 0, bad usage 2
        return int(exc.code or 0)
    if getattr(args, "json", False):
        from app.i18n import ENGLISH, use

        use(ENGLISH)  # what scripts read stays as it is in every language
    if args.command:
        return run_headless(args)
    return _wizard(args.profile)


def _wizard(profile: str | None) -> int:
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        if profile is None:
            print("regwiz: " + _("the wizard needs a terminal (run it in one), or use a command: {command}").format(
                command="regwiz --help"), file=sys.stderr)
            return USAGE
        from app.profiles import ProfileError
        from app.session import SetupError, load_named_profile

        try:  # a bad profile is worth saying first: it would fail in the terminal too
            load_named_profile(profile)
        except (ProfileError, SetupError) as exc:
            print(f"regwiz: {exc}", file=sys.stderr)
            return USAGE
        print("regwiz: " + _("the health dashboard needs a terminal (run it in one); without one, re-check with "
                             "{command}").format(command="regwiz diagnose --profile NAME"), file=sys.stderr)
        return USAGE
    _run_tui(profile)
    return OK


def _run_tui(profile: str | None) -> None:
    """The wizard, started with the garbage collector paused until its first screen is drawn.

    Importing textual and building the first screen create some 100,000 objects, nearly all
    of which live as long as the program; the collector would scan them over and over (about
    0.1 s of start-up, measured). Instead they are frozen (never scanned again) once the first
    screen is on the terminal, and collection resumes (``RegwizApp.startup_finished``).
    """
    import gc

    gc.disable()
    try:
        from screens.app import RegwizApp  # lazy: textual is heavy and UI-only

        app = RegwizApp(profile=profile, resume_gc=True)
    except BaseException:
        gc.enable()
        raise
    try:
        app.run()
    finally:
        app.startup_finished()  # (collection resumes even if the app ends before its first screen)


def run_headless(args: argparse.Namespace) -> int:
    from app.profiles import ProfileError
    from app.session import SetupError

    try:
        return asyncio.run(_dispatch(args))
    except (ProfileError, SetupError) as exc:
        return _fail(args, str(exc), USAGE)
    except KeyboardInterrupt:
        return _fail(args, _("interrupted"), FAILED)
    except Exception as exc:  # noqa: BLE001 - a headless run ends in one line, never a traceback
        return _fail(args, failure_message(exc), FAILED)


def failure_message(exc: BaseException) -> str:
    """What failed, in one line, with what to do about it (the engine's errors already say the cause)."""
    from app.headless import HeadlessFailure
    from app.registry.client import RegistryAuthError, RegistryError, RegistryTLSError
    from app.transport import TransportError

    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, HeadlessFailure):
        return text
    if isinstance(exc, RegistryAuthError):
        return _("{error}: check the registry user's name and password").format(error=text)
    if isinstance(exc, RegistryTLSError):
        return _("{error}: check the team profile's ca_pem and tls, or deploy the registry again").format(error=text)
    if isinstance(exc, RegistryError):
        return _("{error} (to re-check the registry and its host: {command})").format(
            error=text, command="regwiz diagnose --profile NAME")
    if isinstance(exc, TransportError):
        return text
    if type(exc).__module__.startswith("asyncssh"):  # asyncssh is not imported here: --help stays fast
        reason = getattr(exc, "reason", "") or text
        return _("SSH failed: {reason}: check the host, its port and the credentials").format(reason=reason)
    if isinstance(exc, TimeoutError):
        return _("a host did not answer in time: check the address, and that firewalls let the port in")
    if isinstance(exc, OSError):
        where = f" ({str(exc.filename)[:80]})" if exc.filename else ""
        return _("{error}{where}: check the path or the address and try again").format(
            error=exc.strerror or text, where=where)
    return _("unexpected error ({error}); the run's logs are under regwiz's state folder (logs/): please "
             "report it with them").format(error=f"{type(exc).__name__}: {text}")


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    """One line on stderr (and, with --json, an error object on stdout for the machine reading it)."""
    if getattr(args, "json", False):
        import json

        print(json.dumps({"type": "error", "status": "failure", "exit": code, "message": message}), flush=True)
    print(f"regwiz: {message}", file=sys.stderr, flush=True)
    return code


async def _dispatch(args: argparse.Namespace) -> int:
    if args.command in ("registry", "cert", "ca"):
        from app import registry_commands

        return await {"registry": registry_commands.registry, "cert": registry_commands.cert,
                      "ca": registry_commands.ca}[args.command](args)
    if args.command == "apply":
        from app import plan_commands

        return await plan_commands.apply(args)
    if getattr(args, "plan_out", None):
        from app import plan_commands

        return await plan_commands.plan_out(args, args.command)
    from app import commands

    handler = {"diagnose": commands.diagnose, "deploy": commands.deploy, "clients": commands.clients,
               "setup": commands.setup,
               "onboard": commands.onboard, "export-team-profile": commands.export_team_profile}[args.command]
    return await handler(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
