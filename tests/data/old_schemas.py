"""Writes ``schema_REV_DIALECT.sql``: the DDL that the builds before schema versions ran
on an empty store (``create_all`` of their ``store/models.py``, read from git), so that the
migration tests start from exactly what those builds made. Run once, from the project root:

    .venv/bin/python tests/data/old_schemas.py

0001 is the build at 3f14b9e, 0002 the build at 945a11d, 0003 the build at 19f563f (the
last before revision 0004, whose ``create_all`` is the one of aedf477: builds with schema
versions made their stores with it and stamped them 0003).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

HERE = Path(__file__).resolve().parent
BUILDS = {"0001": "3f14b9e", "0002": "945a11d", "0003": "19f563f"}
DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}


def old_metadata(commit: str):
    """The ``Base.metadata`` of ``store/models.py`` at ``commit``."""
    source = subprocess.run(["git", "show", f"{commit}:store/models.py"], check=True,
                            capture_output=True, text=True, cwd=HERE).stdout
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"models_{commit}.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"_old_models_{commit}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module.Base.metadata


def ddl(commit: str, dialect: str) -> str:
    """The statements ``create_all`` runs, in its order, each ending in ``;``."""
    metadata = old_metadata(commit)
    lines = [f"-- The schema the build at {commit} created (create_all, {dialect}); "
             f"written by tests/data/old_schemas.py."]
    for table in metadata.sorted_tables:
        lines.append(str(CreateTable(table).compile(dialect=DIALECTS[dialect])).strip() + ";")
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            lines.append(str(CreateIndex(index).compile(dialect=DIALECTS[dialect])).strip()
                         + ";")
    return "\n\n".join(line.replace(" \n", "\n") for line in lines) + "\n"


def main() -> None:
    for revision, commit in BUILDS.items():
        for dialect in DIALECTS:
            out = HERE / f"schema_{revision}_{dialect}.sql"
            out.write_text(ddl(commit, dialect), encoding="utf-8")
            print(f"wrote {out}")


if __name__ == "__main__":
    main()
