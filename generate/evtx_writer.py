"""A streaming writer of binary Windows EVTX event logs.

Written from the public description of the format (libyal/libevtx, "Windows XML Event
Log (EVTX) format"); checked against both EVTX parsers proctrail uses.

Layout: a 4096-byte file header, then 64 KiB chunks, each a 512-byte header (record
numbers, offsets, CRC32s, the name hash buckets and template buckets) followed by event
records (``**\\0\\0``, size, record id, FILETIME, BinXML, copy of the size). One chunk is
built in memory at a time and written when full, so memory stays flat whatever the
number of records; the file header is written first marked dirty and rewritten clean by
:meth:`EvtxWriter.close`. Output is a pure function of the input: no clock, no randomness
(template GUIDs are hashes of the template's shape).

Design: records are *template instances*, as Windows writes them. A template holds the
event's XML shape (``<Event><System>...</System><EventData>...``) with the ``Data``
names as literal text and every varying value as a substitution; a record carries only
its typed values. Templates are keyed by (Provider Guid present, Security UserID present,
the Data names in order); the first record of a chunk that uses a template stores its
definition inline, later records refer to it by offset. Templates rather than plain
inline elements because python-evtx can only read template instances, files come out
several times smaller, and they are closer to real logs. Element and attribute names are
stored once per chunk (inside the first template that uses them) and referred to by
offset after that. Value types: EventID/Task UInt16, Version/Level/Opcode UInt8, Keywords
HexInt64, SystemTime FILETIME, EventRecordID UInt64, ProcessID/ThreadID UInt32, Guid GUID,
UserID SID, Provider Name/Channel/Computer and Data values UTF-16 strings.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from proctrail.generate.binxml import (
    FRAGMENT_HEADER,
    MAX_VALUE_BYTES,
    TEMPLATE_BUCKETS,
    TOKEN_TEMPLATE_INSTANCE,
    TYPE_FILETIME,
    TYPE_GUID,
    TYPE_HEX64,
    TYPE_SID,
    TYPE_UINT8,
    TYPE_UINT16,
    TYPE_UINT32,
    TYPE_UINT64,
    TYPE_WSTRING,
    ChunkTables,
    Elem,
    Sub,
    TemplateEncoder,
    encode_guid,
    encode_sid,
    encode_wstring,
    filetime,
    template_guid,
)

FILE_HEADER_SIZE = 4096
CHUNK_SIZE = 0x10000
CHUNK_HEADER_SIZE = 512
MAX_RECORD_SIZE = CHUNK_SIZE - CHUNK_HEADER_SIZE
MAX_CHUNKS = 0xFFFF  # the file header's chunk count is 16 bits: about 4 GiB of chunks
FLAG_DIRTY = 0x1
EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"

_RECORD_HEADER = struct.Struct("<4sIQQ")
_INSTANCE = struct.Struct("<4sBBII")
# EventID, Version, Level, Task, Opcode, Keywords, TimeCreated, EventRecordID, PID, TID.
_SYSTEM = struct.Struct("<HBBHBQQQII")
_SYSTEM_TYPES = (TYPE_UINT16, TYPE_UINT8, TYPE_UINT8, TYPE_UINT16, TYPE_UINT8, TYPE_HEX64,
                 TYPE_FILETIME, TYPE_UINT64, TYPE_UINT32, TYPE_UINT32)
_WSTRING_DESCRIPTOR = TYPE_WSTRING << 16  # descriptor as a u32: size | type << 16
_SID_DESCRIPTOR = TYPE_SID << 16
_GUID_DESCRIPTOR = struct.pack("<HBB", 16, TYPE_GUID, 0)
_SYSTEM_DESCRIPTORS = b"".join(
    struct.pack("<HBB", size, vtype, 0)
    for size, vtype in zip((2, 1, 1, 2, 1, 8, 8, 8, 4, 4), _SYSTEM_TYPES, strict=True)
)


class EvtxFullError(ValueError):
    """The file has reached the format's limit of 65535 chunks: start another file."""


