"""A wheel built from the sources (as a fresh clone has them: no compiled .mo) carries what regwiz reads
at run time besides its modules: the stylesheets, and the translation catalogs, compiled."""

from __future__ import annotations

import gettext
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_ships_the_stylesheets_and_the_compiled_catalogs(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.mo", "*.mo.tmp")
    for package in ("app", "screens"):
        shutil.copytree(ROOT / package, source / package, ignore=ignore)
    assert not list(source.glob("app/locale/*/LC_MESSAGES/*.mo"))  # as committed

    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    [wheel] = (tmp_path / "dist").glob("regwiz-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        stylesheets = sorted(p.name for p in (ROOT / "screens").glob("*.tcss"))
        assert stylesheets and {f"screens/{name}" for name in stylesheets} <= names, sorted(names)
        for po in sorted((ROOT / "app" / "locale").glob("*/LC_MESSAGES/regwiz.po")):
            inside = po.relative_to(ROOT).as_posix()
            assert inside in names
            mo = inside.removesuffix(".po") + ".mo"
            assert mo in names, sorted(n for n in names if "locale" in n)
            # The .mo is the .po compiled: every translated message reads the same through gettext.
            translations = gettext.GNUTranslations(io.BytesIO(archive.read(mo)))
            with po.open("rb") as handle:
                catalog = read_po(handle)
            translated = [m for m in catalog if m.id and isinstance(m.id, str) and m.string and not m.fuzzy]
            assert len(translated) > 100
            for message in translated:
                assert translations.gettext(str(message.id)) == message.string, message.id
