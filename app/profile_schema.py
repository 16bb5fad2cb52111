"""The machinery behind the profile's one declaration (the dataclasses of ``app.profiles``).

Each dataclass field that belongs in the TOML file is declared with ``value()``,
``table()`` or ``tables()``: its TOML key, its check, its default, its help
comment, whether a fresh file always shows it, and whether it may go into a
team profile. ``Schema`` reads that declaration once and from it:

- reads a TOML text into the dataclasses, every problem a ``ProfileError``
  naming the file, the line and the field;
- writes a profile back with tomlkit, editing the user's text in place so their
  comments, blank lines and key order survive, or writing a fresh document in
  the declared order with the declared comments;
- renders a team profile: only the parts declared ``team=True``.

Nothing here knows a profile's keys: they are all in the declaration.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, Callable, Iterable, NoReturn, Sequence

import tomlkit
from tomlkit.items import AoT, InlineTable, Table, Whitespace

from app.i18n import _

META = "regwiz.profile"

# Keys that would hold a secret itself; the profile must name a variable instead.
SECRET_KEYS = frozenset({"password", "passphrase", "sudo_password", "secret", "access_key_secret", "token"})
_SECRET_SUFFIXES = ("_password", "_passphrase", "_secret", "_token")
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- errors ------------------------------------------------------------------


class ProfileError(ValueError):
    """A profile that cannot be read, checked or written.

    ``str()`` is a whole sentence: the file, the line when known, the field and
    what is wrong with it. ``message`` is that sentence without the location.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        line: int | None = None,
        field: str | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.field = field
        self.column = column
        super().__init__(self._sentence())

    def _sentence(self) -> str:
        where = []
        if self.path is not None:
            where.append(str(self.path))
        if self.line is not None:
            where.append(_("line {line}, column {column}").format(line=self.line, column=self.column)
                         if self.column else _("line {line}").format(line=self.line))
        return f"{', '.join(where)}: {self.message}" if where else self.message


def secret_env_key(key: str) -> str | None:
    """The ``*_env`` key to use instead, if ``key`` names a secret value."""
    low = key.lower()
    if low in SECRET_KEYS or low.endswith(_SECRET_SUFFIXES):
        return f"{key}_env"
    return None