@dataclass(slots=True)
class EvtxRecord:
    """One event to write. ``data`` is EventData: ``(Name, value)``, name None for ``<Data>``."""

    event_id: int
    time_us: int  # UTC microseconds since the Unix epoch
    channel: str
    provider: str
    computer: str
    data: list[tuple[str | None, str]] = field(default_factory=list)
    provider_guid: str | None = None
    version: int = 0
    level: int = 0
    task: int = 0
    opcode: int = 0
    keywords: int = 0x8020000000000000
    process_id: int = 0
    thread_id: int = 0
    user_sid: str | None = None
    record_id: int | None = None  # None: the next number; larger: a gap before it


TemplateKey = tuple[bool, bool, tuple[str | None, ...]]


@lru_cache(maxsize=4096)
def _template(key: TemplateKey) -> tuple[Elem, bytes, int]:
    """The element tree of a template, its GUID and its 32-bit identifier."""
    has_guid, has_sid, names = key
    index = iter(range(1 << 16))

    def sub(vtype: int) -> Sub:
        return Sub(next(index), vtype)

    provider_attrs: list[tuple[str, str | Sub]] = [("Name", sub(TYPE_WSTRING))]
    if has_guid:
        provider_attrs.append(("Guid", sub(TYPE_GUID)))
    event_id, version, level, task, opcode, keywords, created, record_id, pid, tid = (
        sub(t) for t in _SYSTEM_TYPES)
    channel, computer = sub(TYPE_WSTRING), sub(TYPE_WSTRING)
    security = (("UserID", sub(TYPE_SID)),) if has_sid else ()
    system = Elem("System", content=(
        Elem("Provider", tuple(provider_attrs)),
        Elem("EventID", content=(event_id,)),
        Elem("Version", content=(version,)),
        Elem("Level", content=(level,)),
        Elem("Task", content=(task,)),
        Elem("Opcode", content=(opcode,)),
        Elem("Keywords", content=(keywords,)),
        Elem("TimeCreated", (("SystemTime", created),)),
        Elem("EventRecordID", content=(record_id,)),
        Elem("Correlation"),
        Elem("Execution", (("ProcessID", pid), ("ThreadID", tid))),
        Elem("Channel", content=(channel,)),
        Elem("Computer", content=(computer,)),
        Elem("Security", security),
    ))
    data = tuple(
        Elem("Data", (("Name", name),) if name is not None else (),
             (sub(TYPE_WSTRING),))
        for name in names
    )
    tree = Elem("Event", (("xmlns", EVENT_NS),), (system, Elem("EventData", content=data)))
    guid = template_guid(key)
    return tree, guid, int.from_bytes(guid[:4], "little")


def _values(record: EvtxRecord, record_id: int, ticks: int,
            texts: tuple[str, ...]) -> bytes:
    """The template instance data: value count, descriptors, then the values."""
    try:
        fixed = _SYSTEM.pack(record.event_id, record.version, record.level, record.task,
                             record.opcode, record.keywords, ticks, record_id,
                             record.process_id, record.thread_id)
    except struct.error as exc:
        raise ValueError(f"System value out of range ({exc}): event_id 0-65535, "
                         "version/level/opcode 0-255, task 0-65535, keywords 64-bit, "
                         "process_id/thread_id 32-bit") from exc
    heads = [record.provider.encode("utf-16-le"), record.channel.encode("utf-16-le"),
             record.computer.encode("utf-16-le")]
    # All Data values in one encode: they are stored back to back anyway.
    blob = "".join(texts).encode("utf-16-le")
    sizes = [2 * len(text) for text in texts]
    if len(blob) != sum(sizes):  # characters beyond the BMP take 4 bytes
        sizes = [len(text.encode("utf-16-le")) for text in texts]
    if (max(map(len, heads)) > MAX_VALUE_BYTES
            or (len(blob) > MAX_VALUE_BYTES and max(sizes) > MAX_VALUE_BYTES)):
        _check_sizes(record)
    provider, channel, computer = heads
    guid = record.provider_guid
    sid = None if record.user_sid is None else _sid(record.user_sid)
    n_strings = 2 + len(sizes)
    parts = [
        struct.pack("<II", 1 + (guid is not None) + len(_SYSTEM_TYPES) + n_strings
                    + (sid is not None), len(provider) | _WSTRING_DESCRIPTOR),
    ]
    if guid is not None:
        parts.append(_GUID_DESCRIPTOR)
    parts.append(_SYSTEM_DESCRIPTORS)
    parts.append(struct.pack("<II", len(channel) | _WSTRING_DESCRIPTOR,
                             len(computer) | _WSTRING_DESCRIPTOR))
    if sid is not None:
        parts.append(struct.pack("<I", len(sid) | _SID_DESCRIPTOR))
    if sizes:
        parts.append(struct.pack(f"<{len(sizes)}I",
                                 *[size | _WSTRING_DESCRIPTOR for size in sizes]))
    parts.append(provider)
    if guid is not None:
        parts.append(_guid(guid))
    parts += (fixed, channel, computer)
    if sid is not None:
        parts.append(sid)
    parts.append(blob)
    return b"".join(parts)


