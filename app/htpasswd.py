"""The registry's htpasswd file: bcrypt entries, reconciled without churn.

distribution accepts only bcrypt entries. Re-running a deploy with the same
passwords must produce the same file byte for byte (a new salt each time
would look like a change), so ``reconcile`` keeps every hash that still
verifies.
"""

from __future__ import annotations

import re
from typing import Mapping

import bcrypt

USERNAME_RE = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._-]{0,63}")
# bcrypt ignores everything past 72 bytes: two passwords sharing those bytes
# would both work, so longer ones are refused rather than truncated.
BCRYPT_MAX_BYTES = 72
MIN_ROUNDS, MAX_ROUNDS = 4, 31


class HtpasswdError(ValueError):
    """A bad user name, password or htpasswd line, with a message fit for the user."""


def validate_username(name: str) -> None:
    if not USERNAME_RE.fullmatch(name):
        raise HtpasswdError(
            f"Invalid registry user name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "not starting with '-'."
        )


def validate_password(password: str) -> None:
    if not password:
        raise HtpasswdError("The password must not be empty.")
    if "\n" in password or "\r" in password or "\0" in password:
        raise HtpasswdError("The password must not contain a line break or a NUL character.")
    size = len(password.encode("utf-8"))
    if size > BCRYPT_MAX_BYTES:
        raise HtpasswdError(
            f"The password is {size} bytes in UTF-8; bcrypt uses at most {BCRYPT_MAX_BYTES}, "
            "so choose a shorter one."
        )


def hash_password(password: str, rounds: int = 10) -> str:
    """A ``$2y$`` bcrypt hash: the prefix Apache's htpasswd writes (same algorithm as $2b$)."""
    validate_password(password)
    if not MIN_ROUNDS <= rounds <= MAX_ROUNDS:
        raise HtpasswdError(f"bcrypt rounds must be {MIN_ROUNDS}-{MAX_ROUNDS}, not {rounds}.")
    hashed = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")
    return "$2y$" + hashed[4:]


def verify_password(password: str, hashed: str) -> bool:
    """Whether ``password`` matches a $2y$/$2b$/$2a$ hash; False for anything malformed."""
    if hashed[:4] not in ("$2y$", "$2b$", "$2a$"):
        return False
    try:
        # $2y$ and $2b$ are the same algorithm; ask bcrypt in the dialect it knows best.
        return bcrypt.checkpw(password.encode("utf-8"), ("$2b$" + hashed[4:]).encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False


def parse(text: str) -> dict[str, str]:
    """``user:hash`` lines in file order; blanks and ``#`` comments skipped (as distribution does)."""
    entries: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep:
            raise HtpasswdError(f"htpasswd line {number} has no ':' between user and hash.")
        entries[user] = hashed  # a repeated user: the last line wins, as in distribution
    return entries


def render(entries: Mapping[str, str]) -> str:
    lines = []
    for user, hashed in entries.items():
        validate_username(user)
        if "\n" in hashed or "\r" in hashed:
            raise HtpasswdError(f"The hash for {user!r} contains a line break.")
        lines.append(f"{user}:{hashed}\n")
    return "".join(lines)


def reconcile(existing_text: str | None, wanted: Mapping[str, str], rounds: int = 10) -> str:
    """An htpasswd file with exactly the ``wanted`` users (user -> plaintext password).

    Unchanged passwords keep their hash byte for byte; existing users keep
    their place and new ones are appended in ``wanted``'s order.
    """
    for user, password in wanted.items():
        validate_username(user)
        validate_password(password)
    existing = parse(existing_text or "")
    order = [u for u in existing if u in wanted] + [u for u in wanted if u not in existing]
    result: dict[str, str] = {}
    for user in order:
        old = existing.get(user)
        if old is not None and verify_password(wanted[user], old):
            result[user] = old
        else:
            result[user] = hash_password(wanted[user], rounds)
    return render(result)


# --- one user at a time (regwiz registry users) -------------------------------


def add_user(text: str | None, user: str, password: str, rounds: int = 10) -> str:
    """The file with ``user`` added at the end; an existing user is refused (rotate changes a password)."""
    validate_username(user)
    entries = parse(text or "")
    if user in entries:
        raise HtpasswdError(f"the registry user {user!r} exists already: rotate changes its password")
    entries[user] = hash_password(password, rounds)
    return render(entries)


def set_password(text: str | None, user: str, password: str, rounds: int = 10) -> str:
    """The file with ``user``'s password replaced (a new salt, so the old hash stops working at once)."""
    validate_username(user)
    entries = parse(text or "")
    if user not in entries:
        raise HtpasswdError(f"there is no registry user {user!r} to rotate: add it first")
    entries[user] = hash_password(password, rounds)
    return render(entries)


def remove_user(text: str | None, user: str) -> str:
    """The file without ``user``; refusing to remove the last one (the registry would refuse everyone)."""
    validate_username(user)
    entries = parse(text or "")
    if user not in entries:
        raise HtpasswdError(f"there is no registry user {user!r} to remove")
    if len(entries) == 1:
        raise HtpasswdError(f"{user!r} is the registry's only user: removing it would lock everyone out; "
                            "add another user first")
    del entries[user]
    return render(entries)