def show(value: Any) -> str:
    """A value as the user wrote it, for an error message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 60 else text[:57] + '..."'
    if isinstance(value, dict):
        return _("a table")
    if isinstance(value, list):
        return _("an array")
    return str(value)


# --- checks: what a value may be -----------------------------------------------


@dataclass(frozen=True)
class Problem:
    """What is wrong with a value; ``at`` leads from the value to the part at fault (a list index)."""

    message: str
    at: tuple = ()


# A check answers None (fine), a message, or a Problem. The first check of a key
# is its type; further ones (``rules``) see a value of that type.
Check = Callable[[Any], "str | Problem | None"]


@dataclass(frozen=True)
class Text:
    """A string: not blank unless ``empty``; without whitespace unless ``spaces``."""

    empty: bool = False
    spaces: bool = True

    def __call__(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return _("must be a string (found {value})").format(value=show(value))
        if not self.empty and not value.strip():
            return _("must not be empty")
        if not self.spaces and value and any(ch.isspace() or ord(ch) < 0x20 for ch in value):
            return _("must not contain spaces or control characters (found {value})").format(value=show(value))
        return None


@dataclass(frozen=True)
class Port:
    def __call__(self, value: Any) -> str | None:
        if type(value) is not int or not 1 <= value <= 65535:
            return _("must be a whole number from 1 to 65535 (found {value})").format(value=show(value))
        return None


@dataclass(frozen=True)
class Flag:
    def __call__(self, value: Any) -> str | None:
        return None if isinstance(value, bool) else _("must be true or false (found {value})").format(
            value=show(value))


class Choice:
    """One of ``choices``: a tuple, or a function giving it (read when checked, so the
    list may live elsewhere and be filled in later)."""

    def __init__(self, choices: Sequence[str] | Callable[[], Sequence[str]]) -> None:
        self._choices = choices

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(self._choices() if callable(self._choices) else self._choices)

    def __call__(self, value: Any) -> str | None:
        choices = self.choices
        if not isinstance(value, str) or value not in choices:
            return _("must be one of {choices} (found {value})").format(choices=", ".join(map(show, choices)),
                                                                         value=show(value))
        return None

    def help(self) -> str:
        return " | ".join(self.choices)


@dataclass(frozen=True)
class EnvName:
    """The name of an environment variable holding a secret."""

    def __call__(self, value: Any) -> str | None:
        # The value is not shown: a user may have put the secret itself here.
        if not isinstance(value, str) or not _ENV_RE.fullmatch(value):
            return _("must be the name of an environment variable (letters, digits and '_', not starting "
                     "with a digit), not the secret itself")
        return None


@dataclass(frozen=True)
class Names:
    """An array of names without spaces; ``each`` checks every name once all are names."""

    each: Check | None = None

    def __call__(self, value: Any) -> str | Problem | None:
        if not isinstance(value, list):
            return _("must be an array of strings (found {value})").format(value=show(value))
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip() or any(ch.isspace() for ch in item):
                return Problem(_("must be a name without spaces (found {value})").format(value=show(item)), (index,))
        for index, item in enumerate(value):
            if self.each is not None and (problem := self.each(item)):
                return Problem(problem if isinstance(problem, str) else problem.message, (index,))
        return None


# --- the declaration -------------------------------------------------------------

REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()  # absent never equals a value
UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET"})()  # a parameter not given


@dataclass(frozen=True)
class Decl:
    """What a field's ``metadata`` holds: how it lives in the TOML file."""

    shape: str  # "value" | "table" | "tables"
    check: tuple[Check, ...] = ()
    toml: str | None = None  # the TOML key, when not the attribute's name
    required: bool = False
    absent: Any = UNSET  # the value when the key is absent, when not the field's default
    always: bool | Callable[[dict[str, Any]], bool] = False  # a fresh file shows it even at its default
    help: str | None = None  # the comment beside it (a table's: on its header)
    team: bool | None = None  # goes into a team profile; None: as the table holding it (a table left out takes none)
    table: type | None = None  # the dataclass of a table or of an array's entries
    optional: bool = False  # a table that may be absent (None)
    unique: tuple[str, str] | None = None  # an array's entries differ in this key, named so in the message


def _field(decl: Decl, default: Any, factory: Any) -> Any:
    kwargs: dict[str, Any] = {"metadata": {META: decl}}
    if default is not dataclasses.MISSING:
        kwargs["default"] = default
    if factory is not dataclasses.MISSING:
        kwargs["default_factory"] = factory
    return dataclasses.field(**kwargs)


def value(check: Check, *rules: Check, default: Any = dataclasses.MISSING, required: bool = False,
          absent: Any = UNSET, toml: str | None = None, always: bool | Callable = False,
          help: str | None = None, team: bool | None = None, factory: Any = dataclasses.MISSING) -> Any:
    """A key holding a value: ``check`` its type, ``rules`` further checks, in order."""
    decl = Decl("value", (check, *rules), toml, required, absent, always, help, team)
    return _field(decl, default, factory)


def table(cls: type, *, optional: bool = False, toml: str | None = None, help: str | None = None,
          team: bool | None = None) -> Any:
    """A key holding a table of ``cls``; ``optional``: it may be absent (None)."""
    decl = Decl("table", toml=toml, help=help, team=team, table=cls, optional=optional)
    return _field(decl, None if optional else dataclasses.MISSING, dataclasses.MISSING if optional else cls)


def tables(cls: type, *, toml: str | None = None, unique: tuple[str, str] | None = None,
           team: bool | None = None) -> Any:
    """A key holding an array of tables of ``cls``."""
    decl = Decl("tables", toml=toml, team=team, table=cls, unique=unique)
    return _field(decl, dataclasses.MISSING, list)


