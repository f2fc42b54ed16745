"""The architecture's arrows, checked on the source: what may import what.

The README's architecture section draws these; this test keeps the drawing true. Every
import is read from the syntax tree (a function-level import counts the same).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "store", "widgets", "generate")


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every ``import`` and ``from ... import`` in ``path``."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(("proctrail", *(parts[:-1] if parts[-1] == "__init__" else parts)))


SOURCES = sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))
# (the importing module's prefix, the imported prefixes it must never reach)
FORBIDDEN = [
    ("proctrail.store", ("proctrail.app", "proctrail.widgets", "textual", "rich")),
    ("proctrail.widgets", ("proctrail.app", "sqlalchemy", "proctrail.store.db",
                           "proctrail.store.models", "proctrail.store.ingest")),
    ("proctrail.app.output", ("proctrail.app.cli", "proctrail.app.tui",
                              "proctrail.app.screens", "textual")),
    ("proctrail.app.screens", ("proctrail.app.cli", "proctrail.store.models",
                               "proctrail.store.db")),
    ("proctrail.app.tui", ("proctrail.app.cli",)),
    ("proctrail.generate", ("proctrail.app", "proctrail.widgets")),
]


def test_the_sources_are_found() -> None:
    names = {_module(p) for p in SOURCES}
    assert {"proctrail.store.text", "proctrail.app.cli", "proctrail.app.output.rows",
            "proctrail.widgets.safe"} <= names


@pytest.mark.parametrize(("importer", "never"), FORBIDDEN, ids=[f[0] for f in FORBIDDEN])
def test_no_arrow_points_the_wrong_way(importer: str, never: tuple[str, ...]) -> None:
    wrong = [f"{_module(p)} imports {mod}" for p in SOURCES
             if (_module(p) + ".").startswith(importer + ".")
             for mod, _names in _imports(p)
             if any((mod + ".").startswith(n + ".") for n in never)]
    assert wrong == []


def test_screens_and_widgets_run_no_sql() -> None:
    """They hold the engine as a handle for ``store/queries``; no statement of their own."""
    wrong = [f"{_module(p)}: {names or mod}" for p in SOURCES
             if _module(p).startswith(("proctrail.app.screens", "proctrail.app.tui",
                                       "proctrail.widgets"))
             for mod, names in _imports(p)
             if mod.split(".")[0] == "sqlalchemy" and not (mod == "sqlalchemy"
                                                            and set(names) <= {"Engine"})]
    assert wrong == []


def test_no_private_name_crosses_a_module() -> None:
    """``from proctrail.x import _y`` reaches into another module's insides."""
    wrong = [f"{_module(p)}: {name} from {mod}" for p in SOURCES for mod, names in _imports(p)
             if mod.startswith("proctrail.") for name in names if name.startswith("_")]
    assert wrong == []


def test_the_bottom_layer_imports_nothing_of_ours() -> None:
    for name in ("text", "errors", "images", "timefmt"):
        mods = [mod for mod, _ in _imports(ROOT / "store" / f"{name}.py")]
        assert not [m for m in mods if m.startswith("proctrail")], name
