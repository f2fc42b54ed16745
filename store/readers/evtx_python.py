"""EVTX through python-evtx: the reference parser and the fallback.

python-evtx parses BinXML; we walk its node tree ourselves into light elements rather
than rendering XML text, because its XML rendering drops control characters from values
(and log text must be stored exactly). Every chunk slot in the file is read, whatever
the file header's chunk count says: logs copied from a live system are dirty.
"""

from __future__ import annotations

import logging
import re
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import Evtx.Evtx as e_evtx
import Evtx.Nodes as e_nodes

from proctrail.store.events import Event, Skip
from proctrail.store.readers.base import ReaderError, RecordStream, real_time
from proctrail.store.readers.evtx_checks import (
    CHUNK_MAGIC,
    CHUNK_SIZE,
    RECORD_HEADER,
    RECORD_MAGIC,
    chunk_damage,
)
from proctrail.store.readers.winevent import event_from_element

# python-evtx logs warnings about odd template tables it then handles: not ours to print.
logging.getLogger("Evtx").addHandler(logging.NullHandler())
logging.getLogger("Evtx").propagate = False

FILE_MAGIC = b"ElfFile\x00"
_ZERO_CHUNK = bytes(CHUNK_SIZE)
_FILETIME_EPOCH_US = 11_644_473_600_000_000


class LightElement:
    """The little of an XML element that the normalizer reads."""

    __slots__ = ("attrib", "children", "tag", "tail", "text")

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.attrib: dict[str, str] = {}
        self.children: list[LightElement] = []
        self.text: str | None = None
        self.tail: str | None = None

    def __iter__(self) -> Iterator[LightElement]:
        return iter(self.children)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def utf16_text(data: bytes) -> str:
    """UTF-16LE as the Rust parser reads it: an unpaired surrogate, which is no character,
    is dropped (both parsers store the same text; the rest of the value is kept)."""
    return _LONE_SURROGATE.sub("", data.decode("utf-16-le", "surrogatepass"))


def _wstring(node: Any) -> str:
    try:
        return node.string()
    except UnicodeDecodeError:  # an unpaired surrogate: python-evtx refuses the record
        prefixed = hasattr(node, "string_length")  # else the length came from the template
        size = 2 * node.string_length() if prefixed else node.tag_length()
        return utf16_text(node.unpack_binary(2 if prefixed else 0, size)).rstrip("\x00")


def _value_text(node: Any) -> str:
    """A substitution value as text, spelled as the Rust parser and Windows spell it."""
    if isinstance(node, e_nodes.WstringTypeNode):
        return _wstring(node)
    if isinstance(node, e_nodes.BooleanTypeNode):
        return "true" if node.int32() > 0 else "false"
    if isinstance(node, e_nodes.GuidTypeNode):
        return node.guid().upper()
    if isinstance(node, (e_nodes.Hex32TypeNode, e_nodes.Hex64TypeNode)):
        return hex(int.from_bytes(node.hex(), "little"))
    if isinstance(node, e_nodes.FiletimeTypeNode):
        return _filetime_iso(node.unpack_qword(0))
    if isinstance(node, e_nodes.SizeTypeNode):
        return hex(node.num())
    if isinstance(node, e_nodes.SystemtimeTypeNode):
        return _iso(node.systemtime())
    if isinstance(node, e_nodes.BinaryTypeNode):
        return node.binary().hex().upper()
    if isinstance(node, e_nodes.NullTypeNode):
        return ""
    return node.string()


def _filetime_us(ticks: int) -> int:
    """FILETIME (100 ns ticks since 1601) to Unix microseconds, in integers."""
    return ticks // 10 - _FILETIME_EPOCH_US


def _filetime_iso(ticks: int) -> str:
    us = _filetime_us(ticks)
    dt = datetime(1970, 1, 1) + timedelta(microseconds=us)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _array_items(node: Any) -> list[str]:
    """The strings of a string-array substitution (NUL-separated UTF-16)."""
    raw = utf16_text(node.binary())
    items = raw.split("\x00")
    if items and items[-1] == "":
        items.pop()
    return items


