"""Regressions the fuzzing found in archives and sniffing: damaged zip and gz members,
a gz cut short, a large EVTX member."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest

from tests.fuzz.mutators import make_zip
from tests.fuzz.regression_inputs import DAMAGED, damaged_archives
from tests.fuzz.seeds import seeds
from tests.fuzz.worker import Worker, check


@pytest.mark.parametrize("what", DAMAGED)
def test_damaged_archive_members_are_a_reader_error(worker: Worker, what: str) -> None:
    # Was: BadZipFile, zlib.error, BadGzipFile, EOFError or OSError out of sniff's Input
    # (sha256 or open) and the readers: an ingest crash, not one failed input.
    assert sorted(damaged_archives()) == sorted(DAMAGED)
    filename, data = damaged_archives()[what]
    result = check(worker, "sniff", data, filename=filename)
    assert result["errors"], result


def test_a_gz_cut_short_keeps_what_it_holds(worker: Worker) -> None:
    # Was a reader error (EOFError): a copy cut short stored nothing (issue 14). Now what
    # decompresses is read; the ingest counts the cut (tests/test_ingest.py).
    gz = gzip.compress(seeds()["ausearch-i.log"], mtime=0)
    result = check(worker, "sniff", gz[:len(gz) // 2], filename="x.log.gz")
    assert not result["errors"], result


def test_an_evtx_member_beyond_the_memory_limit_is_spilled(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path,
                                                           own_evtx: bytes) -> None:
    # A zip bomb must not make an EVTX member a huge bytes object: past EVTX_IN_MEMORY it
    # goes to an anonymous temporary file, and reads the same.
    from proctrail.store.readers import sniff
    from proctrail.store.readers.base import ReadOptions

    path = tmp_path / "x.zip"
    path.write_bytes(make_zip([("x.evtx", own_evtx)], zipfile.ZIP_DEFLATED))
    (item,) = list(sniff.iter_inputs([str(path)]))
    counts = []
    for limit in (len(own_evtx), len(own_evtx) - 1):
        monkeypatch.setattr(sniff, "EVTX_IN_MEMORY", limit)
        with item.open() as stream:
            spilled = sniff._seekable(stream, item.name, 1 << 30)
            assert isinstance(spilled, io.BytesIO) == (limit == len(own_evtx))
        with item.open() as stream:
            _, records = sniff.open_records(item, stream, ReadOptions(threads=1))
            counts.append(len(list(records)))
    assert counts[0] == counts[1] > 0
