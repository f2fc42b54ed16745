"""Engine and schema from a database URL (SQLite file by default, PostgreSQL for teams)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from proctrail.store.models import Base

DEFAULT_DB = "proctrail.db"


class StoreError(Exception):
    """The store cannot be opened or written: a one-line reason."""


def database_url(value: str | None) -> str:
    """A SQLAlchemy URL from ``--db``: a URL as given, anything else a SQLite file path."""
    value = value or os.environ.get("PROCTRAIL_DB") or DEFAULT_DB
    if "://" in value:
        return value
    return "sqlite:///" + str(Path(value).expanduser().resolve())


def open_engine(value: str | None = None, create: bool = True) -> Engine:
    """An engine on the case store, the schema created when missing."""
    url_text = database_url(value)
    try:
        url = make_url(url_text)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {value!r}") from exc
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        parent = Path(url.database).parent
        if not parent.is_dir():
            raise StoreError(f"{url.database}: folder {parent} does not exist")
    try:
        engine = create_engine(url)
    except Exception as exc:  # missing driver, bad options
        raise StoreError(f"cannot open {url.render_as_string(hide_password=True)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if create:
        try:
            Base.metadata.create_all(engine)
        except Exception as exc:
            raise StoreError(
                f"cannot create the schema in {url.render_as_string(hide_password=True)}: "
                f"{str(exc).splitlines()[0]}"
            ) from exc
    return engine


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