def _iso(dt: Any) -> str:
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _append_text(parent: LightElement, text: str) -> None:
    if parent.children:
        last = parent.children[-1]
        last.tail = (last.tail or "") + text
    else:
        parent.text = (parent.text or "") + text


def _render(root: Any, parent: LightElement) -> None:
    """Walk a BinXML root node (template + substitutions) into ``parent``."""
    subs = root.substitutions()

    def walk(node: Any, into: LightElement) -> None:
        if isinstance(node, e_nodes.OpenStartElementNode):
            elem = LightElement(node.tag_name())
            for child in node.children():
                if isinstance(child, e_nodes.AttributeNode):
                    holder = LightElement("")
                    walk(child.attribute_value(), holder)
                    elem.attrib[child.attribute_name().string()] = holder.text or ""
            content = [c for c in node.children() if not isinstance(c, e_nodes.AttributeNode)]
            array = _array_substitution(content, subs)
            if array is not None:
                # An array fills one element per item, as Windows renders it.
                for item in _array_items(array):
                    copy = LightElement(elem.tag)
                    copy.attrib = dict(elem.attrib)
                    copy.text = item
                    into.children.append(copy)
                return
            for child in content:
                walk(child, elem)
            into.children.append(elem)
        elif isinstance(node, e_nodes.ValueNode):
            _append_text(into, _value_text(node.children()[0]))
        elif isinstance(node, e_nodes.CDataSectionNode):
            _append_text(into, node.cdata())
        elif isinstance(node, e_nodes.CharacterReferenceNode):
            _append_text(into, chr(node.entity()))
        elif isinstance(node, (e_nodes.NormalSubstitutionNode,
                               e_nodes.ConditionalSubstitutionNode)):
            sub = subs[node.index()]
            if isinstance(sub, e_nodes.BXmlTypeNode):
                _render(sub.root(), into)
            else:
                _append_text(into, _value_text(sub))

    for child in root.template().children():
        walk(child, parent)


def _array_substitution(content: list[Any], subs: list[Any]) -> Any | None:
    for child in content:
        if isinstance(child, (e_nodes.NormalSubstitutionNode,
                              e_nodes.ConditionalSubstitutionNode)):
            sub = subs[child.index()]
            if isinstance(sub, e_nodes.WstringArrayTypeNode):
                return sub
    return None


def record_element(record: Any) -> LightElement:
    """The ``<Event>`` element of one python-evtx record."""
    holder = LightElement("")
    _render(record.root(), holder)
    for child in holder.children:
        if child.tag.rsplit("}", 1)[-1] == "Event":
            return child
    raise ValueError("record has no <Event> element")


class _Chunk(e_evtx.ChunkHeader):  # type: ignore[misc]
    """A chunk whose string and template tables are each walked once: python-evtx follows
    a table's chain of offsets for ever when damage makes it loop back."""

    def _load_strings(self) -> None:
        if self._strings is None:
            self._strings = {}
        for i in range(64):
            ofs = self.unpack_dword(0x80 + i * 4)
            seen = set()
            while ofs > 0 and ofs not in seen:
                seen.add(ofs)
                ofs = self.add_string(ofs).next_offset()

    def _load_templates(self) -> None:
        if self._templates is None:
            self._templates = {}
        for i in range(32):
            ofs = self.unpack_dword(0x180 + i * 4)
            seen = set()
            # A template is preceded by the instance that defines it (token 0x0c, offset).
            while ofs > 0 and ofs not in seen and self.unpack_byte(ofs - 10) == 0x0C \
                    and self.unpack_dword(ofs - 4) == ofs:
                seen.add(ofs)
                ofs = self.add_template(ofs).next_offset()


