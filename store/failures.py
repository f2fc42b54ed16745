"""What a failed store operation means, in one line an analyst can act on.

The database's own words stay in the message (after the plain reading of them), and the
message says what state the store is in: every write is a transaction, so a failure
leaves what was committed before it intact.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from proctrail.store.db import StoreError
from proctrail.store.text import first_line

_PLAIN = (
    (("database or disk is full", "no space left on device", "could not extend file",
      "disk full"),
     "the disk is full; what was stored before is intact: free space and run the same "
     "command again to finish"),
    (("readonly database", "read-only", "read only"),
     "the store is read-only; it is unchanged"),
    (("database is locked",),
     "the store is busy with another proctrail; it is unchanged: run the command again "
     "when that one has finished"),
    (("unable to open database file",),
     "the store's file cannot be opened (missing folder, or no permission)"),
)


def server_unreachable(exc: SQLAlchemyError, backend: str) -> bool:
    """The database server cannot be reached (stopped, network gone, out of disk): what
    is read can wait in the spool. A SQLite file's errors are never of that kind, nor is
    a transaction the server rolled back for another's locks (:func:`transient`)."""
    return backend != "sqlite" and isinstance(exc, DBAPIError) and not transient(exc) and (
        exc.connection_invalidated
        or type(exc).__name__ in ("OperationalError", "InterfaceError"))


# SQLSTATEs of a transaction PostgreSQL rolled back because of another's: a serialization
# failure, a deadlock detected (it picks one of the two to abort).
RETRY_STATES = frozenset({"40001", "40P01"})


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` (the driver's, or SQLAlchemy's wrapping it) is a transaction the
    server rolled back for another one's locks: run again, it goes through."""
    state = getattr(exc, "sqlstate", None) or getattr(getattr(exc, "orig", None),
                                                      "sqlstate", None)
    return state in RETRY_STATES


def store_failure(exc: SQLAlchemyError, store: Engine | str, doing: str) -> StoreError:
    """A :class:`StoreError` naming the store (an engine or its URL), what was being done
    and what it means."""
    url: URL = store.url if isinstance(store, Engine) else make_url(store)
    backend = url.get_backend_name()
    where = url.database if backend == "sqlite" and url.database else \
        url.render_as_string(hide_password=True)
    words = first_line(exc)
    low = words.lower()
    for needles, meaning in _PLAIN:
        if any(n in low for n in needles):
            return StoreError(f"{where}: {doing} failed: {meaning} ({words})")
    if server_unreachable(exc, backend):
        return StoreError(f"{where}: {doing} failed: cannot reach the database; what was "
                          f"stored before is intact ({words})")
    return StoreError(f"{where}: {doing} failed: {words}")