def _check_sizes(record: EvtxRecord) -> None:
    """Raise the clear error for the first value longer than a substitution can hold."""
    encode_wstring(record.provider, "provider")
    encode_wstring(record.channel, "channel")
    encode_wstring(record.computer, "computer")
    for name, text in record.data:
        encode_wstring(text, f"Data {name!r}" if name else "Data value")


_guid = lru_cache(maxsize=1024)(encode_guid)
_sid = lru_cache(maxsize=4096)(encode_sid)


class _Chunk:
    """The chunk being filled: its records and its name and template tables."""

    __slots__ = ("first_id", "last_id", "last_offset", "parts", "pos", "tables")

    def __init__(self) -> None:
        self.tables = ChunkTables()
        self.parts: list[bytes] = []
        self.pos = CHUNK_HEADER_SIZE
        self.first_id = 0
        self.last_id = 0
        self.last_offset = 0

    def add(self, key: TemplateKey, values: bytes, record_id: int, ticks: int) -> int:
        """Append a record and return its size; or, when it does not fit, change nothing
        and return minus the size it needs."""
        pos = self.pos
        known = self.tables.templates.get(key)
        encoder = None
        if known is not None:
            template_id, offset = known
            body = _INSTANCE.pack(FRAGMENT_HEADER, TOKEN_TEMPLATE_INSTANCE, 1, template_id,
                                  offset)
        else:
            tree, guid, template_id = _template(key)
            offset = pos + _RECORD_HEADER.size + _INSTANCE.size
            encoder = TemplateEncoder(self.tables, offset)
            bucket = template_id % TEMPLATE_BUCKETS
            definition = encoder.definition(tree, guid, self.tables.template_heads[bucket])
            body = _INSTANCE.pack(FRAGMENT_HEADER, TOKEN_TEMPLATE_INSTANCE, 1, template_id,
                                  offset) + definition
        # Header, BinXML, end-of-file token, then padding to 8 bytes as Windows pads.
        unpadded = _RECORD_HEADER.size + len(body) + len(values) + 1 + 4
        size = (unpadded + 7) & ~7
        if pos + size > CHUNK_SIZE:
            return -size
        self.parts.append(b"".join((
            _RECORD_HEADER.pack(b"**\0\0", size, record_id, ticks),
            body, values, bytes(1 + size - unpadded), struct.pack("<I", size),
        )))
        if encoder is not None:
            encoder.commit(self.tables)
            self.tables.templates[key] = (template_id, offset)
            self.tables.template_heads[template_id % TEMPLATE_BUCKETS] = offset
        if not self.first_id:
            self.first_id = record_id
        self.last_id = record_id
        self.last_offset = pos
        self.pos = pos + size
        return size

    def to_bytes(self) -> bytes:
        """The finished 64 KiB chunk, checksums included."""
        data = b"".join(self.parts)
        header = bytearray(CHUNK_HEADER_SIZE)
        struct.pack_into("<8sQQQQIIII", header, 0, b"ElfChnk\0",
                         self.first_id, self.last_id, self.first_id, self.last_id,
                         128, self.last_offset, self.pos, zlib.crc32(data))
        struct.pack_into("<64I", header, 128, *self.tables.string_heads)
        struct.pack_into("<32I", header, 384, *self.tables.template_heads)
        struct.pack_into("<I", header, 124, zlib.crc32(header[:120] + header[128:]))
        return bytes(header) + data + bytes(CHUNK_SIZE - self.pos)


