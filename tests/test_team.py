"""Several analysts on one case: ingests that run together end as one ingest of both,
findings written at once are all kept, and an open TUI sees new data on refresh."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from proctrail.app.tui import ProctrailApp
from proctrail.store.db import open_engine
from proctrail.store.ingest import Ingestor
from proctrail.store.models import Process
from proctrail.store.queries.findings import list_findings

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "sample_logs"
SCRIPT = shutil.which("proctrail", path=str(Path(sys.executable).parent))
# Each analyst has half the files; one host's Security log and its Sysmon log are split
# between them, so the lifetimes are right only if the last correlation saw both halves.
ALICE = ["WS01-Security.xml", "WS02-Sysmon.evtx", "lnx01-audit.log"]
BOB = ["WS01-Sysmon.xml", "WS02-Security.evtx", "OLD2003-Security.evtx"]


def exported(url: str, what: str) -> list[dict]:
    done = subprocess.run([SCRIPT, "export", what, "--db", url], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    for row in rows:
        for src in row.get("sources", []):
            src["file"] = Path(src["file"]).name
    return rows


def test_two_ingests_at_once_equal_one_ingest_of_both(db_url: str, sqlite_url: str) -> None:
    open_engine(db_url).dispose()
    procs = [subprocess.Popen([SCRIPT, "ingest", "--db", db_url, "--quiet",
                               *(str(LOGS / f) for f in files)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for files in (ALICE, BOB)]
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    one = subprocess.run([SCRIPT, "ingest", "--db", sqlite_url, "--quiet", str(LOGS)],
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    together, alone = exported(db_url, "processes"), exported(sqlite_url, "processes")
    assert len(together) == len(alone) == 202
    assert together == alone
    assert exported(db_url, "sessions") == exported(sqlite_url, "sessions")


WRITER = """
import sys, time
from pathlib import Path
from proctrail.store.db import open_engine
from proctrail.store.findings import add_finding
url, who, go, ids = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4].split(",")
engine = open_engine(url)
while not go.exists():
    time.sleep(0.005)
for i, pid in enumerate(ids):
    add_finding(engine, "process", int(pid), note=f"{who} {i}", severity="high", author=who)