@dataclass(frozen=True)
class Key:
    """One declared key, resolved: its TOML name, defaults and sub-table."""

    attr: str
    name: str
    decl: Decl
    write_default: Any  # what an absent key means when comparing and writing
    read_default: Callable[[], Any] | None  # an absent key's value when read; None: required
    sub: Schema | None

    @property
    def shape(self) -> str:
        return self.decl.shape

    @property
    def help(self) -> str | None:
        if self.decl.help is not None:
            return self.decl.help
        first = self.decl.check[0] if self.decl.check else None
        return first.help() if isinstance(first, Choice) else None

    def always(self, table: dict[str, Any]) -> bool:
        rule = self.decl.always
        return rule(table) if callable(rule) else bool(rule)


class Schema:
    """The declared keys of a dataclass, values first, then tables (as TOML needs them)."""

    _cache: dict[type, Schema] = {}

    def __init__(self, cls: type, keys: Sequence[Key]) -> None:
        self.cls = cls
        self.keys = tuple(keys)

    @classmethod
    def of(cls, dataclass_type: type) -> Schema:
        if dataclass_type not in cls._cache:
            cls._cache[dataclass_type] = cls(dataclass_type, _keys_of(dataclass_type))
        return cls._cache[dataclass_type]

    def team_view(self, inherited: bool = False) -> Schema:
        """Only the keys declared to go into a team profile (a key without a flag follows its table)."""
        keys = []
        for key in self.keys:
            if key.decl.team if key.decl.team is not None else inherited:
                sub = key.sub.team_view(True) if key.sub is not None else None
                keys.append(dataclasses.replace(key, sub=sub))
        return Schema(self.cls, keys)

    # --- the three uses --------------------------------------------------------

    def parse(self, text: str, path: Path | None = None) -> Any:
        """The dataclass in ``text``; every problem a ProfileError naming the field and line.

        Unknown keys are allowed (a newer regwiz may have written them), but a
        key that would hold a secret is refused, wherever it is.
        """
        reader = _Reader(text, path)
        data = reader.toml()
        reader.refuse_secrets(data)
        return reader.read(self, data, ())

    def data(self, obj: Any) -> dict[str, Any]:
        """``obj`` as plain TOML-shaped values keyed by TOML names, None for an absent optional table."""
        out: dict[str, Any] = {}
        for key in self.keys:
            item = getattr(obj, key.attr)
            if key.shape == "value":
                out[key.name] = list(item) if isinstance(item, list) else item
            elif key.shape == "table":
                out[key.name] = None if item is None else key.sub.data(item)  # type: ignore[union-attr]
            else:
                out[key.name] = [key.sub.data(entry) for entry in item]  # type: ignore[union-attr]
        return out


def _keys_of(cls: type) -> list[Key]:
    values, subtables = [], []
    for f in dataclasses.fields(cls):
        decl = f.metadata.get(META)
        if decl is None:
            continue  # not part of the file (e.g. where it was read from)
        name = decl.toml or f.name
        if secret_env_key(name):
            raise TypeError(f"{cls.__name__}.{f.name}: the key {name!r} would hold a secret; declare "
                            f"{secret_env_key(name)!r}, the variable's name, instead")
        sub = Schema.of(decl.table) if decl.table is not None else None
        if decl.shape == "value":
            has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            field_default = (f.default if f.default is not dataclasses.MISSING
                             else f.default_factory() if f.default_factory is not dataclasses.MISSING else REQUIRED)
            absent = decl.absent if decl.absent is not UNSET else field_default
            write_default = field_default if has_default else (decl.absent if decl.absent is not UNSET else REQUIRED)
            read_default = None if decl.required or absent is REQUIRED else _copier(absent)
            values.append(Key(f.name, name, decl, write_default, read_default, None))
        else:
            subtables.append(Key(f.name, name, decl, None, None, sub))
    return values + subtables


def _copier(default: Any) -> Callable[[], Any]:
    return (lambda: list(default)) if isinstance(default, list) else (lambda: default)


# --- reading -----------------------------------------------------------------

FieldPath = tuple  # ("clients", 1, "kind")


def field_name(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART})*"
_KEY_LINE = re.compile(rf"[ \t]*({_DOTTED})[ \t]*=")
_AOT_HEADER = re.compile(rf"[ \t]*\[\[[ \t]*({_DOTTED})[ \t]*\]\]")
_TABLE_HEADER = re.compile(rf"[ \t]*\[[ \t]*({_DOTTED})[ \t]*\]")