def _file_header(chunks: int, next_id: int, flags: int) -> bytes:
    header = bytearray(FILE_HEADER_SIZE)
    struct.pack_into("<8sQQQIHHHH", header, 0, b"ElfFile\0", 0, max(chunks - 1, 0), next_id,
                     128, 1, 3, FILE_HEADER_SIZE, chunks)
    struct.pack_into("<I", header, 120, flags)
    struct.pack_into("<I", header, 124, zlib.crc32(header[:120]))
    return bytes(header)


class EvtxWriter:
    """Writes records to an EVTX file, one 64 KiB chunk in memory at a time.

    ``target`` is a path (created or truncated) or a seekable binary stream (written from
    its current position, left open). Record ids are 1, 2, 3, ... in write order. Use as a
    context manager, or call :meth:`close` to finish the file.
    """

    def __init__(self, target: str | Path | BinaryIO) -> None:
        if isinstance(target, (str, Path)):
            self._stream: BinaryIO = open(target, "wb")  # noqa: SIM115 - closed by close()
            self._owned = True
        else:
            if not target.seekable():
                raise ValueError("EvtxWriter needs a seekable stream (the file header is "
                                 "rewritten on close)")
            self._stream = target
            self._owned = False
        self._start = self._stream.tell()
        self._stream.write(_file_header(0, 1, FLAG_DIRTY))
        self._next_id = 1
        self._chunks = 0  # chunks written out
        self._chunk = _Chunk()
        self._closed = False

    def write(self, record: EvtxRecord) -> int:
        """Append one record; returns the record id it was given."""
        if self._closed:
            raise ValueError("write to a closed EvtxWriter")
        record_id = self._next_id if record.record_id is None else record.record_id
        if record_id < self._next_id:
            raise ValueError(f"record id {record_id} after {self._next_id - 1}: record ids "
                             "must increase")
        ticks = filetime(record.time_us)
        names, texts = tuple(zip(*record.data, strict=True)) or ((), ())
        values = _values(record, record_id, ticks, texts)
        key = (record.provider_guid is not None, record.user_sid is not None, names)
        if self._chunk.add(key, values, record_id, ticks) < 0:
            # Full: the record opens the next chunk (its template stored there again).
            fresh = _Chunk()
            size = fresh.add(key, values, record_id, ticks)
            if size < 0:
                raise ValueError(
                    f"record (event {record.event_id}) is too large for an EVTX chunk: "
                    f"{-size} bytes with its template, at most {MAX_RECORD_SIZE} fit")
            if self._chunks + 2 > MAX_CHUNKS:
                raise EvtxFullError(f"EVTX file is full: {MAX_CHUNKS} chunks is the format's "
                                    "limit; write the remaining records to another file")
            self._stream.write(self._chunk.to_bytes())
            self._chunks += 1
            self._chunk = fresh
        self._next_id = record_id + 1
        return record_id

    def close(self) -> None:
        """Finish the last chunk and write the final (clean) file header."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._chunk.parts:
                self._stream.write(self._chunk.to_bytes())
                self._chunks += 1
            end = self._stream.tell()
            self._stream.seek(self._start)
            self._stream.write(_file_header(self._chunks, self._next_id, 0))
            self._stream.seek(end)
            self._stream.flush()
        finally:
            if self._owned:
                self._stream.close()

    def __enter__(self) -> EvtxWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
