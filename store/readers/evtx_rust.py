"""EVTX through the Rust-backed ``evtx`` package: the fast path.

The Rust parser reads every chunk slot of the file (not only those the header counts),
reports a damaged chunk or record as an error and goes on with the next one. It checks
no checksum: every chunk's are checked first (:mod:`.evtx_checks`), and its damage comes
before the records.

Here too the EVTX format is declared, read by this parser or, with ``--parser
python-evtx``, by :mod:`.evtx_python`; and the Windows logs recognised only to be refused.
"""

from __future__ import annotations

import io
import re
import struct
from itertools import chain
from typing import IO, Any

import evtx
import orjson

from proctrail.store.events import Skip
from proctrail.store.readers.base import Format, ReaderError, ReadOptions, RecordStream, Refusal
from proctrail.store.readers.evtx_checks import file_damage
from proctrail.store.readers.evtx_python import (
    CHUNK_MAGIC,
    CHUNK_SIZE,
    FILE_MAGIC,
    check_layout,
    open_evtx_python,
    read_partial_tail,
)
from proctrail.store.readers.winevent import event_from_json

_CHUNK_ERROR = re.compile(r"Failed to parse chunk number (\d+)")


def _is_panic(exc: BaseException) -> bool:
    """A Rust panic surfaced by pyo3: a ``BaseException``, so ``except Exception`` misses it."""
    return type(exc).__name__ == "PanicException"


def _skip_for(message: str) -> Skip:
    """A Rust parser error as a counted skip with a short reason."""
    m = _CHUNK_ERROR.search(message)
    if m and "chunk header" in message:
        return Skip("bad chunk header", message[:300])
    if "record header magic" in message:
        return Skip("bad record header", message[:300])
    if "record data size" in message:
        return Skip("bad record size", message[:300])
    return Skip("unparseable record", message[:300])


def open_evtx_rust(stream: IO[bytes], name: str, threads: int = 0) -> RecordStream:
    """Events of an EVTX file or stream through the Rust parser.

    A file cut short inside a chunk: the Rust parser ignores the partial chunk, so its
    complete records are recovered through python-evtx (see :func:`read_partial_tail`).
    """
    size = _size(stream)
    header_size = check_layout(stream, size, name)
    damage = file_damage(stream, size, header_size)
    patches = _string_loops(stream, size, header_size)
    try:
        source: object = stream.name if _is_plain_file(stream) else stream
        if patches:
            source = io.BufferedReader(_Patched(stream, patches))
        parser = evtx.PyEvtxParser(source, number_of_threads=threads)
        records = parser.records_json()
    except (OSError, RuntimeError, ValueError) as exc:
        raise ReaderError(name, f"not a readable EVTX file ({exc})") from exc
    except BaseException as exc:
        if not _is_panic(exc):
            raise
        raise ReaderError(name, f"the EVTX parser failed ({exc})") from None
    return _with_tail(chain(damage, _iterate(records)), stream, size, header_size, name)


def _string_loops(stream: IO[bytes], size: int, header_size: int) -> dict[int, bytes]:
    """Patches (file offset: bytes) that end each chunk's name-string chains where they
    loop back: the Rust parser follows such a chain for ever (it stops only at a link to
    the string itself). The link that closes a loop reads as 0 (the chain's end); the
    names are read where they are all the same, so nothing else changes."""
    patches: dict[int, bytes] = {}
    here = stream.tell()
    for base in sorted({header_size, 4096}):  # the header's layout, and the Rust parser's
        stream.seek(base)
        for chunk in range(base, size - CHUNK_SIZE + 1, CHUNK_SIZE):
            data = bytearray(stream.read(CHUNK_SIZE))
            if data[:8] != CHUNK_MAGIC:
                continue
            for head in struct.unpack_from("<64I", data, 0x80):
                seen: set[int] = set()
                ofs = head
                while 0 < ofs <= CHUNK_SIZE - 4 and ofs not in seen:
                    seen.add(ofs)
                    link = struct.unpack_from("<I", data, ofs)[0]
                    if link in seen:
                        data[ofs:ofs + 4] = patches[chunk + ofs] = bytes(4)
                        break
                    ofs = link
    stream.seek(here)
    return patches


