"""Binary XML (BinXML) encoding for EVTX event records.

Written from the public description of the format (libyal/libevtx, "Windows XML Event
Log (EVTX) format"). Only what a writer needs is here: value encodings (strings, GUIDs,
SIDs, FILETIMEs), the name hash, and the encoder of template definitions.

Names (element and attribute names) live in the chunk: the first use of a name in a
chunk stores it inline, right after its 4-byte offset field; later uses in the same
chunk store only the offset. Every stored name is also linked into the chunk header's
64 hash buckets (bucket = hash % 64, newest first), as Windows does.
"""

from __future__ import annotations

import hashlib
import re
import struct
import uuid
from dataclasses import dataclass, field

# Tokens.
TOKEN_EOF = 0x00
TOKEN_OPEN_START = 0x01
TOKEN_CLOSE_START = 0x02
TOKEN_CLOSE_EMPTY = 0x03
TOKEN_END_ELEMENT = 0x04
TOKEN_VALUE = 0x05
TOKEN_ATTRIBUTE = 0x06
TOKEN_TEMPLATE_INSTANCE = 0x0C
TOKEN_NORMAL_SUBSTITUTION = 0x0D
FLAG_MORE = 0x40  # open start: "has attributes"; attribute: "another follows"
FRAGMENT_HEADER = b"\x0f\x01\x01\x00"  # token, major 1, minor 1, flags 0
NO_DEPENDENCY = 0xFFFF

# Value types.
TYPE_NULL = 0x00
TYPE_WSTRING = 0x01
TYPE_UINT8 = 0x04
TYPE_UINT16 = 0x06
TYPE_UINT32 = 0x08
TYPE_UINT64 = 0x0A
TYPE_GUID = 0x0F
TYPE_FILETIME = 0x11
TYPE_SID = 0x13
TYPE_HEX64 = 0x15

STRING_BUCKETS = 64
TEMPLATE_BUCKETS = 32
MAX_VALUE_BYTES = 0xFFFF  # a substitution value's size is a 16-bit field

_FILETIME_UNIX_EPOCH = 116_444_736_000_000_000  # 1970-01-01 in 100 ns ticks since 1601
_SID = re.compile(r"S-1-(\d+)((?:-\d+)*)", re.IGNORECASE)


def name_hash(name: str) -> int:
    """The 16-bit hash of a name: h = h * 65599 + code unit, over UTF-16 code units."""
    h = 0
    data = name.encode("utf-16-le")
    for (unit,) in struct.iter_unpack("<H", data):
        h = (h * 65599 + unit) & 0xFFFFFFFF
    return h & 0xFFFF


def filetime(time_us: int) -> int:
    """UTC microseconds since the Unix epoch as a FILETIME (100 ns ticks since 1601)."""
    ticks = time_us * 10 + _FILETIME_UNIX_EPOCH
    if not 0 <= ticks < 1 << 64:
        raise ValueError(f"time_us {time_us} is outside the FILETIME range")
    return ticks


def encode_guid(text: str) -> bytes:
    """A ``{xxxxxxxx-...}`` GUID in its on-disk (mixed-endian) 16 bytes."""
    try:
        return uuid.UUID(text).bytes_le
    except ValueError as exc:
        raise ValueError(f"not a GUID: {text!r}") from exc


def encode_sid(text: str) -> bytes:
    """A ``S-1-5-21-...`` security identifier in its binary form."""
    m = _SID.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"not a SID: {text!r}")
    authority = int(m.group(1))
    subs = [int(s) for s in m.group(2).split("-")[1:]]
    if authority >= 1 << 48 or len(subs) > 15 or any(s >= 1 << 32 for s in subs):
        raise ValueError(f"SID out of range: {text!r}")
    return (bytes((1, len(subs))) + authority.to_bytes(6, "big")
            + struct.pack(f"<{len(subs)}I", *subs))


def encode_wstring(text: str, what: str = "value") -> bytes:
    """A substitution string: UTF-16LE, no terminator, at most 65535 bytes."""
    data = text.encode("utf-16-le")
    if len(data) > MAX_VALUE_BYTES:
        raise ValueError(f"{what} is too long for EVTX: {len(text)} characters "
                         f"({len(data)} bytes UTF-16; at most {MAX_VALUE_BYTES} bytes)")
    return data


