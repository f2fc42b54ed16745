"""Shared fixtures: the public samples beside the project, and fresh stores."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pg_server import PgServer, pg_bindir

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"


@pytest.fixture(autouse=True)
def _earlier_tests_out_of_the_collectors_way():
    """What earlier tests left alive (module fixtures, caches, the TUI's) frozen for this
    test: the garbage collector scans only what the test makes, as in a fresh process.
    A parser's churn in this long-lived process otherwise rescans them all, again and
    again (python-evtx over two files: 9.9 -> 5.4 s)."""
    import gc

    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(scope="session")
def samples() -> Path:
    """``../shared/samples``; the test is skipped with a clear reason where it is absent."""
    if not SAMPLES.is_dir():
        pytest.skip("../shared/samples is absent (CI has it beside the clone)")
    return SAMPLES


@pytest.fixture(scope="session")
def manifest(samples: Path) -> dict[str, dict]:
    """The samples' manifest by file: source, record count, key event counts, hosts."""
    return {e["file"]: e for e in json.loads((samples / "manifest.json").read_text())}


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server for the whole run: ``$PROCTRAIL_TEST_PG`` (a URL to a server
    whose user may create databases), else one started from Debian's packages in a temp
    folder and removed at the end. Absent PostgreSQL skips the PostgreSQL variants with
    the reason, except under CI, where it is an error."""
    given = os.environ.get("PROCTRAIL_TEST_PG")
    if given:
        yield given
        return
    if pg_bindir() is None:
        if os.environ.get("CI"):
            pytest.fail("CI runs every store test on PostgreSQL too, and its server "
                        "binaries are not installed (.ci/run installs them)")
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    server = PgServer().start()
    try:
        yield server.url()
    finally:
        server.remove()


@pytest.fixture
def pg_url(pg_server: str, request: pytest.FixtureRequest) -> str:
    """A fresh, empty PostgreSQL database per test, dropped after it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = "t_" + re.sub(r"\W+", "_", request.node.name.lower())[:40] + "_" + \
        os.urandom(4).hex()
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    yield make_url(pg_server).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite store per test."""
    return f"sqlite:///{tmp_path / 'case.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh store per test, once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def event_xml(eid: int, rid: int, time: str, data: dict[str, str] | list[str],
              channel: str = "Security", host: str = "ws1",
              provider: str = "Microsoft-Windows-Security-Auditing") -> str:
    """One event as Windows' XML export writes it (a list of values is positional data)."""
    if isinstance(data, dict):
        body = "".join(f'<Data Name="{k}">{v}</Data>' for k, v in data.items())
    else:
        body = "".join(f"<Data>{v}</Data>" for v in data)
    return (f'<Event><System><Provider Name="{provider}"/><EventID>{eid}</EventID>'
            f"<TimeCreated SystemTime='{time}'/><EventRecordID>{rid}</EventRecordID>"
            f"<Channel>{channel}</Channel><Computer>{host}</Computer></System>"
            f"<EventData>{body}</EventData></Event>")


@pytest.fixture
def xml_log(tmp_path: Path):
    """``xml_log(name, [xml_log.event(...), ...])`` writes one XML export, returns its path;
    ``xml_log.event`` is :func:`event_xml`."""
    def write(name: str, events: list[str]) -> Path:
        path = tmp_path / name
        path.write_text("<Events>" + "".join(events) + "</Events>", encoding="utf-8")
        return path
    write.event = event_xml  # type: ignore[attr-defined]
    return write



def correlated_case(url: str, *paths: Path):
    """A store at ``url`` holding ``paths``, ingested and correlated."""
    from proctrail.store.correlate import correlate
    from proctrail.store.db import open_engine
    from proctrail.store.ingest import Ingestor

    engine = open_engine(url)
    Ingestor(engine).run([str(p) for p in paths])
    correlate(engine)
    return engine


@pytest.fixture(scope="session")
def otrf_case(samples: Path, tmp_path_factory: pytest.TempPathFactory):
    """Every OTRF dataset (NXLog, multi-host Security + Sysmon) ingested and correlated
    into one SQLite file, once a run: ``(path, correlation report)``. The biggest real
    case here (about 30 s): tests read it, or copy it (:func:`sqlite_copy`) to change it."""
    from proctrail.store.correlate import correlate
    from proctrail.store.db import open_engine
    from proctrail.store.ingest import Ingestor

    path = tmp_path_factory.mktemp("otrf") / "case.db"
    engine = open_engine(f"sqlite:///{path}")
    Ingestor(engine, workers=None).run([str(samples / "otrf")])  # every core: 20 -> 13 s
    report = correlate(engine)
    engine.dispose()
    return path, report


def sqlite_copy(source: Path, target: Path) -> Path:
    """A consistent copy of a SQLite store (its WAL too), by SQLite's backup."""
    import sqlite3

    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


def case_rows(engine: Engine) -> dict[str, object]:
    """What two loads of the same files must agree on: events, lifetimes, sessions, their
    ids, findings (event row ids aside: parallel writers number rows in another order)."""
    from sqlalchemy import func, select

    from proctrail.store.models import EventRow, Finding, LogonSession, Process

    with engine.connect() as conn:
        return {
            "events": conn.execute(select(func.count()).select_from(EventRow)).scalar_one(),
            "processes": sorted(conn.execute(select(
                Process.id, Process.pid, Process.image, Process.start_us, Process.end_us,
                Process.parent_id, Process.session_id, Process.flags)).all()),
            "sessions": sorted((*r[:5], without_row_ids(r.remote)) for r in conn.execute(select(
                LogonSession.id, LogonSession.logon_id, LogonSession.user,
                LogonSession.start_us, LogonSession.end_us, LogonSession.remote))),
            "findings": sorted(conn.execute(select(
                Finding.kind, Finding.rule_id, Finding.pid, Finding.image, Finding.logon_id,
                Finding.severity, Finding.time_us)).all()),
        }


def without_row_ids(remote: str) -> str:
    """A session's remote JSON without event row ids: into PostgreSQL the workers store
    files at once, so rows are numbered in another order than one writer's (lifetime and
    session ids come from natural keys: they do not move)."""
    if not remote:
        return remote
    data = orjson.loads(remote)
    for entry in data.get("explicit", []):
        entry.pop("event", None)
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()


@pytest.fixture
def case_of(db_url: str):
    """``case_of(*paths)``: :func:`correlated_case` in a fresh store."""
    return lambda *paths: correlated_case(db_url, *paths)


@pytest.fixture
def demo_case(db_url: str):
    """A fresh store holding sample_logs/, ingested and correlated."""
    return correlated_case(db_url, ROOT / "sample_logs")
