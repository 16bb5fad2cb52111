"""The ``regwiz`` command: starts the TUI; later subcommands drive the engine headless.

Textual is imported only when the TUI starts, so headless use and ``--help``
stay fast and never need a terminal.
"""

from __future__ import annotations

import argparse
import sys

from app import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regwiz",
        description="Set up a private Docker registry with TLS and auth on a server you reach "
        "by SSH, then configure the machines that push and pull from it.",
    )
    parser.add_argument("--version", action="version", version=f"regwiz {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        print("regwiz: the wizard needs a terminal (run it in one).", file=sys.stderr)
        return 2
    from screens.app import RegwizApp  # lazy: textual is heavy and UI-only

    RegwizApp().run()
    return 0
