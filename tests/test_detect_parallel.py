"""The detection pass cut into machine slices for worker processes finds exactly what one
process finds: the same findings, counts and per-rule tallies, the duplicates across a
lifetime's two start events (4688 and Sysmon 1) still folded into one."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

import proctrail.store.detect.run as detection
from proctrail.store.db import open_engine
from proctrail.store.detect.matching import MatchTask, compiled, match_slice
from proctrail.store.detect.run import BUILTIN, DetectReport, detect
from proctrail.store.detect.sigma import read_rules
from proctrail.store.models import Finding
from tests.conftest import correlated_case

SAMPLES = ("covenant_psremoting_command.zip", "empire_psexec_dcerpc_tcp_svcctl.zip",
           "covenant_sharpsc_create_dcerpc_smb_svcctl.zip")


def findings(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(
            Finding.kind, Finding.rule_id, Finding.host_id, Finding.anchor_event, Finding.pid,
            Finding.image, Finding.logon_id, Finding.severity, Finding.note, Finding.tags,
            Finding.time_us)).all())


def tally(report: DetectReport) -> tuple[object, ...]:
    return report.rules, len(report.refused), report.events, report.findings, \
        dict(report.by_rule)


def test_slices_find_what_one_process_finds(samples: Path, db_url: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """OTRF multi-host Security + Sysmon (NXLog), the built-in rules and a SigmaHQ folder:
    the machines matched in two worker processes, the biggest cut in parts."""
    paths = [samples / "otrf" / name for name in SAMPLES]
    if not all(p.exists() for p in paths):
        pytest.skip("the OTRF samples are absent")
    folder = samples / "sigma" / "rules" / "windows" / "process_creation"
    rules = sorted(folder.glob("proc_creation_win_[a-p]*.yml"))
    engine = correlated_case(db_url, *paths)
    one = detect(engine, rules, workers=1)
    serial = findings(engine)
    monkeypatch.setattr(detection, "PARALLEL_MIN_PROCESSES", 0)
    monkeypatch.setattr(detection, "MIN_SLICE", 10)  # the big machines: several parts
    heard: list[int] = []
    two = detect(engine, rules, workers=2, progress=heard.append)
    assert one.slices == 0 and two.slices > 3
    assert tally(one) == tally(two) and one.findings > 10
    assert heard == sorted(heard) and heard[-1] == one.events
    assert findings(engine) == serial


def test_slices_cut_big_machines_a_few_a_worker() -> None:
    slices = detection.machine_slices([((1,), 40_000), ((2, 5), 2_000), ((3,), 9_000)], 2)
    # 51,000 lifetimes, 3 slices a worker: parts of at most 8,500, biggest first
    assert slices == [((1,), (0, 5)), ((1,), (1, 5)), ((1,), (2, 5)), ((1,), (3, 5)),
                      ((1,), (4, 5)), ((3,), (0, 2)), ((3,), (1, 2)), ((2, 5), None)]
    assert detection.machine_slices([((7,), 300)], 8) == [((7,), None)]  # 300: uncut


def test_small_cases_one_worker_and_memory_stores_match_here(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'c.db'}")
    memory = open_engine("sqlite://")
    with engine.connect() as conn, memory.connect() as in_memory:
        assert detection._pool(conn, engine, 2, None) is None  # nothing in it
        assert detection._pool(conn, engine, 1, None) is None
        assert detection._pool(in_memory, memory, 8, None) is None  # no other process


def test_a_slice_task_is_plain_data_and_compiles_its_rules_once(tmp_path: Path) -> None:
    """What travels to a worker pickles (rules as YAML text, never closures), and a
    worker compiles a rule set once however many slices it matches."""
    import pickle

    texts, refused = read_rules([BUILTIN])
    assert texts and not refused
    task = MatchTask(f"sqlite:///{tmp_path / 'c.db'}", (1, 2), (0, 2), tuple(texts), None,
                     None, 1)
    assert pickle.loads(pickle.dumps(task)) == task
    open_engine(task.url)  # an empty case
    compiled.cache_clear()
    assert match_slice(task).rows == [] and match_slice(task).events == 0
    assert compiled.cache_info().misses == 1 and compiled.cache_info().hits == 1
