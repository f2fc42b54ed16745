"""Fuzzing each reader with mutants of our own seeds, archives of them through sniffing,
and a few mutants through the ingest into SQLite."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.mutators import (
    MAX_INPUT_PYTHON_EVTX,
    OFFSETS,
    Mutant,
    archives,
    evtx_targets,
    fuzz,
    mutants,
    text_targets,
)
from tests.fuzz.seeds import (
    OWN_ALL,
    OWN_AUDITD,
    OWN_EVTX,
    OWN_EVTX_SMALL,
    OWN_JSONL,
    OWN_SYSLOG,
    OWN_XML,
    seed_bytes,
    seed_format,
)
from tests.fuzz.worker import Worker, assert_ingest_consistent, check, events_in


@fuzz(150)
@given(m=mutants(OWN_EVTX, "evtx"), in_memory=st.booleans())
def test_fuzz_evtx_rust(worker: Worker, m: Mutant, in_memory: bool) -> None:
    check(worker, "evtx", m.data, in_memory=in_memory)


@fuzz(40)
@given(m=mutants(OWN_EVTX_SMALL, "evtx", MAX_INPUT_PYTHON_EVTX))
def test_fuzz_evtx_python(worker: Worker, m: Mutant) -> None:
    check(worker, "python-evtx", m.data)


@fuzz(120)
@given(m=mutants(OWN_XML, "xml"))
def test_fuzz_xml(worker: Worker, m: Mutant) -> None:
    check(worker, "xml", m.data)


@fuzz(150)
@given(m=mutants(OWN_JSONL, "jsonl"))
def test_fuzz_jsonl(worker: Worker, m: Mutant) -> None:
    check(worker, "jsonl", m.data)


@fuzz(120)
@given(m=mutants(OWN_AUDITD, "auditd"), offset=OFFSETS)
def test_fuzz_auditd(worker: Worker, m: Mutant, offset: timedelta | None) -> None:
    check(worker, "auditd", m.data, offset=offset)


@fuzz(100)
@given(m=mutants(OWN_SYSLOG, "sysmon-syslog"))
def test_fuzz_sysmon_syslog(worker: Worker, m: Mutant) -> None:
    check(worker, "sysmon-syslog", m.data)


@fuzz(80)
@given(m=archives(), parser=st.sampled_from(["evtx", "python-evtx"]))
def test_fuzz_archives_and_sniffing(worker: Worker, m: Mutant, parser: str) -> None:
    """Any seed, mutated, in a zip or gz (itself mutated) or plain: format sniffing and
    archive members read as ingest reads them."""
    if len(m.data) > MAX_INPUT_PYTHON_EVTX:
        parser = "evtx"
    check(worker, "sniff", m.data, filename=m.filename, parser=parser)


@fuzz(12)
@given(chosen=st.lists(mutants(OWN_ALL, None, 256 << 10), min_size=1, max_size=4))
def test_fuzzed_inputs_ingest_into_sqlite(worker: Worker, sqlite_url: str, tmp_path: Path,
                                          chosen: list[Mutant]) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    paths = []
    for i, m in enumerate(chosen):
        paths.append(folder / f"{i}-{m.seed}")
        paths[-1].write_bytes(m.data)
    before = events_in(sqlite_url)
    stored, in_store = assert_ingest_consistent(worker, sqlite_url, paths)
    assert in_store == before + stored


def test_seeds_read_cleanly(worker: Worker) -> None:
    """The unmutated seeds read without a skip: the fuzzing starts from good input."""
    for name in OWN_ALL:
        fmt = seed_format(name)
        result = check(worker, fmt if fmt != "evtx" else "evtx", seed_bytes(name))
        assert result["outcome"] == "ok", (name, result["error"])
        assert result["events"] > 0, name
        allowed = {"truncated syslog message"} if fmt == "sysmon-syslog" else set()
        assert set(result["skips"]) <= allowed, (name, result["skips"])
    targets = evtx_targets("WS02-Security.evtx")
    assert len(targets) > 500
    assert len(text_targets("gen-WS01-Security.jsonl", "jsonl")["value"]) > 100
    assert set(text_targets("lnx01-audit.log", "auditd")) == {"stamp", "value", "line"}
