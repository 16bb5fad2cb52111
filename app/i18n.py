"""Translations: every string a person reads goes through ``_`` (Python's gettext; catalogs kept with Babel).

The language is the saved setting ``language`` when there is one (the palette changes it), else what
LC_ALL, LC_MESSAGES and LANG say, in that order, as the C library reads them; English wherever no
catalog matches. The source of a catalog is ``app/locale/<language>/LC_MESSAGES/regwiz.po``, committed;
the ``.mo`` beside it is compiled from it by the project's own command (``python -m app.i18n compile``,
which ``./dev`` runs) and never committed.

``_`` translates when it is called, so it belongs inside functions. A string at module or class level
(a binding's description, a table's heading) is marked with ``N_`` and translated where it is shown:
that keeps a language chosen after import in force (tests/test_i18n.py checks the rule).

Not translated, on purpose: JSON keys and values that scripts read, command lines, file contents,
diffs, and what hosts and daemons print.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from babel.messages.catalog import Catalog

DOMAIN = "regwiz"
LOCALE_DIR = Path(__file__).with_name("locale")
#: The languages regwiz speaks, by their catalog's name, each named in its own language.
LANGUAGES = {"en": "English", "zh_CN": "简体中文"}
ENGLISH = "en"
#: Chinese written with simplified characters; zh_TW and zh_HK use traditional ones, which regwiz lacks.
_SIMPLIFIED_CHINESE = {"zh", "zh_cn", "zh_sg", "zh_hans", "zh_hans_cn"}



class _Translations(Protocol):
    def gettext(self, message: str) -> str: ...
    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str: ...


class _English:
    """What gettext.NullTranslations answers (each message itself), without importing gettext:
    English, the language of most runs, needs no catalog (start-up time; tests/test_lazy_imports.py)."""

    def gettext(self, message: str) -> str:
        return message

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return msgid1 if n == 1 else msgid2


_active: _Translations = _English()
_language = ENGLISH


def _(message: str) -> str:
    """``message`` in the language in use (itself where the catalog has no entry)."""
    return _active.gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return _active.ngettext(singular, plural, count)


def N_(message: str) -> str:
    """Mark ``message`` for the catalog without translating it yet (module and class level)."""
    return message


def normalise(name: str | None) -> str | None:
    """The catalog a locale name asks for ("zh_CN.UTF-8" → "zh_CN"), or None when regwiz has none."""
    if not name:
        return None
    base = name.split(".", 1)[0].split("@", 1)[0].replace("-", "_").strip()
    if base.lower() in ("c", "posix", ""):
        return ENGLISH
    if base.lower() in _SIMPLIFIED_CHINESE:
        return "zh_CN"
    if base.split("_", 1)[0].lower() == "en":
        return ENGLISH
    return next((lang for lang in LANGUAGES if lang.lower() == base.lower()), None)


def language_from_environment(environ: Mapping[str, str] = os.environ) -> str:
    """The language the locale variables ask for: the first of LC_ALL, LC_MESSAGES, LANG that is set."""
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(variable)
        if value:  # an empty variable is as good as unset; the first set one decides, as in C
            return normalise(value) or ENGLISH
    return ENGLISH


def choose(setting: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """The saved setting when it names a language regwiz has, else the environment's."""
    chosen = normalise(setting)
    return chosen if chosen in LANGUAGES else language_from_environment(environ)


def use(language: str, locale_dir: Path = LOCALE_DIR) -> str:
    """Translate from now on into ``language``; returns the language really in use.

    English where the catalog is missing (not compiled yet, or a language regwiz lacks).
    """
    global _active, _language
    language = normalise(language) or ENGLISH
    if language == ENGLISH:
        _active, _language = _English(), ENGLISH
        return _language
    import gettext  # a catalog to read (English needs none)

    try:
        _active = gettext.translation(DOMAIN, str(locale_dir), languages=[language])
        _language = language
    except OSError:
        _active, _language = _English(), ENGLISH
    return _language


def current() -> str:
    return _language


