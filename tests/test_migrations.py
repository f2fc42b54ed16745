"""Schema versions: stores of older builds refused in one line, upgraded by ``proctrail db
upgrade`` keeping every row, and then equal to a fresh store and usable; fresh stores
stamped; newer stores refused."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from proctrail.app.cli import main
from proctrail.store.correlate import correlate
from proctrail.store.db import (
    HEAD,
    StoreError,
    ddl_connection,
    open_engine,
    schema_state,
    shown,
    upgrade,
    upgrade_command,
)
from proctrail.store.findings import add_finding
from proctrail.store.ingest import Ingestor
from proctrail.store.migrations import REVISIONS, alembic_config, script_directory
from proctrail.store.models import Base
from proctrail.store.queries.findings import list_findings

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
T0 = 1_764_000_000_000_000  # 2025-11-24, in microseconds


# -- building stores as the old builds did -------------------------------------------------

def raw_engine(url: str) -> sa.Engine:
    """An engine that leaves the schema alone (no create, no checks)."""
    return sa.create_engine(url, poolclass=NullPool)


def old_build_store(url: str, revision: str) -> None:
    """The empty store the build of ``revision`` made: its create_all DDL, unversioned."""
    engine = raw_engine(url)
    sql = (DATA / f"schema_{revision}_{engine.dialect.name}.sql").read_text(encoding="utf-8")
    body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    with engine.begin() as conn:
        for statement in body.split(";\n"):
            if statement.strip():
                conn.exec_driver_sql(statement)
    engine.dispose()


def alembic_store(url: str, revision: str) -> None:
    """A store brought to ``revision`` by alembic's own upgrade (versioned)."""
    engine = open_engine(url, create=False, check=False)
    with ddl_connection(engine) as conn:
        command.upgrade(alembic_config(conn), revision)
    engine.dispose()


def alembic_downgrade(url: str, revision: str) -> None:
    engine = open_engine(url, create=False, check=False)
    with ddl_connection(engine) as conn:
        command.downgrade(alembic_config(conn), revision)
    engine.dispose()


def stamp(url: str, revision: str) -> None:
    """What a build with schema versions did after its create_all: one version row."""
    engine = raw_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                             "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))")
        conn.execute(sa.text("INSERT INTO alembic_version VALUES (:v)"), {"v": revision})
    engine.dispose()


def make_store(url: str, revision: str, made: str) -> None:
    """``old build``: the build's create_all, unversioned; ``versioned build``: the same,
    stamped (a build with schema versions making a new store); ``alembic``: alembic's own
    upgrade to ``revision``."""
    if made == "old build":
        old_build_store(url, revision)
    elif made == "versioned build":
        old_build_store(url, revision)
        stamp(url, revision)
    else:
        alembic_store(url, revision)


def data(**fields: str) -> str:
    return orjson.dumps(fields).decode()


