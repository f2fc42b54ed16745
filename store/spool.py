"""The local spool: records read while the case database was unreachable, kept to replay.

When the database goes away mid-ingest (a PostgreSQL server stopped, a network gone), the
ingest keeps reading and writes every record it could not store into a spool file on the
local disk, one gzip member flushed per batch so a killed writer loses at most the batch
it was writing. ``proctrail ingest --resume`` (and every later ingest into the same case)
replays the spool: rows go in with the same insert-or-ignore as any ingest, so a batch
whose commit was in flight when the connection broke is not doubled.

A spool file is JSON lines: ``source`` (an input and its identity), ``events`` (a batch
of rows, host and channel by name), ``end`` (the input's final counters), ``done``.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy import Engine

SUFFIX = ".spool.gz"


def spool_root() -> Path:
    """``$PROCTRAIL_SPOOL``, else ``$XDG_STATE_HOME/proctrail/spool`` (``~/.local/state``)."""
    given = os.environ.get("PROCTRAIL_SPOOL")
    if given:
        return Path(given).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "proctrail" / "spool"


def case_key(engine: Engine) -> str:
    """A short stable name for the case behind ``engine`` (its URL, password left out)."""
    url = engine.url.render_as_string(hide_password=True)
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def pending(engine: Engine) -> list[Path]:
    """The spool files waiting for this case, oldest first."""
    root = spool_root()
    if not root.is_dir():
        return []
    return sorted(root.glob(f"{case_key(engine)}-*{SUFFIX}"))


class SpoolWriter:
    """Appends sources, batches and counters to one new spool file."""

    def __init__(self, engine: Engine) -> None:
        root = spool_root()
        # Log text of a case: the owner's alone (a folder 0700, files 0600).
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        if root.stat().st_uid == os.getuid():
            root.chmod(0o700)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        self.path = root / f"{case_key(engine)}-{stamp}-{os.getpid()}{SUFFIX}"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        self._raw: IO[bytes] = os.fdopen(fd, "ab")
        # Held while this ingest writes, so no replay takes a file still being filled.
        fcntl.flock(self._raw.fileno(), fcntl.LOCK_EX)
        self.records = 0
        self._write({"t": "case", "db": engine.url.render_as_string(hide_password=True),
                     "created_us": time.time_ns() // 1000})

    def _write(self, *records: dict[str, Any]) -> None:
        """One gzip member per call, flushed and synced: readable even if we die next."""
        data = b"".join(orjson.dumps(r) + b"\n" for r in records)
        self._raw.write(gzip.compress(data, compresslevel=1))
        self._raw.flush()
        os.fsync(self._raw.fileno())

    def source(self, source: SpooledSource) -> None:
        self._write({"t": "source", **source.identity()})

    def events(self, key: int, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self._write({"t": "events", "source": key, "rows": rows})
            self.records += len(rows)

    def end(self, source: SpooledSource) -> None:
        self._write({"t": "end", **source.final()})

    def close(self) -> None:
        if not self._raw.closed:
            self._write({"t": "done"})
            self._raw.close()


@dataclass
class SpooledSource:
    """One input as the spool knows it: identity, and counters once it is read."""

    key: int
    path: str
    member: str
    sha256: str
    size: int
    format: str
    parser: str
    records_read: int = 0
    stored_before: int = 0  # stored in the database before it went away
    skipped: dict[str, int] = field(default_factory=dict)
    status: str = "running"  # complete | failed, from the end record
    error: str | None = None
    damage: list[dict[str, Any]] = field(default_factory=list)  # source_damage rows

    def identity(self) -> dict[str, Any]:
        return {"key": self.key, "path": self.path, "member": self.member,
                "sha256": self.sha256, "size": self.size, "format": self.format,
                "parser": self.parser}

    def final(self) -> dict[str, Any]:
        return {"key": self.key, "records_read": self.records_read,
                "stored_before": self.stored_before, "skipped": self.skipped,
                "status": self.status, "error": self.error, "damage": self.damage}


@dataclass
class SpoolRecord:
    """One record read back: a source, a batch of rows for a source, or a source's end."""

    kind: str
    source: SpooledSource | None = None
    key: int = 0
    rows: list[list[Any]] = field(default_factory=list)


def read_spool(path: Path) -> Iterator[SpoolRecord]:
    """The records of a spool file in order; a file cut by a crash ends at its last whole
    record (the batch being written when it died was never acknowledged as stored)."""
    sources: dict[int, SpooledSource] = {}
    with gzip.open(path, "rb") as stream:
        try:
            for line in stream:
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError:
                    return  # a line cut by the crash
                kind = rec.get("t")
                if kind == "source":
                    src = SpooledSource(**{k: v for k, v in rec.items() if k != "t"})
                    sources[src.key] = src
                    yield SpoolRecord("source", source=src, key=src.key)
                elif kind == "events":
                    yield SpoolRecord("events", key=rec["source"], rows=rec["rows"])
                elif kind == "end":
                    src = sources[rec["key"]]
                    src.records_read = rec["records_read"]
                    src.stored_before = rec["stored_before"]
                    src.skipped = rec["skipped"]
                    src.status = rec["status"]
                    src.error = rec["error"]
                    src.damage = rec.get("damage", [])  # spools before issue 14 had none
                    yield SpoolRecord("end", source=src, key=src.key)
        except (EOFError, gzip.BadGzipFile, OSError):
            return  # the last member was cut mid-write


class SpoolLock:
    """An exclusive lock on a spool file while it is replayed (two replays never race)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """True when this process holds the file; False when another replays it."""
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            return False
        if not self.path.exists():  # replayed and removed while we waited
            self.release()
            return False
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