def _key_parts(dotted: str) -> tuple[str, ...]:
    parts = []
    for raw in re.findall(_KEY_PART, dotted):
        if raw.startswith('"'):
            try:
                raw = json.loads(raw)
            except ValueError:
                raw = raw[1:-1]
        elif raw.startswith("'"):
            raw = raw[1:-1]
        parts.append(raw)
    return tuple(parts)


class _LineMap:
    """Where each key and table of a TOML text starts: a best-effort scan.

    Paths look like ("clients", 1, "kind"): the index counts the entries of an
    array of tables. Inline tables are not looked into (their key's line is used).
    """

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple, int] = {}
        self.duplicates: list[int] = []
        counts: dict[tuple, int] = {}
        current: tuple = ()
        in_string: str | None = None
        for number, line in enumerate(text.splitlines(), 1):
            if in_string:
                if in_string in line:
                    in_string = None
                continue
            if m := _AOT_HEADER.match(line):
                parts = _key_parts(m.group(1))
                full = self._resolve(parts[:-1], counts) + parts[-1:]
                index = counts.get(full, -1) + 1
                counts[full] = index
                current = full + (index,)
                self.lines.setdefault(full, number)
                self.lines[current] = number
                continue
            if m := _TABLE_HEADER.match(line):
                current = self._resolve(_key_parts(m.group(1)), counts)
                if current in self.lines:
                    self.duplicates.append(number)
                self.lines.setdefault(current, number)
                continue
            if m := _KEY_LINE.match(line):
                full = current + _key_parts(m.group(1))
                if full in self.lines:
                    self.duplicates.append(number)
                self.lines.setdefault(full, number)
                rest = line[m.end():].lstrip()
                for quote in ('"""', "'''"):
                    if rest.startswith(quote) and quote not in rest[3:]:
                        in_string = quote

    @staticmethod
    def _resolve(parts: tuple[str, ...], counts: dict[tuple, int]) -> tuple:
        path: tuple = ()
        for part in parts:
            path += (part,)
            if path in counts:  # inside the latest entry of that array of tables
                path += (counts[path],)
        return path

    def line_of(self, path: tuple) -> int | None:
        """The line of ``path``, else of its nearest enclosing key or table."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


class _Reader:
    """Checks the parsed TOML against a Schema and builds its dataclasses, failing with the field's line."""

    def __init__(self, text: str, path: Path | None) -> None:
        self.text = text
        self.path = path
        self._map: _LineMap | None = None

    @property
    def map(self) -> _LineMap:
        if self._map is None:
            self._map = _LineMap(self.text)
        return self._map

    def fail(self, where: FieldPath, message: str) -> NoReturn:
        name = field_name(where)
        raise ProfileError(f"{name} {message}", path=self.path, line=self.map.line_of(where), field=name)

    def toml(self) -> dict[str, Any]:
        try:
            return tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            reason = str(exc)
            line = column = None
            if m := _TOML_WHERE.search(reason):
                line, column = int(m.group(1)), int(m.group(2))
                reason = reason[: m.start()]
            elif reason.endswith("(at end of document)"):
                reason = reason[: -len("(at end of document)")].rstrip()
                if reason.startswith("Cannot"):  # a key or table given twice
                    line = self.map.duplicates[0] if self.map.duplicates else None
                else:
                    line = self.text.count("\n") + 1
            raise ProfileError(
                _("the profile is not valid TOML: {reason}").format(reason=f"{reason[:1].lower()}{reason[1:]}"),
                path=self.path, line=line, column=column,
            ) from None
        except RecursionError:
            raise ProfileError(_("the profile is not usable TOML: it nests too deeply"), path=self.path) from None

    def refuse_secrets(self, data: Any, where: FieldPath = ()) -> None:
        if isinstance(data, dict):
            for key, item in data.items():
                env_key = secret_env_key(key)
                holds_tables = isinstance(item, dict) or (
                    isinstance(item, list) and bool(item) and all(isinstance(x, dict) for x in item))
                if env_key and not holds_tables:
                    self.fail(
                        where + (key,),
                        _("would hold a secret, and secrets never live in a profile: put it in an environment "
                          "variable and give that variable's name as {field}").format(
                              field=field_name(where + (env_key,))),
                    )
                self.refuse_secrets(item, where + (key,))
        elif isinstance(data, list):
            for index, item in enumerate(data):
                self.refuse_secrets(item, where + (index,))

    def read(self, schema: Schema, data: dict, where: FieldPath) -> Any:
        """The dataclass of ``schema`` from ``data``: the tables' shapes first, then the values, then the tables."""
        subtables = [key for key in schema.keys if key.shape != "value"]
        shaped = {key.name: self.shape(key, data.get(key.name), where + (key.name,)) for key in subtables}
        kwargs = {key.attr: self.value(key, data, where + (key.name,)) for key in schema.keys
                  if key.shape == "value"}
        for key in subtables:
            found, at = shaped[key.name], where + (key.name,)
            sub: Schema = key.sub  # type: ignore[assignment]
            if key.shape == "table":
                kwargs[key.attr] = (None if found is None and key.decl.optional
                                    else self.read(sub, found or {}, at))
            else:
                kwargs[key.attr] = self.entries(key, sub, found, at)
        return schema.cls(**kwargs)

    def shape(self, key: Key, found: Any, where: FieldPath) -> Any:
        header = field_name(part for part in where if not isinstance(part, int))
        if key.shape == "table":
            if found is None or isinstance(found, dict):
                return found
            self.fail(where, _("must be a table, written {header} (found {value})").format(
                header=f"[{header}]", value=show(found)))
        if found is None:
            return []
        if not isinstance(found, list):
            self.fail(where, _("must be an array of tables, each written {header} (found {value})").format(
                header=f"[[{header}]]", value=show(found)))
        for index, entry in enumerate(found):
            if not isinstance(entry, dict):
                self.fail(where + (index,), _("must be a table, written {header} (found {value})").format(
                    header=f"[[{header}]]", value=show(entry)))
        return found

    def entries(self, key: Key, sub: Schema, found: list[dict], where: FieldPath) -> list[Any]:
        out: list[Any] = []
        seen: set[Any] = set()
        for index, entry in enumerate(found):
            item = self.read(sub, entry, where + (index,))
            if key.decl.unique is not None:
                unique_key, noun = key.decl.unique
                mark = entry.get(unique_key)
                if mark in seen:
                    self.fail(where + (index, unique_key), _("repeats the {noun} {value}").format(
                        noun=_(noun), value=show(mark)))
                seen.add(mark)
            out.append(item)
        return out

    def value(self, key: Key, data: dict, where: FieldPath) -> Any:
        found = data.get(key.name)
        if found is None:  # TOML has no null: absent
            if key.read_default is None:
                self.fail(where, _("is missing"))
            return key.read_default()
        for check in key.decl.check:
            problem = check(found)
            if isinstance(problem, Problem):
                self.fail(where + problem.at, problem.message)
            if problem:
                self.fail(where, problem)
        return list(found) if isinstance(found, list) else found


