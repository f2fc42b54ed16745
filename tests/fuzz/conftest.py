"""The fuzz tests' fixtures: one worker process for the package, our own EVTX."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fuzz.regression_inputs import first_record
from tests.fuzz.seeds import seed_bytes
from tests.fuzz.worker import Worker


@pytest.fixture(scope="package")
def worker() -> Iterator[Worker]:
    """A worker process for every fuzz test (restarted where one hangs or dies)."""
    w = Worker()
    yield w
    w.close()


@pytest.fixture(scope="module")
def own_evtx() -> bytes:
    """A small Security EVTX by the project's generator (Provider with a Guid)."""
    data = seed_bytes("gen-WS02-Security.evtx")
    assert len(first_record(data)[1]) > 12
    return data
