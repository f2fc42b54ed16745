"""Engine and schema from a database URL (SQLite file by default, PostgreSQL for teams).

The schema is versioned (alembic, ``store/migrations/``): a new store is created at the
newest revision and stamped; a store at it costs one SELECT to open; an older store is
refused, in one line, until ``proctrail db upgrade`` brings it up (:func:`upgrade`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from proctrail.store import DEFAULT_DB
from proctrail.store.errors import ProctrailError
from proctrail.store.migrations import HEAD, REVISIONS, alembic_config, script_directory
from proctrail.store.migrations.legacy import UnknownLayout, detect_revision
from proctrail.store.models import Base
from proctrail.store.text import first_line

__all__ = ["DEFAULT_DB", "HEAD", "REVISIONS", "SchemaState", "StoreError", "database_url",
           "ddl_connection", "open_engine", "schema_differences", "schema_revision",
           "schema_state", "shown", "upgrade", "upgrade_command"]


# pg_advisory_xact_lock key: one creator or upgrader of a PostgreSQL case at a time.
_PG_LOCK = 0x70726F637472  # "proctr"


class StoreError(ProctrailError):
    """The store cannot be opened or written: a one-line reason."""


class SchemaState(NamedTuple):
    """A store's schema: its revision (``None``: an empty database) and whether the store
    says so (``alembic_version``) or it was judged from its tables (made before schema
    versions)."""

    revision: str | None
    stamped: bool


def database_url(value: str | None) -> str:
    """A SQLAlchemy URL from ``--db``: a URL as given, anything else a SQLite file path."""
    value = value or os.environ.get("PROCTRAIL_DB") or DEFAULT_DB
    if "://" in value:
        return value
    return "sqlite:///" + str(Path(value).expanduser().resolve())


def shown(url: URL) -> str:
    """The store as messages name it: a SQLite file's path, else the URL, password
    hidden."""
    if url.get_backend_name() == "sqlite" and not _in_memory(url):
        return str(url.database)
    return url.render_as_string(hide_password=True)


def open_engine(value: str | None = None, create: bool = True, check: bool = True) -> Engine:
    """An engine on the case store. An empty database gets the schema (``create``); a
    store of an older or newer schema revision is a :class:`StoreError` (``check``: off
    only for what inspects or upgrades the schema itself)."""
    url_text = database_url(value)
    try:
        url = make_url(url_text)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {value!r}") from exc
    if url.get_backend_name() == "sqlite" and not _in_memory(url):
        parent = Path(url.database or "").parent
        if not parent.is_dir():
            raise StoreError(f"{url.database}: folder {parent} does not exist")
    try:
        engine = create_engine(url, **_read_only_sqlite(url))
    except Exception as exc:  # missing driver, bad options
        raise StoreError(f"cannot open {shown(url)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if check:
        _ensure_schema(engine, create)
    return engine


def shareable(engine: Engine) -> bool:
    """Whether another process can open this store (not an in-memory SQLite)."""
    database = engine.url.database
    return engine.dialect.name != "sqlite" or (bool(database) and database != ":memory:"
                                               and not database.startswith("file::memory:"))


def schema_state(engine: Engine) -> SchemaState:
    """The store's schema revision, stamped or judged from its tables."""
    with _reading(engine) as conn:
        stored = _stored_revisions(conn)
        if stored is not None:
            return SchemaState(_one(stored, engine), True)
        return SchemaState(_detect(conn, engine), False)


def schema_revision(engine: Engine) -> str | None:
    """The store's schema revision (``None``: an empty database)."""
    return schema_state(engine).revision


