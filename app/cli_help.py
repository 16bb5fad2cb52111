"""``--help`` in the language in use: argparse's own headings translated, lines wrapped by display width.

argparse wraps by characters, but a Chinese character takes two columns of a terminal: measured by
characters, a line of Chinese help runs twice as wide as the terminal. Here lines are wrapped by
columns (East Asian Wide and Fullwidth characters count two), and may break between two wide
characters, as Chinese text does, or at a space.
"""

from __future__ import annotations

import argparse
import unicodedata

from app.i18n import N_, _

#: argparse's own words on a usage error (as Python 3.11 to 3.13's argparse.py writes them), for the catalog:
#: argparse looks each up through its module's ``_``, which ``localise`` points at regwiz's.
ARGPARSE_MESSAGES = (
    N_("%(prog)s: error: %(message)s\n"), N_("argument %(argument_name)s: %(message)s"),
    N_("the following arguments are required: %s"), N_("one of the arguments %s is required"),
    N_("unrecognized arguments: %s"), N_("not allowed with argument %s"), N_("ignored explicit argument %r"),
    N_("expected one argument"), N_("expected at most one argument"), N_("expected at least one argument"),
    N_("ambiguous option: %(option)s could match %(matches)s"), N_("invalid %(type)s value: %(value)r"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
)


def columns(text: str) -> int:
    """How many terminal columns ``text`` takes."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def wrap(text: str, width: int) -> list[str]:
    """``text`` (whitespace collapsed) in lines of at most ``width`` columns."""
    words = " ".join(text.split())
    lines: list[str] = []
    line, used = "", 0
    for piece in _pieces(words):
        size = columns(piece)
        if line and used + columns(piece.rstrip()) > width:  # a space at a line's end takes no room
            lines.append(line.rstrip())
            line, used = "", 0
            piece = piece.lstrip()
            size = columns(piece)
        line += piece
        used += size
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _pieces(text: str) -> list[str]:
    """Units that are never split: a run of narrow characters up to and with its space, or one wide one."""
    pieces: list[str] = []
    current = ""
    for ch in text:
        if unicodedata.east_asian_width(ch) in "WF":
            if current:
                pieces.append(current)
                current = ""
            pieces.append(ch)
        else:
            current += ch
            if ch == " ":
                pieces.append(current)
                current = ""
    if current:
        pieces.append(current)
    return pieces


class HelpFormatter(argparse.HelpFormatter):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self._headings: set[str] = set()

    def _split_lines(self, text: str, width: int) -> list[str]:
        return wrap(text, width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(indent + line for line in wrap(text, width - len(indent)))

    def add_usage(self, usage, actions, groups, prefix=None):  # type: ignore[no-untyped-def]
        super().add_usage(usage, actions, groups, prefix if prefix is not None else _("usage: "))

    def start_section(self, heading: str | None) -> None:
        super().start_section(heading)
        if heading:
            self._headings.add(heading)

    def format_help(self) -> str:
        """argparse's help, each section heading followed by the colon of the language in use (argparse
        writes an ASCII one; Chinese writes a full-width one, as in "用法：")."""
        text = super().format_help()
        lines = text.split("\n")
        for number, line in enumerate(lines):
            heading = line.strip()[:-1]
            if line.endswith(":") and heading in self._headings:
                indent = line[:len(line) - len(line.lstrip())]
                lines[number] = indent + _("{heading}:").format(heading=heading)
        return "\n".join(lines)


def localise(parser: argparse.ArgumentParser) -> None:
    """``parser`` and its subcommands: argparse's own words translated (section titles, -h's help, the
    usage prefix), lines wrapped by display width."""
    parser.formatter_class = HelpFormatter
    argparse._ = _  # type: ignore[attr-defined]  # (its usage errors in the language in use)
    for group in parser._action_groups:
        group.title = {"options": _("options"), "positional arguments": _("positional arguments")}.get(
            group.title or "", group.title)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            action.help = _("show this help message and exit")
        elif isinstance(action, argparse._VersionAction):
            action.help = _("show program's version number and exit")
        elif isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                localise(sub)
