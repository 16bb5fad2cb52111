"""Only what pyproject.toml cannot say: a built regwiz carries its compiled translation catalogs.

The .mo files are never committed (app/i18n.py); a wheel is built from the .po it ships, compiled here
with the same code as `python -m app.i18n compile` (Babel, a build requirement). An editable install
reads the source tree, where ./dev compiles them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithCatalogs(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        built = Path(self.build_lib) / "app" / "locale"
        if built.is_dir():
            here = Path(__file__).resolve().parent
            spec = importlib.util.spec_from_file_location("regwiz_i18n", here / "app" / "i18n.py")
            assert spec is not None and spec.loader is not None
            i18n = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(i18n)
            i18n.compile_catalogs(built)


setup(cmdclass={"build_py": BuildPyWithCatalogs})