class _Patched(io.RawIOBase):
    """A seekable stream read with a few bytes replaced (see :func:`_string_loops`)."""

    def __init__(self, stream: IO[bytes], patches: dict[int, bytes]) -> None:
        super().__init__()
        self._stream = stream
        self._patches = patches

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        start = self._stream.tell()
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        for at, value in self._patches.items():
            low, high = max(at, start), min(at + len(value), start + len(data))
            if low < high:
                buffer[low - start:high - start] = value[low - at:high - at]
        return len(data)


def _size(stream: IO[bytes]) -> int:
    here = stream.tell()
    size = stream.seek(0, 2)
    stream.seek(here)
    return size


def _with_tail(records: RecordStream, stream: IO[bytes], size: int, header_size: int,
               name: str) -> RecordStream:
    yield from records
    tail = header_size + ((size - header_size) // CHUNK_SIZE) * CHUNK_SIZE
    if tail < size:
        stream.seek(tail)
        yield from read_partial_tail(stream.read(size - tail), tail)


def _is_plain_file(stream: IO[bytes]) -> bool:
    try:
        stream.fileno()
    except (OSError, AttributeError, ValueError):
        return False
    return isinstance(getattr(stream, "name", None), str)


_RAW_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _json(text: str) -> tuple[Any, bool]:
    """A record's JSON, and whether it had to be repaired: the parser writes a damaged
    name (a flipped byte) with its raw control character, which strict JSON refuses."""
    try:
        return orjson.loads(text), False
    except orjson.JSONDecodeError:
        fixed = _RAW_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
        if fixed == text:
            raise
        return orjson.loads(fixed), True


def _iterate(records: object) -> RecordStream:
    it = iter(records)  # type: ignore[call-overload]
    while True:
        try:
            record = next(it)
        except StopIteration:
            return
        except (RuntimeError, OSError, ValueError) as exc:
            yield _skip_for(str(exc))
            continue
        except BaseException as exc:
            if not _is_panic(exc):
                raise
            # The parser's state after a panic is unknown: what is left of the file is lost.
            yield Skip("parser panic", str(exc)[:300])
            return
        try:
            data, repaired = _json(record["data"])
            yield event_from_json(data, record.get("timestamp"))
            if repaired:
                yield Skip("repaired record (kept)",
                           f"record {record.get('event_record_id', '?')}: raw control "
                           "characters in its XML names escaped; every readable field kept")
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            # A damaged record renders as odd JSON: numbers for names, text for elements.
            rid = record.get("event_record_id", "?")
            yield Skip("malformed event", f"record {rid}: {exc!r}"[:300])


def open_evtx(stream: IO[bytes], name: str, opts: ReadOptions) -> RecordStream:
    """Events of an EVTX file through the parser ``opts`` names (this one by default)."""
    if opts.parser == "python-evtx":
        return open_evtx_python(stream, name)
    return open_evtx_rust(stream, name, opts.threads)


def _is_evtx(head: bytes, text: str) -> bool:
    del text
    return head.startswith(FILE_MAGIC)


def _is_chunk(head: bytes, text: str) -> bool:
    del text
    return head.startswith(CHUNK_MAGIC)


def _is_legacy_evt(head: bytes, text: str) -> bool:
    del text
    return head[4:8] == b"LfLe"


FORMAT = Format("evtx", _is_evtx, open_evtx, seekable=True)
CARVED_CHUNK = Refusal("evtx-chunk", _is_chunk,
                       "EVTX chunk without a file header (carved data?)")
LEGACY_EVT = Refusal("evt", _is_legacy_evt,
                     "legacy .evt log (Windows XP/2003): convert it with wevtutil epl")