def upgrade(target: Engine | str | None) -> tuple[str | None, str]:
    """Bring the store (an engine, or ``--db``'s value) to the newest schema revision, in
    one transaction: ``(from, to)``, ``from`` ``None`` when the database was empty and the
    schema was created. A store made before schema versions is first stamped with the
    revision its tables are. On failure nothing is changed."""
    from alembic import command

    engine = target if isinstance(target, Engine) else open_engine(target, check=False)
    name = shown(engine.url)
    try:
        with ddl_connection(engine) as conn:
            stored = _stored_revisions(conn, probe=False)
            if stored is None:
                start = _detect(conn, engine)
                if start is None:
                    _create(conn, engine)
                    return None, HEAD
                _stamp(conn, start)
            else:
                start = _one(stored, engine)
                if start not in REVISIONS:
                    raise StoreError(_newer(name, start))
            if start != HEAD:
                command.upgrade(alembic_config(conn), "head")
                left = schema_differences(conn)
                if left:
                    raise StoreError(
                        f"cannot upgrade {name} from {start}: its tables are not what "
                        f"revision {start} has ({left[0]}{' ...' if len(left) > 1 else ''}); "
                        f"nothing was changed")
            return start, HEAD
    except StoreError:
        raise
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot upgrade {name}: {first_line(exc)}; nothing was changed"
                         ) from exc
    finally:
        if engine is not target:
            engine.dispose()


def schema_differences(conn: Connection) -> list[str]:
    """How the store's schema differs from the models' (alembic's comparison), one line
    each; on SQLite VARCHAR(n) against TEXT is no difference (SQLite ignores lengths, and
    revision 0003 leaves them)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import String, Text

    context = MigrationContext.configure(conn, opts={"compare_type": True})
    found = []
    for diff in compare_metadata(context, Base.metadata):
        for change in diff if isinstance(diff, list) else [diff]:
            if (conn.dialect.name == "sqlite" and change[0] == "modify_type"
                    and isinstance(change[5], String) and change[5].length is not None
                    and isinstance(getattr(change[6], "impl_instance", change[6]), Text)):
                continue
            found.append(_describe(change))
    return found


@contextmanager
def ddl_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction for changing the schema, committed at the end, every
    statement rolled back on error. SQLite: its own connection with foreign keys off (a
    table rebuilt keeps its references), transactional DDL (``BEGIN IMMEDIATE``: one
    writer). PostgreSQL: an advisory lock held to the end, so that two processes creating
    or upgrading one case take turns."""
    if engine.dialect.name == "sqlite" and not _in_memory(engine.url):
        own = create_engine(engine.url, poolclass=NullPool)

        @event.listens_for(own, "connect")
        def _connect(dbapi_conn: Any, record: object) -> None:
            _sqlite_pragmas(dbapi_conn, record)
            dbapi_conn.execute("PRAGMA foreign_keys=OFF")
            dbapi_conn.isolation_level = None  # the driver begins nothing by itself

        @event.listens_for(own, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        try:
            with own.begin() as conn:
                yield conn
        finally:
            own.dispose()
        return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
        yield conn


def _ensure_schema(engine: Engine, create: bool) -> None:
    name = shown(engine.url)
    with _reading(engine) as conn:
        stored = _stored_revisions(conn)
        if stored == [HEAD]:
            return
        found = _detect(conn, engine) if stored is None else _one(stored, engine)
    if stored is not None:
        raise StoreError(_older(name, found) if found in REVISIONS else _newer(name, found))
    if found is not None and found != HEAD:
        raise StoreError(_older(name, found))
    if not create:
        return
    # Empty, or made at this revision before schema versions: create or stamp, under the
    # lock, after looking again (another process may have done it meanwhile).
    try:
        with ddl_connection(engine) as conn:
            stored = _stored_revisions(conn, probe=False)
            if stored is None:
                found = _detect(conn, engine)
                if found is None:
                    _create(conn, engine)
                elif found == HEAD:
                    _stamp(conn, HEAD)
                else:
                    raise StoreError(_older(name, found))
            elif stored != [HEAD]:
                raise StoreError(_older(name, stored[0]) if stored[0] in REVISIONS
                                 else _newer(name, _one(stored, engine)))
    except StoreError:
        raise
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot create the schema in {name}: {first_line(exc)}") from exc


@contextmanager
def _reading(engine: Engine) -> Iterator[Connection]:
    try:
        with engine.connect() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open {shown(engine.url)}: {first_line(exc)}") from exc


def _stored_revisions(conn: Connection, probe: bool = True) -> list[str] | None:
    """The revisions ``alembic_version`` holds, ``None`` without that table. ``probe``:
    just try the SELECT (the common case costs one statement), which on PostgreSQL
    aborts the transaction when the table is missing, so not inside one that matters."""
    if not probe and not inspect(conn).has_table("alembic_version"):
        return None
    try:
        return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except DBAPIError:
        if not probe:
            raise
        conn.rollback()
        if inspect(conn).has_table("alembic_version"):
            raise
        return None
    finally:
        if probe and conn.in_transaction():
            conn.rollback()


def _one(stored: list[str], engine: Engine) -> str:
    if len(stored) != 1:
        raise StoreError(f"{shown(engine.url)}: its schema version table holds "
                         f"{len(stored)} revisions ({', '.join(stored) or 'none'}), "
                         f"not one: not a store this proctrail knows")
    return stored[0]


def _detect(conn: Connection, engine: Engine) -> str | None:
    try:
        return detect_revision(conn)
    except UnknownLayout as exc:
        raise StoreError(f"{shown(engine.url)}: not a proctrail store: {exc}") from exc


def _create(conn: Connection, engine: Engine) -> None:
    try:
        Base.metadata.create_all(conn)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot create the schema in {shown(engine.url)}: "
                         f"{first_line(exc)}") from exc
    _stamp(conn, HEAD)