def _records_in_chunk(buf: Any, offset: int, chunk: Any) -> Iterator[Any | Skip]:
    """Records of one chunk, each header checked; a bad header ends the chunk, counted."""
    end = offset + min(max(chunk.next_record_offset(), 0x200), CHUNK_SIZE)
    pos = offset + 0x200
    while pos + RECORD_HEADER <= end:
        magic, size = struct.unpack_from("<II", buf, pos)
        if magic != RECORD_MAGIC:
            if magic == 0 and size == 0:
                return
            yield Skip("bad record header", f"chunk at {offset:#x}: record magic {magic:#x}")
            return
        if size < RECORD_HEADER + 4 or pos + size > offset + CHUNK_SIZE:
            yield Skip("bad record size", f"chunk at {offset:#x}: record size {size}")
            return
        yield e_evtx.Record(buf, pos, chunk)
        pos += size


def check_layout(stream: IO[bytes], size: int, name: str) -> int:
    """The file header's size, after checking there is a header and some chunk data."""
    here = stream.tell()
    head = stream.read(4096)
    stream.seek(here)
    if len(head) < 4096 or head[:8] != FILE_MAGIC:
        raise ReaderError(name, "not an EVTX file (bad or truncated file header)")
    header_size = struct.unpack_from("<H", head, 40)[0] or 4096
    if size <= header_size or not any(_peek(stream, header_size, 512)):
        raise ReaderError(name, "truncated EVTX: nothing after the file header")
    return header_size


def _peek(stream: IO[bytes], offset: int, n: int) -> bytes:
    here = stream.tell()
    stream.seek(offset)
    data = stream.read(n)
    stream.seek(here)
    return data


def read_partial_tail(data: bytes, offset: int) -> RecordStream:
    """Records of a chunk cut short by a truncated file: complete ones kept, the cut counted.

    The chunk is padded to full size so python-evtx can walk it; a record reaching past
    the cut is not trusted.
    """
    if data[:8] != CHUNK_MAGIC:
        if any(data):
            yield Skip("truncated chunk", f"{len(data)} bytes at {offset:#x} after the last chunk")
        return
    padded = data + bytes(CHUNK_SIZE - len(data))
    chunk = _Chunk(padded, 0)
    for item in _records_in_chunk(padded, 0, chunk):
        if isinstance(item, Skip):
            yield item
            return
        if item.offset() + item.size() > len(data):
            yield Skip("truncated chunk", f"file ends inside record {_safe_num(item)}")
            return
        yield _record_event(item)


def read_evtx_python(stream: IO[bytes], name: str) -> RecordStream:
    """Events of an EVTX stream through python-evtx, one 64 KiB chunk in memory at a time;
    before a chunk's records, its :class:`Damage` if its checksums or framing fail."""
    size = stream.seek(0, 2)
    stream.seek(0)
    header_size = check_layout(stream, size, name)
    stream.seek(header_size)
    index = 0
    while True:
        offset = stream.tell()
        data = stream.read(CHUNK_SIZE)
        if len(data) < CHUNK_SIZE:
            if data:
                yield from read_partial_tail(data, offset)
            return
        if data[:8] != CHUNK_MAGIC:
            if data != _ZERO_CHUNK:
                yield Skip("bad chunk header", f"chunk {index}: magic {data[:8]!r}")
        else:
            damage = chunk_damage(data, index, offset)
            if damage is not None:
                yield damage
            chunk = _Chunk(data, 0)
            for item in _records_in_chunk(data, 0, chunk):
                yield item if isinstance(item, Skip) else _record_event(item)
        index += 1


def _record_event(record: Any) -> Event | Skip:
    try:
        event = event_from_element(record_element(record))
    except UnicodeDecodeError as exc:
        return Skip("invalid UTF-16", f"record {record.record_num()}: {exc}")
    except Exception as exc:  # python-evtx raises many types on damaged BinXML
        return Skip("unparseable record", f"record {_safe_num(record)}: {exc!r}"[:300])
    if event.ts_us is None:
        try:
            event.ts_us = real_time(_filetime_us(record.unpack_qword(0x10)))
        except (ValueError, OverflowError, struct.error):
            event.ts_us = None
    return event


def _safe_num(record: Any) -> str:
    try:
        return str(record.record_num())
    except Exception:
        return "?"


def open_evtx_python(stream: IO[bytes], name: str) -> RecordStream:
    """Events of an EVTX file or seekable stream through python-evtx."""
    return read_evtx_python(stream, name)
