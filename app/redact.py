"""Secret values and their removal from everything regwiz writes or shows."""

from __future__ import annotations

import threading
from typing import Sequence

REDACTED = "********"


class Secret:
    """A string that never shows itself in a repr, a str() or an f-string.

    Use ``reveal()`` only where the value must leave regwiz: written to a
    process's stdin or handed to a library that authenticates with it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class Redactor:
    """Replaces every registered secret value in text with a fixed mask.

    One redactor is shared by a run; every secret the user types is added to it
    as soon as it is known, so that no later log line can carry it.
    """

    # Shorter values would mask ordinary words; such a weak secret is still
    # never logged on purpose, this only guards against accidents.
    MIN_LENGTH = 3

    def __init__(self) -> None:
        self._values: set[str] = set()
        # Longest first, so a secret that contains another is masked whole; rebuilt on add.
        self._ordered: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, secret: Secret | str | None) -> None:
        if secret is None:
            return
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if len(value) >= self.MIN_LENGTH:
            with self._lock:
                self._values.add(value)
                self._ordered = tuple(sorted(self._values, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        if not self._ordered or not text:
            return text
        for value in self._ordered:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def lines(self, lines: Sequence[str]) -> Sequence[str]:
        """Each line redacted as ``__call__`` would, a whole batch at a time.

        A command's output arrives in batches of thousands of lines: the batch is
        searched as one text, and only a batch that holds a secret is changed.
        Lines hold no newline, and a secret that holds one could never match
        within a line, so masking the joined text masks each line exactly as
        masking them one by one would, and keeps the line count.
        """
        ordered = self._ordered
        if not ordered or not lines:
            return lines
        text = "\n".join(lines)
        if not any(value in text for value in ordered):
            return lines
        if any("\n" in line for line in lines):  # not from a splitter: one by one
            return [self(line) for line in lines]
        return self.joined(text).split("\n")

    @property
    def active(self) -> bool:
        """Whether any secret is registered (none: nothing to mask, no text need be searched)."""
        return bool(self._ordered)

    def joined(self, text: str) -> str:
        """Lines joined by "\n" (none holding a "\n" of its own), each redacted as ``__call__`` would; the same
        object when nothing matched. A secret that holds a newline could never match within a line: it is
        not searched for across lines either."""
        for value in self._ordered:
            if value in text and "\n" not in value:
                text = text.replace(value, REDACTED)
        return text
