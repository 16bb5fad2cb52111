"""Recorded hosts answer a ``facts.read_in_one`` command as the shell would: snippet by snippet."""

from __future__ import annotations

import base64
import shlex
from typing import Awaitable, Callable

from app.facts import _SECTION as SECTION
from app.transport import Transport

Answer = Callable[[str], Awaitable[tuple[int, list[str], list[str]]]]


def snippets_of(command_line: str) -> list[str] | None:
    """The snippets of a read_in_one command line (``sh -c SCRIPT regwiz``), or None for any other command."""
    if f"echo {SECTION} $?" not in command_line:
        return None
    words = shlex.split(command_line)
    script = words[words.index("-c") + 1]
    parts = script.removesuffix("; exit 0").split(f"; echo {SECTION} $?")[:-1]
    return [part.removeprefix("; ").removeprefix("{ ").removesuffix("; } 2>/dev/null") for part in parts]


async def answer_in_one(snippets: list[str], answer: Answer) -> tuple[int, list[str], list[str]]:
    """Each snippet answered on its own, its output then a section line with its exit status (its stderr
    dropped); the command itself exits 0."""
    lines: list[str] = []
    for snippet in snippets:
        status, out, _err = await answer(snippet)
        lines.extend(out)
        lines.append(f"{SECTION} {status}")
    return 0, lines, []


def read_many(command_line: str, files: dict[str, str]) -> tuple[int, list[str], list[str]] | None:
    """RemoteFiles.prefetched's one read of several files (``+BASE64`` or ``-`` a line each), as its own
    command or as a snippet of a batched read (RemoteFiles.read_snippet), or None."""
    if command_line.startswith("(set -- ") and "; for p do" in command_line:
        paths = shlex.split(command_line[len("(set -- "):command_line.index("; for p do")])
    elif command_line.startswith("sh -c 'for p do"):
        paths = shlex.split(command_line)[4:]  # sh -c SCRIPT regwiz PATH...
    else:
        return None
    return 0, [f"+{base64.b64encode(files[p].encode()).decode()}" if p in files else "-" for p in paths], []


class RecordedTransport(Transport):
    """A host made of recorded files; each command is noted in ``commands`` and answered as its shell would.

    Batched reads (``facts.read_in_one``, ``RemoteFiles.prefetched``) and single-file reads are answered
    here from ``files``; every other command by the subclass's ``answer`` (by default: it fails).
    """

    label = "recorded"

    def __init__(self, files: dict[str, str]) -> None:
        super().__init__()
        self.files = files
        self.commands: list[str] = []

    async def is_root(self) -> bool:
        return True

    async def _execute(self, command_line: str, stdin: object, sink: object, keep_output: bool,
                       timeout: float | None) -> tuple[int, list[str], list[str]]:
        self.commands.append(command_line)
        snippets = snippets_of(command_line)
        if snippets is not None:  # one round trip of several reads: each answered as the shell would
            return await answer_in_one(snippets, self._answer_one)
        return await self._answer_one(command_line)

    async def _answer_one(self, command_line: str) -> tuple[int, list[str], list[str]]:
        many = read_many(command_line, self.files)  # RemoteFiles.prefetched: every file in one read
        if many is not None:
            return many
        if "base64 <" in command_line:  # RemoteFiles.read_base64: exit 3 for a missing file
            path = shlex.split(command_line)[-1]
            if path not in self.files:
                return 3, [], []
            return 0, [base64.b64encode(self.files[path].encode()).decode()], []
        return await self.answer(command_line)

    async def answer(self, command_line: str) -> tuple[int, list[str], list[str]]:
        return 1, [], []