def old_rows(revision: str) -> dict[str, list[dict[str, Any]]]:
    """A small case as the build of ``revision`` wrote it: two hosts, a logon, a cmd.exe
    started and ended, a Sysmon start, a record gap; from 0002 token changes, a bookmark and
    a baseline; from 0003 what the last correlation saw (case_meta)."""
    rows: dict[str, list[dict[str, Any]]] = {
        "sources": [
            dict(id=1, path="C:\\cases\\ws01\\Security.evtx", member="",
                 sha256="ab" * 32, size=69_632, format="evtx", parser="evtx",
                 started_us=T0, finished_us=T0 + 1_500_000, status="done", records_read=3,
                 events_stored=3, duplicates=0, skipped=1,
                 skip_reasons='{"damaged record": 1}', error=None),
            dict(id=2, path="/cases/lnx01/logs.zip", member="sysmon/Sysmon ünï.xml",
                 sha256="cd" * 32, size=4_096, format="xml", parser="xml", started_us=T0,
                 finished_us=None, status="failed", records_read=1, events_stored=1,
                 duplicates=0, skipped=0, skip_reasons="{}",
                 error="event 2: not well-formed (invalid token)"),
        ],
        "hosts": [dict(id=1, key="legacy-ws01", name="LEGACY-WS01"),
                  dict(id=2, key="legacy-ws02", name="legacy-ws02")],
        "channels": [dict(id=1, key="security", name="Security"),
                     dict(id=2, key="microsoft-windows-sysmon/operational",
                          name="Microsoft-Windows-Sysmon/Operational")],
        "events": [
            dict(id=1, source_id=1, host_id=1, channel_id=1,
                 provider="Microsoft-Windows-Security-Auditing", event_id=4624,
                 record_id=1001, ts_us=T0, ts_key=T0 // 1_000_000, received_us=None,
                 kind="logon",
                 data=data(TargetUserName="alice", TargetDomainName="CORP",
                           TargetLogonId="0x3e7a1", LogonType="2", IpAddress="10.0.0.5",
                           WorkstationName="WS01", AuthenticationPackageName="Kerberos")),
            dict(id=2, source_id=1, host_id=1, channel_id=1,
                 provider="Microsoft-Windows-Security-Auditing", event_id=4688,
                 record_id=1002, ts_us=T0 + 5_000_000, ts_key=(T0 + 5_000_000) // 1_000_000,
                 received_us=T0 + 6_000_000, kind="process_start",
                 data=data(SubjectUserName="alice", SubjectDomainName="CORP",
                           SubjectLogonId="0x3e7a1", NewProcessId="0x1f40",
                           NewProcessName="C:\\Windows\\System32\\cmd.exe",
                           ProcessId="0x2a0", ParentProcessName="C:\\Windows\\explorer.exe",
                           CommandLine='cmd.exe /c "echo ünïcødé ✓ & whoami"',
                           TargetUserName="-", TokenElevationType="%%1936")),
            dict(id=3, source_id=1, host_id=1, channel_id=1,
                 provider="Microsoft-Windows-Security-Auditing", event_id=4689,
                 record_id=1003, ts_us=T0 + 9_000_000, ts_key=(T0 + 9_000_000) // 1_000_000,
                 received_us=None, kind="process_end",
                 data=data(SubjectUserName="alice", SubjectLogonId="0x3e7a1",
                           ProcessId="0x1f40", ProcessName="C:\\Windows\\System32\\cmd.exe",
                           Status="0x0")),
            dict(id=4, source_id=2, host_id=2, channel_id=2,
                 provider="Microsoft-Windows-Sysmon", event_id=1, record_id=77,
                 ts_us=None, ts_key=0, received_us=None, kind="process_start",
                 data=data(ProcessGuid="{5770385f-c22a-43e0-bf4c-06f5698ffbd9}",
                           ProcessId="4242", Image="C:\\Tools\\evil.exe",
                           CommandLine="evil.exe -p hunter2", User="CORP\\bob",
                           LogonId="0x5d2b1", ParentProcessId="1000",
                           ParentImage="C:\\Windows\\System32\\svchost.exe",
                           Hashes="SHA256=" + "0f" * 32)),
        ],
        "sessions": [
            dict(id=1, host_id=1, logon_id="0x3e7a1", user="CORP\\alice", logon_type="2",
                 source_ip="10.0.0.5", workstation="WS01", auth_package="Kerberos",
                 elevated=True, start_us=T0, end_us=None, logon_event=1, logoff_event=None,
                 flags=""),
            dict(id=2, host_id=2, logon_id="0x5d2b1", user="CORP\\bob", logon_type="",
                 source_ip="", workstation="", auth_package="", elevated=False,
                 start_us=None, end_us=None, logon_event=None, logoff_event=None,
                 flags="logon_missing"),
        ],
        "processes": [
            dict(id=1, host_id=1, pid=0x2A0, process_guid=None, image="", command_line="",
                 cwd="", hashes="", integrity="", user="", creator_user="", end_user="",
                 logon_id="0x3e7a1", session_id=1, start_us=None, end_us=None,
                 exit_status="", parent_id=None, parent_pid=None, parent_image="",
                 flags="placeholder,start_missing"),
            dict(id=2, host_id=1, pid=0x1F40, process_guid=None,
                 image="C:\\Windows\\System32\\cmd.exe",
                 command_line='cmd.exe /c "echo ünïcødé ✓ & whoami"', cwd="", hashes="",
                 integrity="", user="CORP\\alice", creator_user="CORP\\alice",
                 end_user="CORP\\alice", logon_id="0x3e7a1", session_id=1,
                 start_us=T0 + 5_000_000, end_us=T0 + 9_000_000, exit_status="0x0",
                 parent_id=1, parent_pid=0x2A0, parent_image="C:\\Windows\\explorer.exe",
                 flags=""),
            dict(id=3, host_id=2, pid=4242,
                 process_guid="{5770385f-c22a-43e0-bf4c-06f5698ffbd9}",
                 image="C:\\Tools\\evil.exe", command_line="evil.exe -p hunter2",
                 cwd="C:\\Tools\\", hashes="SHA256=" + "0f" * 32, integrity="High",
                 user="CORP\\bob", creator_user="CORP\\bob", end_user="", logon_id="0x5d2b1",
                 session_id=2, start_us=None, end_us=None, exit_status="", parent_id=None,
                 parent_pid=1000, parent_image="C:\\Windows\\System32\\svchost.exe",
                 flags="end_missing"),
        ],
        "process_sources": [dict(process_id=2, event_pk=2, role="start"),
                            dict(process_id=2, event_pk=3, role="end"),
                            dict(process_id=3, event_pk=4, role="start")],
        "anomalies": [dict(id=1, host_id=1, channel_id=1, kind="record_gap", start_us=T0,
                           end_us=T0 + 5_000_000, event_pk=2, detail="records 990..1000 "
                                                                        "missing"),
                      dict(id=2, host_id=2, channel_id=None, kind="clock_changed",
                           start_us=None, end_us=None, event_pk=None, detail="")],
    }
    if revision >= "0002":
        tokens = orjson.dumps([{"time_us": T0 + 7_000_000, "user": "NT AUTHORITY\\SYSTEM",
                                "detail": "600"}]).decode()
        for p in rows["processes"]:
            p["token_changes"] = tokens if p["id"] == 2 else ""
        rows["findings"] = [
            dict(id=1, target="process", host_id=1, anchor_event=2, pid=0x1F40,
                 logon_id="", image="C:\\Windows\\System32\\cmd.exe", severity="high",
                 note="runs whoami ✓", source="analyst", author="alice",
                 created_us=T0 + 60_000_000, kind="bookmark", rule_id="", tags="",
                 time_us=T0 + 5_000_000),
            dict(id=2, target="session", host_id=2, anchor_event=None, pid=None,
                 logon_id="0x5d2b1", image="", severity="medium", note="",
                 source="proctrail_exec_from_unusual_folder.yml", author="proctrail",
                 created_us=T0 + 61_000_000, kind="rule",
                 rule_id="4f1b9a1e-0000-4000-8000-000000000001",
                 tags="attack.execution,attack.t1204", time_us=None),
        ]
        rows["baselines"] = [dict(id=1, name="golden", description="WS01 on 2025-11-01",
                                  created_us=T0)]
        rows["baseline_entries"] = [
            dict(id=1, baseline_id=1, host="", image="c:/windows/system32/cmd.exe"),
            dict(id=2, baseline_id=1, host="legacy-ws01", image="c:/windows/explorer.exe"),
        ]
    if revision >= "0003":
        rows["case_meta"] = [dict(key="correlated_through_event", value="4")]
    return rows


