"""Fuzzing the readers with mutants of the public samples in ``../shared/samples``: skipped
where that folder is absent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.mutators import MAX_INPUT_PYTHON_EVTX, OFFSETS, Mutant, fuzz, mutants
from tests.fuzz.seeds import (
    PUBLIC_EVTX,
    PUBLIC_EVTX_SMALL,
    PUBLIC_MEMBERS,
    PUBLIC_TEXT,
    PUBLIC_ZIP,
    SAMPLES,
    seed_format,
)
from tests.fuzz.worker import Worker, check

needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(), reason="../shared/samples is absent (public samples not checked)")


@needs_samples
@fuzz(60)
@given(m=mutants([f"public:{r}" for r in PUBLIC_EVTX], "evtx"), in_memory=st.booleans())
def test_fuzz_evtx_rust_public_samples(worker: Worker, m: Mutant, in_memory: bool) -> None:
    check(worker, "evtx", m.data, in_memory=in_memory)


@needs_samples
@fuzz(20)
@given(m=mutants([f"public:{r}" for r in PUBLIC_EVTX_SMALL], "evtx", MAX_INPUT_PYTHON_EVTX))
def test_fuzz_evtx_python_public_samples(worker: Worker, m: Mutant) -> None:
    check(worker, "python-evtx", m.data)


@needs_samples
@fuzz(40)
@given(m=mutants([f"public:{r}" for r in PUBLIC_TEXT]), offset=OFFSETS)
def test_fuzz_text_public_samples(worker: Worker, m: Mutant, offset: timedelta | None) -> None:
    check(worker, seed_format(m.seed), m.data, offset=offset)


@needs_samples
@fuzz(30)
@given(m=mutants(PUBLIC_MEMBERS, "jsonl"))
def test_fuzz_jsonl_public_samples(worker: Worker, m: Mutant) -> None:
    check(worker, "jsonl", m.data)


@needs_samples
@fuzz(20)
@given(m=mutants([f"public:{r}" for r in PUBLIC_ZIP], "zip"))
def test_fuzz_public_zips(worker: Worker, m: Mutant) -> None:
    check(worker, "sniff", m.data, filename="input.zip")