# --- writing -----------------------------------------------------------------

_COMMENT_COLUMNS = (29, 38)  # where the comments of the example profile start


def same(a: Any, b: Any) -> bool:
    """Equal as TOML values (True is not 1)."""
    try:
        return json.dumps(a, sort_keys=True, default=repr) == json.dumps(b, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        return a == b


def _plain(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item


def _current(container: Any, schema: Schema) -> dict[str, Any]:
    """What a tomlkit table holds, shaped like ``Schema.data``: defaults for absent keys."""
    out: dict[str, Any] = {}
    for key in schema.keys:
        present = container is not None and key.name in container
        sub: Schema = key.sub  # type: ignore[assignment]
        if key.shape == "table":
            if present:
                out[key.name] = _current(container[key.name], sub)
            else:
                out[key.name] = None if key.decl.optional else _current(None, sub)
        elif key.shape == "tables":
            out[key.name] = [_current(entry, sub) for entry in container[key.name]] if present else []
        else:
            out[key.name] = _plain(container[key.name]) if present else key.write_default
    return out


def _value_item(name: str, value: Any, help: str | None) -> Any:
    if isinstance(value, str) and "\n" in value:
        # A multi-line basic string, its text starting on the next line (TOML drops that newline).
        item = tomlkit.string(value, multiline=True)
        body = item.as_string()
        if not body.startswith('"""\n'):
            item = tomlkit.parse(f'v = """\n{body[3:]}\n')["v"]
    else:
        item = tomlkit.item(value)
        if isinstance(value, list):
            item.multiline(False)
    if help:
        item.comment(help)
        width = len(f"{name} = {item.as_string()}")
        column = next((c for c in _COMMENT_COLUMNS if width + 2 <= c), width + 2)
        item.trivia.comment_ws = " " * (column - width)
    return item


def fresh_table(want: dict[str, Any], schema: Schema, *, help: str | None = None, inline: bool = False) -> Any:
    """A new table holding ``want``: its keys in the declared order, with their comments.

    ``inline``: an inline table (no comments), to go where one is already used.
    """
    table = tomlkit.inline_table() if inline else tomlkit.table()
    if help and not inline:
        table.comment(help)
    for key in schema.keys:
        item = want.get(key.name)
        if key.shape == "value":
            if item is not None and (key.always(want) or not same(item, key.write_default)):
                table.append(key.name, _value_item(key.name, item, None if inline else key.help))
    for key in schema.keys:
        item, sub = want.get(key.name), key.sub
        if key.shape == "table" and item is not None:
            table.append(key.name, fresh_table(item, sub, help=key.help, inline=inline))  # type: ignore[arg-type]
        elif key.shape == "tables" and item:
            table.append(key.name, _fresh_tables(item, sub, inline=inline))  # type: ignore[arg-type]
    return table


def _fresh_tables(want: list[dict[str, Any]], schema: Schema, *, inline: bool = False) -> Any:
    """A new array of tables, or with ``inline`` an array of inline tables."""
    out = tomlkit.array() if inline else tomlkit.aot()
    for entry in want:
        out.append(fresh_table(entry, schema, inline=inline))
    return out


def fresh_document(want: dict[str, Any], schema: Schema, header: str) -> tomlkit.TOMLDocument:
    doc = tomlkit.document()
    doc.add(tomlkit.comment(header))
    doc.add(tomlkit.nl())
    for key in schema.keys:
        item, sub = want[key.name], key.sub
        if key.shape == "tables":
            if item:
                doc.add(key.name, _fresh_tables(item, sub))  # type: ignore[arg-type]
        elif key.shape == "table" and item is not None:
            doc.add(key.name, fresh_table(item, sub, help=key.help))  # type: ignore[arg-type]
        elif key.shape == "value" and item is not None and (key.always(want) or not same(item, key.write_default)):
            doc.add(key.name, _value_item(key.name, item, key.help))
    return doc


def _ends_with_blank(item: Any) -> bool:
    """Whether a tomlkit table, array of tables or document ends with a blank line."""
    if isinstance(item, AoT):
        return bool(len(item)) and _ends_with_blank(item[-1])
    body = getattr(item, "body", None)
    if body is None:
        body = getattr(getattr(item, "value", None), "body", None)
    if not body:
        return False
    last = body[-1][1]
    if isinstance(last, Whitespace):
        return "\n" in last.as_string()
    return isinstance(last, (Table, AoT)) and _ends_with_blank(last)


def _add_table(container: Any, key: str, item: Table | AoT) -> None:
    """Add a new table where tomlkit puts it, keeping the blank line that closed the container."""
    closing = _ends_with_blank(container)
    if closing:
        (item[-1] if isinstance(item, AoT) else item).add(tomlkit.nl())
    container[key] = item


def sync(container: Any, want: dict[str, Any], schema: Schema) -> None:
    """Change in ``container`` (a tomlkit document or table) only what differs from ``want``."""
    inline = isinstance(container, InlineTable)
    for key in schema.keys:
        name, item, present = key.name, want[key.name], key.name in container
        sub: Schema = key.sub  # type: ignore[assignment]
        if key.shape == "table":
            if item is None:
                if present:
                    del container[name]
            elif present:
                sync(container[name], item, sub)
            elif not key.decl.optional and same(_current(None, sub), item):
                continue  # absent and all defaults: leave it absent
            else:
                _add_table(container, name, fresh_table(item, sub, help=key.help, inline=inline))
        elif key.shape == "tables":
            current = [_current(entry, sub) for entry in container[name]] if present else []
            if same(current, item):
                continue
            if not item:
                del container[name]
            elif not present:
                _add_table(container, name, _fresh_tables(item, sub, inline=inline))
            else:
                _sync_tables(container[name], current, item, sub)
        else:
            current_value = _plain(container[name]) if present else key.write_default
            if same(current_value, item):
                continue
            if item is None:
                del container[name]
                continue
            new = _value_item(name, item, None if inline else key.help)
            if present and hasattr(container[name], "trivia"):  # keep the user's comment and spacing
                old = container[name]
                new.trivia.indent = old.trivia.indent
                new.trivia.comment_ws = old.trivia.comment_ws
                new.trivia.comment = old.trivia.comment
                new.trivia.trail = old.trivia.trail
            container[name] = new


def _sync_tables(entries: Any, current: list[dict], want: list[dict], schema: Schema) -> None:
    """Edit an array of tables (or of inline tables) entry by entry: unchanged entries keep their text."""
    inline = not isinstance(entries, AoT)
    keys_now = [json.dumps(c, sort_keys=True) for c in current]
    keys_want = [json.dumps(w, sort_keys=True) for w in want]
    ops = SequenceMatcher(None, keys_now, keys_want, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(ops):
        if tag == "equal":
            continue
        shared = min(i2 - i1, j2 - j1)
        for index in reversed(range(i1 + shared, i2)):
            del entries[index]
        for offset in range(shared):
            sync(entries[i1 + offset], want[j1 + offset], schema)
        for offset, j in enumerate(range(j1 + shared, j2)):
            position = i1 + shared + offset
            entry = fresh_table(want[j], schema, inline=inline)
            if inline:
                entries.insert(position, entry)
                continue
            # Entries are kept apart by a blank line, as tomlkit writes them.
            if position > 0 and not _ends_with_blank(entries[position - 1]):
                entry.trivia.indent = "\n"
            if position >= len(entries):
                if len(entries) and _ends_with_blank(entries[-1]):
                    entry.add(tomlkit.nl())  # the blank line that closed the array moves down
                entries.append(entry)
            else:
                entry.add(tomlkit.nl())
                entries.insert(position, entry)


def render(obj: Any, schema: Schema, source_text: str | None, header: str, path: Path | None = None) -> str:
    """The TOML text of ``obj`` as ``schema`` (the whole declaration, or a view of it) declares it.

    With ``source_text``, that text is edited in place: only the values that
    differ change, so comments, blank lines and key order survive, and what the
    schema does not declare is left as it is. The result is checked by reading it
    back; if an unusual layout of the source defeats the in-place edit, a fresh
    document is written instead.
    """
    full = Schema.of(type(obj))
    want = schema.data(obj)
    if source_text is not None:
        try:
            doc = tomlkit.parse(source_text)
            sync(doc, want, schema)
            text = doc.as_string()
            if "\r\n" in source_text:  # new lines end like the user's
                text = re.sub(r"(?<!\r)\n", "\r\n", text)
            if same(schema.data(full.parse(text)), want):
                return text
        except ProfileError:
            pass
        except Exception:  # noqa: BLE001 - tomlkit on an odd layout; the fresh document is correct
            pass
    try:
        text = fresh_document(want, schema, header).as_string()
    except (TypeError, ValueError) as exc:
        raise ProfileError(_("the profile holds a value TOML cannot represent: {error}").format(error=exc),
                           path=path) from exc
    try:
        back = full.parse(text)
    except ProfileError as exc:
        raise ProfileError(exc.message, path=path, field=exc.field) from None
    if not same(schema.data(back), want):
        raise ProfileError(_("the profile holds values that do not survive being written"), path=path)
    return text
