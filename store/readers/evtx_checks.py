"""EVTX integrity, checked apart from the parsers: each chunk's CRC32s and its records'
framing, so that a record altered inside a healthy-looking file is flagged though both
parsers read it (neither checks a checksum).

A chunk (64 KiB) starts with a 512-byte header: first and last record id at 0x18 and
0x20, the free-space offset (where its records end) at 0x30, the CRC32 of the records
(0x200 up to the free space) at 0x34, and the CRC32 of the header's own bytes 0x00-0x78
and 0x80-0x200 at 0x7C. A record starts with the magic ``2a2a0000``, its size at +4 and
its id at +8, and ends with a copy of its size. About 1 ms per MiB (CRC32 and a walk of
record headers), next to the parser's 10 to 100 ms.
"""

from __future__ import annotations

import struct
import zlib
from typing import IO

from proctrail.store.events import Damage

CHUNK_MAGIC = b"ElfChnk\x00"
CHUNK_SIZE = 0x10000
CHUNK_HEADER = 0x200
RECORD_MAGIC = 0x00002A2A
RECORD_HEADER = 24

HEADER_CRC = "header CRC"
DATA_CRC = "data CRC"
BAD_MAGIC = "record magic"
BAD_SIZE = "record size"
SIZE_COPY = "record size copy"
RECORD_IDS = "record ids"
CHECKS = (HEADER_CRC, DATA_CRC, BAD_MAGIC, BAD_SIZE, SIZE_COPY, RECORD_IDS)

_IDS = struct.Struct("<QQ")  # first and last record id, at 0x18
_FREE = struct.Struct("<II")  # free-space offset and data CRC, at 0x30
_U32 = struct.Struct("<I")
_RECORD = struct.Struct("<IIQ")  # magic, size, id


def chunk_damage(data: bytes, index: int, offset: int) -> Damage | None:
    """What is wrong with one whole chunk (``index`` in the file, at ``offset``), or None.
    Slots without the chunk magic are not chunks (the readers count those)."""
    if len(data) < CHUNK_SIZE or data[:8] != CHUNK_MAGIC:
        return None
    view = memoryview(data)
    failed: list[str] = []
    notes: list[str] = []
    stored = _U32.unpack_from(data, 0x7C)[0]
    computed = zlib.crc32(view[0x80:CHUNK_HEADER], zlib.crc32(view[:0x78]))
    if computed != stored:
        failed.append(HEADER_CRC)
        notes.append(f"header CRC {stored:#010x}, computed {computed:#010x}")
    first, last = _IDS.unpack_from(data, 0x18)
    free, stored = _FREE.unpack_from(data, 0x30)
    if CHUNK_HEADER <= free <= CHUNK_SIZE:
        computed = zlib.crc32(view[CHUNK_HEADER:free])
        if computed != stored:
            failed.append(DATA_CRC)
            notes.append(f"data CRC {stored:#010x}, computed {computed:#010x}")
    else:
        failed.append(DATA_CRC)
        notes.append(f"free-space offset {free:#x} is outside the chunk")
        free = CHUNK_SIZE
    ids = _walk(data, free, first, last, failed, notes)
    if not failed:
        return None
    if HEADER_CRC not in failed or not ids:  # the header's range, while it can be trusted
        ids = [first, last]
    return Damage(index, offset, tuple(c for c in CHECKS if c in failed), _stored(ids[0]),
                  _stored(ids[-1]), "; ".join(notes[:4]))


def _stored(rid: int) -> int | None:
    """A record id as a BIGINT holds it; None for a damaged one past it."""
    return rid if rid < 1 << 63 else None


def _walk(data: bytes, end: int, first: int, last: int, failed: list[str],
          notes: list[str]) -> list[int]:
    """Check the records from the header to ``end``; the ids read, in order."""
    ids: list[int] = []
    pos = CHUNK_HEADER
    while pos + RECORD_HEADER <= end:
        magic, size, rid = _RECORD.unpack_from(data, pos)
        if magic != RECORD_MAGIC:
            _fail(failed, notes, BAD_MAGIC, f"no record magic at {pos:#x}")
            break
        if size < RECORD_HEADER + 4 or pos + size > end:
            _fail(failed, notes, BAD_SIZE, f"record {rid}: size {size} at {pos:#x}")
            break
        copy = _U32.unpack_from(data, pos + size - 4)[0]
        if copy != size:
            _fail(failed, notes, SIZE_COPY, f"record {rid}: size {size}, copy {copy}")
        if not first <= rid <= last or (ids and rid <= ids[-1]):
            _fail(failed, notes, RECORD_IDS, f"record {rid} at {pos:#x}: outside "
                                             f"{first}..{last} or out of order")
        ids.append(rid)
        pos += size
    return ids


def _fail(failed: list[str], notes: list[str], check: str, note: str) -> None:
    if check not in failed:  # the first of each kind is told
        failed.append(check)
        notes.append(note)


def file_damage(stream: IO[bytes], size: int, header_size: int) -> list[Damage]:
    """The damaged chunks of a seekable EVTX stream, read one chunk at a time from the
    file header's end (a partial chunk at the end is the readers' to count); the stream's
    position is kept."""
    here = stream.tell()
    found: list[Damage] = []
    stream.seek(header_size)
    for index, offset in enumerate(range(header_size, size - CHUNK_SIZE + 1, CHUNK_SIZE)):
        damage = chunk_damage(stream.read(CHUNK_SIZE), index, offset)
        if damage is not None:
            found.append(damage)
    stream.seek(here)
    return found
