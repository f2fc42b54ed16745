"""Remote sessions on real logs (issue 18): Terminal Services and 4778/4779 joined to the
RDP session, 4648 linked to the session it opened across hosts."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from conftest import ROOT, SAMPLES

from proctrail.store.correlate.remote import remote_fields, remote_summary
from proctrail.store.db import open_engine
from proctrail.store.load import load_case

OTRF = SAMPLES / "otrf"
RDP = OTRF / "rdp_interactive_taskmanager_lsass_dump.zip"
COVENANT = OTRF / "covenant_psremoting_command.zip"
RUNAS = SAMPLES / "extra" / "win" / "runas_4688_4648_4624.evtx"


def _case(tmp_path: Path, sample: Path):  # type: ignore[no-untyped-def]
    if not sample.exists():
        pytest.skip(f"sample {sample.name} absent")
    engine = open_engine(str(tmp_path / "case.db"))
    load_case(engine, [str(sample)], workers=1)
    return engine


def _sessions(engine) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    from proctrail.store.queries.export import export_sessions
    return {s["logon_id"]: s for s in export_sessions(engine)}


def test_rdp_session_shows_where_it_came_from(tmp_path: Path) -> None:
    engine = _case(tmp_path, RDP)
    s = _sessions(engine)["0x10ac67"]
    assert s["user"] == "THESHIRE\\pgustavo"  # from the 4778 (NXLog's AccountName kept)
    assert s["remote_from"] == ["1.2.3.4"] and s["remote_clients"] == ["robertos-mbp"]
    assert (s["reconnects"], s["disconnects"], s["rdp_authenticated"]) == (1, 1, 1)
    with engine.connect() as conn:
        remote = orjson.loads(conn.exec_driver_sql(
            "select remote from sessions where logon_id = '0x10ac67'").scalar_one())
    # 1149, LocalSessionManager 25 and 40 (Message text only in NXLog) all joined it
    assert remote["counts"] == {"4778": 1, "1149": 1, "25": 1, "40": 1}
    with engine.connect() as conn:
        details = [r[0] for r in conn.exec_driver_sql(
            "select detail from anomalies where detail like 'remote session event%'")]
    assert details == []
    assert remote_summary(orjson.dumps(remote).decode()) == \
        "from 1.2.3.4 (robertos-mbp) · 1 reconnect · 1 disconnect"


def test_4648_links_to_target_session_across_hosts(tmp_path: Path) -> None:
    engine = _case(tmp_path, COVENANT)
    linked = {k: s for k, s in _sessions(engine).items() if s["explicit_from"]}
    # five 4648s by GruntHTTP.exe on WORKSTATION5 → five network logons on WORKSTATION6
    assert sorted(linked) == ["0x1121f34", "0x1123914", "0x1124cf1", "0x113262a",
                              "0x11326a3"]
    for s in linked.values():
        assert s["host"] == "WORKSTATION6.theshire.local"
        assert s["explicit_from"] == [
            "WORKSTATION5.theshire.local 7240 C:\\Users\\pgustavo\\Desktop\\GruntHTTP.exe"]
    # GruntHTTP.exe started before the log. Its first 4648 comes before anything named
    # it (unplaced); its first child's start then makes it a placeholder, which the four
    # later 4648s attach to, in stream order (before, every 4648 sat before all else).
    with engine.connect() as conn:
        unplaced = conn.exec_driver_sql(
            "select detail from anomalies where detail like "
            "'explicit_credentials of a process not in the logs%'").scalars().all()
        attached = conn.exec_driver_sql(
            "select p.image, p.flags from activity a join processes p on p.id = a.process_id"
            " where a.kind = 'explicit_credentials'").all()
    assert unplaced == ["explicit_credentials of a process not in the logs"]
    assert len(attached) == 4 and {a.image for a in attached} == {
        "C:\\Users\\pgustavo\\Desktop\\GruntHTTP.exe"}
    assert all("placeholder" in a.flags for a in attached)


def test_4648_same_host_attaches_to_caller_and_target(tmp_path: Path) -> None:
    engine = _case(tmp_path, RUNAS)
    linked = {k: s for k, s in _sessions(engine).items() if s["explicit_from"]}
    # two 4624s (split token) from one runas: the LogonGuid names the one
    assert list(linked) == ["0xa6f5fa4"]
    assert linked["0xa6f5fa4"]["explicit_from"] == [
        "FS03.offsec.lan 752 C:\\Windows\\System32\\svchost.exe"]


def test_remote_fields_of_nothing() -> None:
    assert remote_summary("") == "" and remote_summary("not json") == ""
    assert remote_fields(None)["explicit_from"] == []


def test_demo_mstsc_leads_to_the_ws02_rdp_session(tmp_path: Path) -> None:
    """alice's admin prompt runs mstsc as itadmin on WS01; its 4648 names WS02. WS02's
    Security log was cleared, so the RDP logon is not there: the session is known by its
    processes (Sysmon's LogonId), and linked by its first process, userinit, 2 s later."""
    engine = open_engine(str(tmp_path / "demo.db"))
    load_case(engine, [str(ROOT / "sample_logs")], workers=1)
    from sqlalchemy import select

    from proctrail.store.models import Activity, LogonSession, Process

    with engine.connect() as conn:
        (image, detail), = conn.execute(
            select(Process.image, Activity.detail).join(Process, Process.id == Activity.process_id)
            .where(Activity.kind == "explicit_credentials")).all()
    assert image.endswith("mstsc.exe")
    assert detail == "as CORP\\itadmin by CORP\\itadmin → session 0x9c4d02 on WS02.corp.example"
    rdp = _sessions(engine)["0x9c4d02"]
    assert rdp["explicit_from"] == ["WS01.corp.example 11768 C:\\Windows\\System32\\mstsc.exe"]
    with engine.connect() as conn:
        remote = conn.execute(select(LogonSession.remote)
                              .where(LogonSession.logon_id == "0x9c4d02")).scalar_one()
    assert [e["by"] for e in orjson.loads(remote)["explicit"]] == ["first process"]
