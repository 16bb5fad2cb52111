"""Pure edits of daemon settings: daemon.json lists and shell-style flag variables.

Other keys, other flags and comments are kept; nothing is added twice.
"""

from __future__ import annotations

import json
import re
import shlex

from app.i18n import _


def add_to_json_list(text: str | None, key: str, value: str) -> str:
    """daemon.json with ``value`` in the list ``key`` (created when absent)."""
    config = json.loads(text) if text and text.strip() else {}
    if not isinstance(config, dict):
        raise ValueError(_("daemon.json does not hold a JSON object"))
    items = list(config.get(key, []))
    if value not in items:
        items.append(value)
    config[key] = items
    return json.dumps(config, indent=2) + "\n"


def json_has_key(text: str | None, key: str) -> bool:
    if not text or not text.strip():
        return False
    config = json.loads(text)
    return isinstance(config, dict) and key in config


def _assignment(var: str) -> re.Pattern[str]:
    return re.compile(rf'^(?P<lead>\s*(?:export\s+)?{var}=)(?P<value>.*)$')


def flag_values(text: str, var: str, flag: str) -> list[str]:
    """Values of ``--flag V`` / ``--flag=V`` in the last assignment of ``var``."""
    value = ""
    for line in text.splitlines():
        match = _assignment(var).match(line)
        if match:
            try:
                value = " ".join(shlex.split(match.group("value"), comments=True))
            except ValueError:
                value = match.group("value")
    words = value.split()
    found = []
    for i, word in enumerate(words):
        if word == flag and i + 1 < len(words):
            found.append(words[i + 1])
        elif word.startswith(flag + "="):
            found.append(word.split("=", 1)[1])
    return found


def add_flag(text: str | None, var: str, flag: str, value: str) -> str:
    """The file with ``flag value`` appended to ``var``'s flags (the line made if absent)."""
    text = text or ""
    if value in flag_values(text, var, flag):
        return text
    lines = text.splitlines(keepends=True)
    pattern = _assignment(var)
    for index in range(len(lines) - 1, -1, -1):
        match = pattern.match(lines[index].rstrip("\n"))
        if not match:
            continue
        try:
            words = shlex.split(match.group("value"), comments=True)
        except ValueError:
            raise ValueError(_("cannot read the {variable} line: {line}").format(variable=var,
                                                                                line=lines[index].strip())) from None
        current = " ".join(words)
        new_value = f"{current} {flag} {value}".strip()
        newline = "\n" if lines[index].endswith("\n") else ""
        lines[index] = f'{match.group("lead")}"{new_value}"{newline}'
        return "".join(lines)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    lines.append(f'{var}="{flag} {value}"\n')
    return "".join(lines)
