"""Regressions the fuzzing found in the EVTX readers (the Rust parser and python-evtx),
each as its minimal patch of our own EVTX."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import pytest

from proctrail.store.events import Damage
from tests.fuzz.regression_inputs import (
    first_record,
    patched,
    string_cycle,
    string_loop,
    template_cycle,
    template_loop,
)
from tests.fuzz.targets import events_and_skips, read_direct
from tests.fuzz.worker import Worker, check


def test_evtx_rust_provider_name_of_a_number_type(worker: Worker, own_evtx: bytes) -> None:
    # The provider name's substitution typed UInt32: the Rust parser renders a JSON number.
    # Was: AttributeError ('int' object has no attribute 'lower') out of the reader.
    descriptor = first_record(own_evtx)[1][0][0]
    data = patched(own_evtx, (descriptor + 2, b"\x08"))
    check(worker, "evtx", data)
    events, skips = events_and_skips(read_direct("evtx", data)[0])
    assert not skips and events[0].provider == str(int.from_bytes(
        "Mi".encode("utf-16-le"), "little"))


def test_evtx_record_id_beyond_a_bigint_is_unknown(worker: Worker, own_evtx: bytes) -> None:
    # EventRecordID (substitution 9: Name, Guid, EventID ... TimeCreated, EventRecordID)
    # set to 2**64 - 1. Was: a record id that overflowed the store's BIGINT.
    _, values = first_record(own_evtx)
    assert values[9][2] == 8
    data = patched(own_evtx, (values[9][1], b"\xff" * 8))
    for mode in ("evtx", "python-evtx"):
        check(worker, mode, data)
        events, skips = events_and_skips(read_direct(mode, data)[0])
        assert not skips and events[0].record_id is None, mode
        assert events[1].record_id is not None


@pytest.mark.parametrize("in_memory", [False, True])
def test_evtx_rust_name_strings_in_a_loop_are_read(worker: Worker, own_evtx: bytes,
                                                   in_memory: bool) -> None:
    # Found by fuzzing a public sample: two name strings' next offsets point at each other
    # (the string table's slot 32 changed from 0x6a7 to 7, whose 'next' is at 0x100, the
    # slot itself). The Rust parser followed the loop for ever (upstream stops only at a
    # link to the string itself); the link closing the loop is now read as 0, and the
    # records come out as they would undamaged.
    data = string_loop(own_evtx)
    result = check(worker, "evtx", data, in_memory=in_memory)
    assert result["events"] > 0 and not result["skips"]
    damaged, items = read_direct("evtx", data)[0], read_direct("evtx", own_evtx)[0]
    assert damaged[1:] == items  # the same events, after the chunk's damage is told
    assert isinstance(damaged[0], Damage) and damaged[0].checks == ("data CRC",)


@pytest.mark.parametrize("damage", [string_cycle, template_cycle, string_loop,
                                    template_loop])
@pytest.mark.parametrize("cut", [None, 4096 + 30_000])
@pytest.mark.parametrize("mode", ["evtx", "python-evtx"])
def test_evtx_string_and_template_chains_that_loop_end(worker: Worker, own_evtx: bytes,
                                                       damage: Callable[[bytes], bytes],
                                                       cut: int | None, mode: str) -> None:
    # Was: python-evtx followed the chain for ever (a hang), also in the Rust path when the
    # file is cut inside a chunk (its complete records are read through python-evtx).
    data = damage(own_evtx)[:cut]
    result = check(worker, mode, data, in_memory=True)
    assert result["events"] > 0


class _Panicking:
    """A records iterator that panics as pyo3 does: a BaseException, not an Exception."""

    def __init__(self, after: int) -> None:
        self.left = after

    def __iter__(self) -> _Panicking:
        return self

    def __next__(self) -> dict[str, Any]:
        if self.left == 0:
            raise type("PanicException", (BaseException,), {})("called `Option::unwrap()`")
        self.left -= 1
        return {"data": orjson.dumps({"Event": {"System": {"EventID": 1, "Channel": "System",
                                                           "EventRecordID": self.left}}})}


def test_a_rust_panic_is_a_counted_skip() -> None:
    from proctrail.store.readers.evtx_rust import _iterate

    events, skips = events_and_skips(list(_iterate(_Panicking(after=2))))
    assert len(events) == 2 and skips == {"parser panic": 1}


def test_a_rust_panic_when_opening_is_a_reader_error(monkeypatch: pytest.MonkeyPatch,
                                                     own_evtx: bytes) -> None:
    import evtx

    from proctrail.store.readers.base import ReaderError
    from proctrail.store.readers.evtx_rust import _iterate, open_evtx_rust

    def panics(*args: object, **kwargs: object) -> None:
        raise type("PanicException", (BaseException,), {})("index out of bounds")

    monkeypatch.setattr(evtx, "PyEvtxParser", panics)
    with pytest.raises(ReaderError, match="index out of bounds"):
        open_evtx_rust(io.BytesIO(own_evtx), "x.evtx")

    def interrupted() -> Iterable[Any]:
        raise KeyboardInterrupt
        yield  # a generator

    with pytest.raises(KeyboardInterrupt):  # other BaseExceptions still go through
        list(_iterate(interrupted()))