def _stamp(conn: Connection, revision: str) -> None:
    from alembic.runtime.migration import MigrationContext

    MigrationContext.configure(conn).stamp(script_directory(), revision)


def upgrade_command(name: str) -> str:
    """The command that upgrades the store messages call ``name`` (in double quotes where
    the shell needs it: the command itself is shown in single quotes)."""
    if shlex.quote(name) != name:
        name = '"' + "".join("\\" + c if c in '"\\$`' else c for c in name) + '"'
    return f"proctrail db upgrade --db {name}"


def _older(name: str, revision: str | None) -> str:
    return (f"{name}: this store's schema is from an older proctrail (revision {revision}); "
            f"run '{upgrade_command(name)}' to bring it to {HEAD} (nothing is lost)")


def _newer(name: str, revision: str) -> str:
    return (f"{name}: this store was made by a newer proctrail (schema revision "
            f"{revision}; this one knows up to {HEAD}): open it with that version, or "
            f"install it")


def _describe(change: tuple[Any, ...]) -> str:
    what = change[0]
    if what in ("add_table", "remove_table"):
        return f"{what} {change[1].name}"
    if what in ("add_column", "remove_column"):
        return f"{what} {change[2]}.{change[3].name}"
    if what.startswith("modify_"):
        return f"{what} {change[2]}.{change[3]}: {change[5]!r} -> {change[6]!r}"
    if what in ("add_index", "remove_index"):
        return f"{what} {change[1].name} on {change[1].table.name}"
    table = getattr(getattr(change[1], "table", None), "name", "?")
    return f"{what} on {table}"  # constraints: add_fk, remove_fk, add_constraint ...


def _in_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _read_only_sqlite(url: URL) -> dict[str, Any]:
    """Engine options for a SQLite store on read-only media (a case copied to a write-
    protected disk): opened immutable when no write-ahead log holds data that the file
    lacks, so that it is read as it is instead of failing to make its WAL files."""
    if url.get_backend_name() != "sqlite" or _in_memory(url) or not url.database:
        return {}
    path = Path(url.database)
    if not path.is_file() or (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        return {}
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size and Path(f"{path}-shm").exists():
        return {}  # SQLite reads it with its WAL, read-only
    target = "file:" + quote(str(path.resolve())) + "?immutable=1"
    return {"creator": lambda: sqlite3.connect(target, uri=True, check_same_thread=False)}


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    with contextlib.suppress(sqlite3.OperationalError):  # a read-only store: read as is
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