def template_guid(key: object) -> bytes:
    """A deterministic template identifier (16 bytes) derived from the template's shape."""
    return hashlib.blake2b(repr(key).encode("utf-8"), digest_size=16).digest()


# --- template shape ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sub:
    """A substitution: the template value at ``index``, of value type ``vtype``."""

    index: int
    vtype: int


Value = str | Sub


@dataclass(frozen=True, slots=True)
class Elem:
    """A template element: name, attributes and content (child elements or one value)."""

    name: str
    attrs: tuple[tuple[str, Value], ...] = ()
    content: tuple[Elem | Value, ...] = ()


# --- names and templates of one chunk --------------------------------------------------------


@dataclass(slots=True)
class ChunkTables:
    """The names and template definitions already stored in one chunk, with their buckets."""

    names: dict[str, int] = field(default_factory=dict)
    string_heads: list[int] = field(default_factory=lambda: [0] * STRING_BUCKETS)
    templates: dict[object, tuple[int, int]] = field(default_factory=dict)  # key -> (id, off)
    template_heads: list[int] = field(default_factory=lambda: [0] * TEMPLATE_BUCKETS)


class TemplateEncoder:
    """Encodes one template definition at a known chunk offset, against a chunk's tables.

    The tables are copied: nothing changes in the chunk until :meth:`commit` (a record that
    turns out not to fit is encoded again in the next chunk).
    """

    __slots__ = ("_base", "_heads", "_names", "out")

    def __init__(self, tables: ChunkTables, base: int) -> None:
        self.out = bytearray()
        self._base = base
        self._names = dict(tables.names)
        self._heads = list(tables.string_heads)

    def definition(self, tree: Elem, guid: bytes, next_offset: int) -> bytes:
        """Template definition: next offset, GUID, data size, then the fragment."""
        self.out = bytearray(struct.pack("<I", next_offset) + guid + b"\0\0\0\0")
        self.out += FRAGMENT_HEADER
        self._element(tree)
        self.out.append(TOKEN_EOF)
        struct.pack_into("<I", self.out, 20, len(self.out) - 24)
        return bytes(self.out)

    def commit(self, tables: ChunkTables) -> None:
        """Record the names this definition stored in the chunk's tables."""
        tables.names = self._names
        tables.string_heads = self._heads

    def _name(self, name: str) -> None:
        known = self._names.get(name)
        if known is not None:
            self.out += struct.pack("<I", known)
            return
        here = self._base + len(self.out) + 4
        h = name_hash(name)
        bucket = h % STRING_BUCKETS
        data = name.encode("utf-16-le")
        if len(data) > MAX_VALUE_BYTES:
            raise ValueError(f"name too long for EVTX: {name[:40]!r}...")
        self.out += struct.pack("<IIHH", here, self._heads[bucket], h, len(data) // 2)
        self.out += data + b"\0\0"
        self._names[name] = here
        self._heads[bucket] = here

    def _value(self, value: Value) -> None:
        if isinstance(value, Sub):
            self.out += struct.pack("<BHB", TOKEN_NORMAL_SUBSTITUTION, value.index, value.vtype)
        else:
            data = encode_wstring(value, "template text")
            self.out += struct.pack("<BBH", TOKEN_VALUE, TYPE_WSTRING, len(data) // 2) + data

    def _element(self, elem: Elem) -> None:
        out = self.out
        start = len(out)
        token = TOKEN_OPEN_START | (FLAG_MORE if elem.attrs else 0)
        out += struct.pack("<BHI", token, NO_DEPENDENCY, 0)  # data size patched below
        self._name(elem.name)
        if elem.attrs:
            size_at = len(out)
            out += b"\0\0\0\0"
            last = len(elem.attrs) - 1
            for i, (name, value) in enumerate(elem.attrs):
                out.append(TOKEN_ATTRIBUTE | (FLAG_MORE if i < last else 0))
                self._name(name)
                self._value(value)
            struct.pack_into("<I", out, size_at, len(out) - size_at - 4)
        if elem.content:
            out.append(TOKEN_CLOSE_START)
            for child in elem.content:
                if isinstance(child, Elem):
                    self._element(child)
                else:
                    self._value(child)
            out.append(TOKEN_END_ELEMENT)
        else:
            out.append(TOKEN_CLOSE_EMPTY)
        # Data size: everything after the token, dependency id and the size field itself.
        struct.pack_into("<I", out, start + 3, len(out) - start - 7)