def retranslator() -> Callable[[str], str]:
    """Called before a change of language (``use``): a function that gives a text shown now, in the
    language in use now, in the language in use when the function is called.

    A catalog message is found as it was shown; a message with values filled in ("e.g. 203.0.113.10") is
    found by its template, and written again with the same values in the new wording. A text the catalogs
    do not know (a host's name, what a host printed) comes back as it is.
    """
    old = _active
    catalog = getattr(old, "_catalog", {})
    english = {text: message for message, text in catalog.items() if isinstance(message, str) and message and text}
    templates: list[tuple[re.Pattern[str], str, int]] = []

    def again(text: str) -> str:
        translated = _(english.get(text, text))
        if translated != text or "{" in text:
            return translated
        if not templates:  # the first call, in the new language: every template as the old one words it
            messages = catalog or getattr(_active, "_catalog", {})
            templates.extend(_templates(old, [m for m in messages if isinstance(m, str) and "{" in m]))
        for pattern, message, _literal in templates:
            found = pattern.fullmatch(text)
            if found:
                return _(message).format(**found.groupdict())
        return text

    return again


def _templates(old: _Translations, messages: list[str]) -> list[tuple[re.Pattern[str], str, int]]:
    """A pattern for each message with plain {name} fields, as ``old`` words it, the most literal first (so
    that a message that is mostly values never wins over one that says more)."""
    import string

    found = []
    for message in messages:
        try:
            parts = list(string.Formatter().parse(old.gettext(message)))
        except ValueError:
            continue
        pattern, literal, names, plain = "", 0, set(), True
        for text, name, spec, conversion in parts:
            pattern += re.escape(text)
            literal += len(re.findall(r"\w", text))  # (letters and digits: "例如" says as much as "e.g.")
            if name is None:
                continue
            if not name.isidentifier() or spec or conversion:
                plain = False
                break
            pattern += f"(?P={name})" if name in names else f"(?P<{name}>.+?)"
            names.add(name)
        if plain and names and literal >= 2:
            found.append((re.compile(pattern, re.S), message, literal))
    return sorted(found, key=lambda entry: -entry[2])


def use_configured(environ: Mapping[str, str] = os.environ) -> str:
    """The language of the saved setting or the environment, put in use (called once at start-up)."""
    from app.settings import load_settings

    return use(choose(load_settings().get("language"), environ))


# -- keeping the catalogs (the project's own commands; Babel is needed only here) ---------------------

SOURCES = ("app", "screens")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def catalog_path(language: str, suffix: str = ".po", locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}{suffix}"


def extract(root: Path) -> Catalog:
    """Every marked string of app/ and screens/, as a Babel catalog (the template)."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    template = Catalog(project="regwiz", domain=DOMAIN)
    for folder in SOURCES:
        for filename, lineno, message, comments, context in extract_from_dir(
                root / folder, method_map=[("**.py", "python")], keywords=KEYWORDS,
                comment_tags=("TRANSLATORS:",), strip_comment_tags=True):
            template.add(message, None, [(f"{folder}/{filename}", lineno)], auto_comments=comments,
                         context=context)
    return template


def update(root: Path, language: str) -> Path:
    """Bring ``language``'s .po up to the strings the code marks (new ones empty, gone ones obsolete)."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    path = catalog_path(language, locale_dir=root / "app" / "locale")
    if path.exists():
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=language, domain=DOMAIN)
    else:
        catalog = Catalog(locale=language, domain=DOMAIN, project="regwiz")
    catalog.update(extract(root), no_fuzzy_matching=True)  # a guessed translation is worse than none
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100, sort_output=False, ignore_obsolete=True, include_lineno=False)
    return path


def compile_catalogs(locale_dir: Path = LOCALE_DIR) -> list[Path]:
    """Compile every .po under ``locale_dir`` into its .mo (only when the .po is newer)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=po.parent.parent.name, domain=DOMAIN)
        temporary = mo.with_suffix(".mo.tmp")
        with temporary.open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)
        temporary.replace(mo)
        written.append(mo)
    return written


def main(argv: list[str]) -> int:
    """python -m app.i18n compile | update [LANGUAGE ...]"""
    root = Path(__file__).resolve().parent.parent
    if argv[:1] == ["compile"]:
        for mo in compile_catalogs():
            print(f"compiled {mo.relative_to(root)}")
        return 0
    if argv[:1] == ["update"]:
        for language in argv[1:] or [lang for lang in LANGUAGES if lang != ENGLISH]:
            print(f"updated {update(root, language).relative_to(root)}")
        return 0
    print("usage: python -m app.i18n compile | update [LANGUAGE ...]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