"""


def test_findings_written_by_two_analysts_at_once_are_all_kept(demo_case, tmp_path: Path
                                                              ) -> None:
    url = demo_case.url.render_as_string(hide_password=False)
    with demo_case.connect() as conn:
        ids = [str(i) for i in conn.execute(select(Process.id).order_by(Process.id)
                                            .limit(60)).scalars()]
    go = tmp_path / "go"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, url, who, str(go),
                                 ",".join(ids)], stderr=subprocess.PIPE, text=True)
               for who in ("alice", "bob")]
    time.sleep(1.5)  # both are connected and waiting
    go.touch()
    for w in writers:
        _out, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
    found = list_findings(demo_case)
    assert len(found) == 2 * len(ids)
    for who in ("alice", "bob"):
        mine = sorted(f.note for f in found if f.author == who)
        assert mine == sorted(f"{who} {i}" for i in range(len(ids)))
        assert {f.process_id for f in found if f.author == who} == {int(i) for i in ids}


async def test_an_open_tui_sees_another_analysts_data_on_refresh(db_url: str) -> None:
    from test_tui import screen_text, settle

    engine = open_engine(db_url)
    Ingestor(engine).run([str(LOGS / "lnx01-audit.log")])
    app = ProctrailApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        before = screen_text(app)
        assert "lnx01" in before and "WS01" not in before
        # Another analyst, another process: ingest and correlate into the same case.
        other = subprocess.run([SCRIPT, "ingest", "--db", db_url, "--quiet",
                                str(LOGS / "WS01-Security.xml")],
                               capture_output=True, text=True, timeout=300,
                               env={**os.environ})
        assert other.returncode == 0, other.stderr
        assert "WS01" not in screen_text(app)
        await pilot.press("r")
        await settle(pilot)
        assert "WS01" in screen_text(app)
        assert "since the last correlation" not in screen_text(app)
        # Stored and not yet correlated (that ingest still running, or told not to):
        # the overview says so.
        late = subprocess.run([SCRIPT, "ingest", "--db", db_url, "--quiet", "--no-correlate",
                               str(LOGS / "WS01-Sysmon.xml")], capture_output=True,
                              text=True, timeout=300)
        assert late.returncode == 0, late.stderr
        await pilot.press("r")
        await settle(pilot)
        assert "150 event(s) stored since the last correlation" in screen_text(app)


class _Deadlock(Exception):
    """What psycopg raises when PostgreSQL picked this transaction to break a deadlock."""

    sqlstate = "40P01"


def test_a_batch_rolled_back_for_a_deadlock_is_run_again(db_url: str,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """Two ingests, one putting a fresh case's keys and indexes back while the other
    writes (store/pg_load.py), can deadlock; the server rolls one back. That batch runs
    again, and host ids learned in the rolled-back transaction are forgotten with it."""
    from proctrail.store.ingest import Ingestor

    real = Ingestor._store_once
    calls: list[int] = []

    def rolled_back_once(self: Ingestor, *args: object) -> int:
        calls.append(1)
        if len(calls) == 1:
            self._hosts["made-in-the-rolled-back-transaction"] = 424242
            raise _Deadlock("deadlock detected")
        return real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Ingestor, "_store_once", rolled_back_once)
    ingestor = Ingestor(open_engine(db_url), workers=1)
    report = ingestor.run([str(ROOT / "sample_logs" / "lnx01-audit.log")])
    assert report.clean and report.total("stored") == 185 and len(calls) == 2
    assert "made-in-the-rolled-back-transaction" not in ingestor._hosts


def test_a_deadlock_is_not_the_database_going_away() -> None:
    """Two ingests inserting the same new hosts and channels in another order deadlock;
    PostgreSQL aborts one. Taken for the server gone, that batch went to the spool, the
    load was reported spooled and nothing was correlated (a cluster load once ended with
    every event and no lifetime so): it is a batch to run again."""
    from sqlalchemy.exc import OperationalError

    from proctrail.store.failures import server_unreachable, transient

    deadlock = OperationalError("INSERT ...", {}, _Deadlock("deadlock detected"))
    gone = OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))
    assert transient(deadlock) and transient(_Deadlock()) and not transient(gone)
    assert not server_unreachable(deadlock, "postgresql")
    assert server_unreachable(gone, "postgresql")


def test_two_ingests_naming_new_hosts_in_opposite_orders_neither_spool(
        pg_url: str, tmp_path: Path) -> None:
    """Real deadlocks: each file names the same 300 new hosts in one batch, one file in
    the other's reverse order, both ingested at once. Before batches were run again, 2 of
    20 such ingests here spooled ("deadlock detected") with the server up all along (so
    three rounds catch it about half the time, never failing without it)."""
    import threading

    from conftest import event_xml

    from proctrail.store.ingest import Ingestor

    def log(path: Path, hosts: list[str]) -> str:
        path.write_text("<Events>" + "".join(
            event_xml(4688, i + 1, f"2024-01-01T00:00:{i % 60:02d}.000000Z",
                      {"NewProcessId": "0x10", "NewProcessName": "C:\\a.exe"}, host=h)
            for i, h in enumerate(hosts)) + "</Events>")
        return str(path)

    def ingest(path: str, reports: list[object]) -> None:
        reports.append(Ingestor(open_engine(pg_url), workers=1, batch_size=400).run([path]))

    for trial in range(3):
        hosts = [f"t{trial}-h{i:03d}.corp" for i in range(300)]
        paths = [log(tmp_path / f"{trial}a.xml", hosts),
                 log(tmp_path / f"{trial}b.xml", hosts[::-1])]
        reports: list[object] = []
        threads = [threading.Thread(target=ingest, args=(p, reports)) for p in paths]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(reports) == 2
        for report in reports:
            assert report.spool is None, report.spool_reason  # type: ignore[attr-defined]
            assert report.clean and report.total("stored") == 300  # type: ignore[attr-defined]
