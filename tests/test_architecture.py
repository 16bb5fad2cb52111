"""The engine (``app``) never imports textual: CLI, TUI and tests share it."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import app

ROOT = Path(__file__).resolve().parent.parent


def engine_modules() -> list[str]:
    return ["app"] + [m.name for m in pkgutil.walk_packages(app.__path__, "app.") if m.name != "app.__main__"]


def forbidden_imports(source: str, filename: str) -> list[str]:
    """Imports of textual anywhere, and of the UI package at module level.

    The CLI shell (app/cli.py) may start the TUI with an import inside a
    function: that runs only when the user asks for the TUI.
    """
    tree = ast.parse(source, filename)
    module_level = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            root = name.split(".")[0]
            lazy_ui = root == "screens" and id(node) not in module_level and filename.endswith("cli.py")
            if root in ("textual", "rich") or (root == "screens" and not lazy_ui):
                found.append(name)
    return found


def test_no_engine_source_imports_textual() -> None:
    offenders = []
    for path in (ROOT / "app").rglob("*.py"):
        rel = str(path.relative_to(ROOT))
        offenders += [f"{rel}: {n}" for n in forbidden_imports(path.read_text(), rel)]
    assert offenders == []


def test_importing_every_engine_module_loads_no_textual() -> None:
    modules = engine_modules()
    assert "app.transport.ssh" in modules and "app.cli" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'screens'))\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_the_architecture_check_catches_offenders() -> None:
    """The AST check is not vacuous: it refuses what it must refuse."""
    assert forbidden_imports("from textual.app import App\nimport os\n", "app/x.py") == ["textual.app"]
    assert forbidden_imports("def f():\n    import textual\n", "app/cli.py") == ["textual"]
    assert forbidden_imports("from screens.app import A\n", "app/cli.py") == ["screens.app"]
    assert forbidden_imports("def f():\n    from screens.app import A\n", "app/steps.py") == ["screens.app"]
    assert forbidden_imports("def f():\n    from screens.app import A\n", "app/cli.py") == []