def insert_rows(url: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Rows written as the old build's inserts left them (PostgreSQL's sequences at the
    highest id, as inserts without ids leave them)."""
    engine = raw_engine(url)
    with engine.begin() as conn:
        for name, table_rows in rows.items():
            table = sa.table(name, *(sa.column(c) for c in table_rows[0]))
            conn.execute(table.insert(), table_rows)
            if conn.dialect.name == "postgresql" and "id" in table_rows[0]:
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                     f"(SELECT max(id) FROM {name}))"))
    engine.dispose()


def read_rows(url: str, rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict]]:
    """The rows of every table in ``rows``, ordered as inserted, with every column."""
    engine = raw_engine(url)
    found = {}
    with engine.connect() as conn:
        for name, table_rows in rows.items():
            keys = [k for k in ("id", "process_id", "event_pk") if k in table_rows[0]] or [
                "key"]
            result = conn.execute(sa.text(f"SELECT * FROM {name} ORDER BY "
                                          f"{', '.join(keys)}"))
            found[name] = [dict(r._mapping) for r in result]
    engine.dispose()
    return found


def same_values(stored: dict[str, Any], written: dict[str, Any]) -> bool:
    return all((bool(stored[k]) == v) if isinstance(v, bool) else stored[k] == v
               for k, v in written.items())


# -- comparing schemas ---------------------------------------------------------------------

def snapshot(url: str) -> dict[str, Any]:
    """Every table's columns (type, nullability, server default), primary key, foreign keys
    (with their options), unique constraints and indexes, with their names, as reflected;
    without the version table."""
    engine = raw_engine(url)
    inspector = sa.inspect(engine)
    shot: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        if table == "alembic_version":
            continue
        shot[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"], c["default"])
                        for c in inspector.get_columns(table)],
            "pk": (inspector.get_pk_constraint(table)["name"],
                   inspector.get_pk_constraint(table)["constrained_columns"]),
            "fks": sorted((f["name"] or "", tuple(f["constrained_columns"]), f["referred_table"],
                           tuple(f["referred_columns"]),
                           tuple(sorted((k, str(v)) for k, v in f["options"].items())))
                          for f in inspector.get_foreign_keys(table)),
            "unique": sorted((u["name"] or "", tuple(u["column_names"]))
                             for u in inspector.get_unique_constraints(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in inspector.get_indexes(table)),
        }
    engine.dispose()
    return shot


def differences(url: str) -> list[Any]:
    """alembic's comparison of the store with the models; on SQLite without VARCHAR(n)
    against TEXT (lengths mean nothing there, and 0003 leaves them)."""
    engine = raw_engine(url)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                 Base.metadata)
    engine.dispose()
    left = []
    for diff in diffs:
        for change in diff if isinstance(diff, list) else [diff]:
            if (engine.dialect.name == "sqlite" and change[0] == "modify_type"
                    and isinstance(change[5], sa.String) and change[5].length
                    and isinstance(change[6].impl_instance if isinstance(
                        change[6], sa.TypeDecorator) else change[6], sa.Text)):
                continue
            left.append(change)
    return left


def drop_everything(url: str) -> None:
    engine = raw_engine(url)
    reflected = sa.MetaData()
    reflected.reflect(engine)
    with engine.begin() as conn:
        reflected.drop_all(conn)
    engine.dispose()
    assert snapshot(url) == {}


def fresh_snapshot(url: str) -> dict[str, Any]:
    """The schema a fresh store gets, made in ``url`` after dropping what is there."""
    drop_everything(url)
    engine = raw_engine(url)
    with engine.begin() as conn:
        Base.metadata.create_all(conn)
    engine.dispose()
    return snapshot(url)


def without_lengths(shot: dict[str, Any]) -> dict[str, Any]:
    """SQLite: VARCHAR(n) is TEXT."""
    return {t: {**s, "columns": [(n, "TEXT" if kind.startswith("VARCHAR") else kind, *rest)
                                 for n, kind, *rest in s["columns"]]}
            for t, s in shot.items()}


def version_rows(url: str) -> list[str]:
    engine = raw_engine(url)
    with engine.connect() as conn:
        rows = list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
    engine.dispose()
    return rows


def db_arg(url: str) -> str:
    """``--db`` as an analyst gives it: a SQLite file's path, else the URL."""
    parsed = make_url(url)
    return str(parsed.database) if parsed.get_backend_name() == "sqlite" else url


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- the revisions themselves --------------------------------------------------------------

def test_head_is_the_last_script() -> None:
    scripts = script_directory()
    assert scripts.get_current_head() == HEAD == REVISIONS[-1]
    chain = [s.revision for s in reversed(list(scripts.walk_revisions()))]
    assert tuple(chain) == REVISIONS


def test_revisions_do_not_import_the_models() -> None:
    """Frozen: a revision stays what it was when models.py changes."""
    scripts = sorted((ROOT / "store" / "migrations" / "versions").glob("0*.py"))
    assert [s.name[:4] for s in scripts] == list(REVISIONS)
    for script in scripts:
        source = script.read_text(encoding="utf-8")
        assert "from proctrail" not in source and "import proctrail" not in source, script


@pytest.mark.parametrize("revision", ["0001", "0002", "0003"])
def test_revision_is_the_schema_the_old_build_made(db_url: str, revision: str) -> None:
    """alembic's 0001, 0002 and 0003 make exactly what the builds at 3f14b9e, 945a11d and
    19f563f made (0003 on SQLite: but for VARCHAR lengths, which it leaves)."""
    old_build_store(db_url, revision)
    by_build = snapshot(db_url)
    drop_everything(db_url)
    alembic_store(db_url, revision)
    by_alembic = snapshot(db_url)
    if revision == "0003" and backend_of(db_url) == "sqlite":
        by_build, by_alembic = without_lengths(by_build), without_lengths(by_alembic)
    assert by_alembic == by_build
    assert version_rows(db_url) == [revision]


# -- fresh stores --------------------------------------------------------------------------

def test_fresh_store_is_stamped_at_head(db_url: str, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    engine = open_engine(db_url)
    assert version_rows(db_url) == [HEAD]
    assert schema_state(engine) == (HEAD, True)
    assert differences(db_url) == []
    open_engine(db_url)  # at head: nothing more
    assert version_rows(db_url) == [HEAD]
    code, out, err = cli(capsys, "db", "current", "--db", db_arg(db_url))
    assert (code, err) == (0, "")
    assert out == f"{shown(engine.url)}: {HEAD} (up to date)\n"
    code, out, err = cli(capsys, "db", "upgrade", "--db", db_arg(db_url))
    assert (code, out, err) == (0, f"{shown(engine.url)} is up to date ({HEAD})\n", "")


def test_concurrent_first_opens_create_the_schema_once(db_url: str) -> None:
    """Four processes opening one new case at once: one creates it, the others wait and
    find it made (PostgreSQL: advisory lock; SQLite: BEGIN IMMEDIATE)."""
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def first_open() -> None:
        try:
            start.wait()
            open_engine(db_url).dispose()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_open) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert version_rows(db_url) == [HEAD]
    assert differences(db_url) == []


def test_an_empty_database_is_created_by_db_upgrade(db_url: str,
                                                    capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    raw_engine(db_url).connect().close()  # SQLite: the file exists, empty
    name = shown(make_url(db_url))
    code, out, _ = cli(capsys, "db", "current", "--db", db_arg(db_url))
    assert (code, out) == (0, f"{name}: - (empty: no proctrail tables yet)\n")
    code, out, _ = cli(capsys, "db", "upgrade", "--db", db_arg(db_url))
    assert (code, out) == (0, f"created {name} at {HEAD}\n")
    assert version_rows(db_url) == [HEAD] and differences(db_url) == []


def test_db_commands_on_a_missing_sqlite_file(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "none.db"
    for action in ("current", "upgrade"):
        code, out, err = cli(capsys, "db", action, "--db", str(path))
        assert (code, out) == (1, "")
        assert err == f"proctrail: error: {path}: no such store\n"
    assert not path.exists()


# -- older stores --------------------------------------------------------------------------

@pytest.mark.parametrize(("revision", "made"), [
    ("0001", "old build"), ("0001", "alembic"), ("0002", "old build"), ("0002", "alembic"),
    ("0003", "old build"), ("0003", "versioned build"), ("0003", "alembic")])
def test_older_store_is_refused_then_upgraded_keeping_every_row(
        db_url: str, revision: str, made: str, capsys: pytest.CaptureFixture[str]) -> None:
    make_store(db_url, revision, made)
    rows = old_rows(revision)
    insert_rows(db_url, rows)
    name = shown(make_url(db_url))

    # Refused, in one line that says what to run.
    with pytest.raises(StoreError) as refused:
        open_engine(db_url)
    message = str(refused.value)
    assert "\n" not in message
    assert message == (
        f"{name}: this store's schema is from an older proctrail (revision {revision}); "
        f"run '{upgrade_command(name)}' to bring it to {HEAD} (nothing is lost)")
    assert upgrade_command(name) == (f"proctrail db upgrade --db {name}" if backend_of(db_url)
                                     == "sqlite" else f'proctrail db upgrade --db "{name}"')
    code, out, err = cli(capsys, "stats", "--db", db_arg(db_url))
    assert (code, out, err) == (1, "", f"proctrail: error: {message}\n")
    code, out, _ = cli(capsys, "db", "current", "--db", db_arg(db_url))
    assert code == 0
    assert out.startswith(f"{name}: {revision} (" +
                          ("made before schema versions" if made == "old build" else "older"))

    # Upgraded.
    code, out, err = cli(capsys, "db", "upgrade", "--db", db_arg(db_url))
    assert (code, out, err) == (0, f"upgraded {name} from {revision} to {HEAD}\n", "")
    assert version_rows(db_url) == [HEAD]

    # Every row is still there, with its values.
    stored = read_rows(db_url, rows)
    for table, written in rows.items():
        assert len(stored[table]) == len(written), table
        for got, want in zip(stored[table], written, strict=True):
            assert same_values(got, want), (table, got, want)
    if revision == "0001":
        assert [p["token_changes"] for p in stored["processes"]] == ["", "", ""]
    assert [h["alias_of"] for h in stored["hosts"]] == [None, None]  # each its own machine

    # The schema is a fresh store's.
    assert differences(db_url) == []
    upgraded = snapshot(db_url)

    # And the app works on it: ingest, correlate, bookmark; the old events stay.
    engine = open_engine(db_url)
    report = Ingestor(engine).run([str(ROOT / "sample_logs")])
    assert report.clean and report.total("stored") > 0
    result = correlate(engine)
    assert result.processes > 100
    with engine.connect() as conn:
        events = conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
        cmd = conn.execute(sa.text("SELECT id FROM processes WHERE pid = :pid AND "
                                   "host_id = 1"), {"pid": 0x1F40}).scalar_one()
    assert events == report.total("stored") + len(rows["events"])
    finding = add_finding(engine, "process", cmd, note="after the upgrade ✓",
                          severity="high", author="tester")
    notes = {f.id: f.note for f in list_findings(engine)}
    assert notes[finding] == "after the upgrade ✓"
    if revision >= "0002":
        assert notes[1] == "runs whoami ✓"
    engine.dispose()

    # A fresh store's schema, to the last index and foreign-key option.
    fresh = fresh_snapshot(db_url)
    if backend_of(db_url) == "sqlite":
        upgraded, fresh = without_lengths(upgraded), without_lengths(fresh)
    assert upgraded == fresh


def backend_of(url: str) -> str:
    return make_url(url).get_backend_name()


def test_0003_store_under_two_host_names_upgrades_then_folds(db_url: str) -> None:
    """A 0003 store (made by the build at 19f563f) holding one machine under its NetBIOS
    name and its FQDN: the upgrade keeps both hosts rows as they were (each its own
    machine, alias_of NULL), and the aliases, once assigned, make it one machine."""
    from proctrail.store.hosts import assign_aliases
    from proctrail.store.queries.browse import overview

    make_store(db_url, "0003", "versioned build")
    rows = old_rows("0003")
    rows["hosts"] = [dict(id=1, key="ws02", name="WS02"),
                     dict(id=2, key="ws02.corp.example", name="WS02.corp.example")]
    insert_rows(db_url, rows)
    assert upgrade(db_arg(db_url)) == ("0003", HEAD)
    stored = read_rows(db_url, rows)
    for table, written in rows.items():
        assert len(stored[table]) == len(written), table
        for got, want in zip(stored[table], written, strict=True):
            assert same_values(got, want), (table, got, want)
    assert [h["alias_of"] for h in stored["hosts"]] == [None, None]
    assert differences(db_url) == []
    engine = open_engine(db_url)
    assert [h["name"] for h in overview(engine).hosts] == ["WS02", "WS02.corp.example"]
    with engine.begin() as conn:
        assert assign_aliases(conn) == {1: 2}
    hosts = overview(engine).hosts
    assert [(h["name"], h["aliases"], h["events"]) for h in hosts] == [
        ("WS02.corp.example", ["WS02"], 4)]
    engine.dispose()


def test_message_hides_the_password(pg_url: str) -> None:
    old_build_store(pg_url, "0001")
    with_password = make_url(pg_url).set(password="s3cret-pw").render_as_string(
        hide_password=False)
    with pytest.raises(StoreError) as refused:
        open_engine(with_password)
    assert "s3cret-pw" not in str(refused.value) and ":***@" in str(refused.value)
    assert upgrade(with_password) == ("0001", HEAD)


@pytest.mark.parametrize("revision", ["0001", "0002"])
def test_store_a_later_build_opened_before_schema_versions(db_url: str,
                                                           revision: str) -> None:
    """A build before schema versions, opening an older store, created the tables it
    missed (create_all adds tables, never columns): the upgrade keeps them."""
    old_build_store(db_url, revision)
    insert_rows(db_url, old_rows(revision))
    engine = raw_engine(db_url)
    with engine.begin() as conn:
        Base.metadata.create_all(conn)  # what the build at aedf477 did on opening it
    engine.dispose()
    # On SQLite, where lengths mean nothing, 0002 and case_meta is all that 0003 is.
    judged = "0003" if revision == "0002" and backend_of(db_url) == "sqlite" else revision
    assert schema_state(open_engine(db_url, check=False)) == (judged, False)
    assert upgrade(db_arg(db_url)) == (judged, HEAD)
    assert differences(db_url) == []
    assert len(read_rows(db_url, old_rows(revision))["processes"]) == 3


def test_unversioned_store_at_head_is_stamped_on_opening(db_url: str) -> None:
    """Made by the build at aedf477 (this schema, before schema versions)."""
    engine = raw_engine(db_url)
    with engine.begin() as conn:
        Base.metadata.create_all(conn)
    engine.dispose()
    assert schema_state(open_engine(db_url, check=False)) == (HEAD, False)
    open_engine(db_url)
    assert version_rows(db_url) == [HEAD]


def test_failed_upgrade_changes_nothing(db_url: str, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    """A development build between 0001 and 0002 made findings without its later columns:
    the upgrade cannot make that a 0003 store, says so, and leaves the store as it was."""
    old_build_store(db_url, "0001")
    insert_rows(db_url, old_rows("0001"))
    engine = raw_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE findings (id INTEGER PRIMARY KEY, "
                             "target VARCHAR(16) NOT NULL, host_id INTEGER NOT NULL)")
    engine.dispose()
    before = snapshot(db_url)
    code, out, err = cli(capsys, "db", "upgrade", "--db", db_arg(db_url))
    assert (code, out) == (1, "")
    # Found by the revision's own statements (PostgreSQL: altering a column findings
    # lacks) or by the check after them (SQLite).
    assert err.startswith(f"proctrail: error: cannot upgrade {shown(make_url(db_url))}")
    assert err.endswith("; nothing was changed\n") and err.count("\n") == 1
    assert snapshot(db_url) == before
    assert not sa.inspect(raw_engine(db_url)).has_table("alembic_version")
    stored = read_rows(db_url, old_rows("0001"))
    assert len(stored["processes"]) == 3 and "token_changes" not in stored["processes"][0]


def test_not_a_proctrail_store(db_url: str) -> None:
    engine = raw_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE hosts (id INTEGER PRIMARY KEY, name TEXT)")
    engine.dispose()
    with pytest.raises(StoreError, match="not a proctrail store: it has tables named like "
                                         "proctrail's"):
        open_engine(db_url)


# -- newer stores --------------------------------------------------------------------------

def test_newer_revision_is_refused(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    open_engine(db_url).dispose()
    engine = raw_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0042'"))
    engine.dispose()
    name = shown(make_url(db_url))
    expected = (f"{name}: this store was made by a newer proctrail (schema revision 0042; "
                f"this one knows up to {HEAD}): open it with that version, or install it")
    with pytest.raises(StoreError) as refused:
        open_engine(db_url)
    assert str(refused.value) == expected
    code, out, err = cli(capsys, "db", "upgrade", "--db", db_arg(db_url))
    assert (code, out, err) == (1, "", f"proctrail: error: {expected}\n")
    code, out, err = cli(capsys, "db", "current", "--db", db_arg(db_url))
    assert (code, out) == (0, f"{name}: 0042 (newer than this proctrail, which knows up "
                              f"to {HEAD})\n")
    assert version_rows(db_url) == ["0042"]


# -- downgrades ----------------------------------------------------------------------------

def test_downgrade_and_upgrade_again(db_url: str) -> None:
    """Down to 0001 is the old build's schema again, rows kept; back up, a fresh one's."""
    old_build_store(db_url, "0001")
    by_build = snapshot(db_url)
    rows = old_rows("0001")
    insert_rows(db_url, rows)
    assert upgrade(db_arg(db_url)) == ("0001", HEAD)
    alembic_downgrade(db_url, "0001")
    assert version_rows(db_url) == ["0001"]
    assert snapshot(db_url) == by_build
    assert len(read_rows(db_url, rows)["processes"]) == 3
    assert upgrade(db_arg(db_url)) == ("0001", HEAD)
    assert differences(db_url) == []
