"""Mutations of the seeds as hypothesis strategies: byte-level ones (flips, cuts,
deletion, insertion, duplication, splicing, integers) and structure-aware ones (EVTX header,
table and substitution fields; hostile snippets at text tokens), and archives of mutants."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import io
import os
import re
import struct
import zipfile
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.fuzz.seeds import OWN_ALL, seed_bytes, seed_format
from tests.fuzz.snippets import (
    AUDIT_LINES,
    AUDIT_STAMPS,
    AUDIT_VALUES,
    CANARY,
    JSON_PUNCT,
    JSON_VALUES,
    XML_MARKUP,
    XML_TEXT,
)

LONG_RUN = int(os.environ.get("PROCTRAIL_FUZZ_EXAMPLES", "0") or 0)
MAX_INPUT = 2 << 20  # mutated inputs are cut to this size
MAX_INPUT_PYTHON_EVTX = 320 << 10  # python-evtx reads ~200 records/s: a few chunks at most


def fuzz(examples: int) -> Callable[[Any], Any]:
    """Hypothesis settings: ``examples`` derandomized, or PROCTRAIL_FUZZ_EXAMPLES random."""
    return settings(
        max_examples=LONG_RUN or examples,
        deadline=None,
        derandomize=not LONG_RUN,
        database=None,
        print_blob=bool(LONG_RUN),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.large_base_example,
                               HealthCheck.function_scoped_fixture],
    )


INTERESTING = [0, 1, 2, 3, 4, 7, 8, 15, 16, 0x1F, 0x20, 0x21, 0x7F, 0x80, 0xFF, 0x100, 0x1FF,
               0x200, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF, 0x10000, 0xFFFFF, 0x7FFFFFFF, 0x80000000,
               0xFFFFFFFE, 0xFFFFFFFF, 2**63 - 1, 2**63, 2**64 - 1]

int_values = st.one_of(st.sampled_from(INTERESTING), st.integers(0, 2**64 - 1),
                       st.tuples(st.just("delta"), st.integers(-600, 600)))


def generic_op(n: int) -> st.SearchStrategy[tuple[Any, ...]]:
    """A byte-level mutation of an input of ``n`` bytes (positions drawn in it)."""
    at = st.integers(0, n)
    span = st.integers(1, max(1, n))
    return st.one_of(
        st.tuples(st.just("flip"), at, st.integers(0, 7)),
        st.tuples(st.just("byte"), at, st.integers(0, 255)),
        st.tuples(st.just("truncate"), at),
        st.tuples(st.just("delete"), at, span),
        st.tuples(st.just("insert"), at, st.binary(min_size=1, max_size=48)),
        st.tuples(st.just("duplicate"), at, span),
        st.tuples(st.just("splice"), at, at, span),
        st.tuples(st.just("int"), at, st.sampled_from([1, 2, 4, 8]), int_values),
    )


def _int_value(value: Any, old: int, width: int) -> int:
    if isinstance(value, tuple):
        value = old + value[1]
    return value % (1 << (8 * width))


def apply_generic(data: bytes, op: tuple[Any, ...]) -> bytes:
    """One byte-level mutation: flip a bit, set a byte or a little-endian integer, cut the
    input, delete, insert, duplicate or copy over (splice) a region."""
    kind, n = op[0], len(data)
    at = min(op[1], n)
    if kind == "flip":
        if n == 0:
            return data
        at = min(at, n - 1)
        return data[:at] + bytes([data[at] ^ (1 << op[2])]) + data[at + 1:]
    if kind == "byte":
        return data[:at] + bytes([op[2]]) + data[at + 1:]
    if kind == "truncate":
        return data[:at]
    if kind == "delete":
        return data[:at] + data[at + op[2]:]
    if kind == "insert":
        return data[:at] + op[2] + data[at:]
    if kind == "duplicate":
        return data[:at] + data[at:at + op[2]] + data[at:]
    if kind == "splice":
        region = data[at:at + op[3]]
        dst = min(op[2], n)
        return data[:dst] + region + data[dst + len(region):]
    if kind == "int":
        width = op[2]
        old = int.from_bytes(data[at:at + width].ljust(width, b"\0"), "little")
        return data[:at] + _int_value(op[3], old, width).to_bytes(width, "little") \
            + data[at + width:]
    raise AssertionError(kind)


# EVTX: the layout's integer fields, as (offset, width) in a seed.
_FILE_FIELDS = [(8, 8), (16, 8), (24, 8), (32, 4), (36, 2), (38, 2), (40, 2), (42, 2),
                (120, 4), (124, 4)]
_CHUNK_FIELDS = [(0, 8), (8, 8), (16, 8), (24, 8), (32, 8), (40, 4), (44, 4), (48, 4),
                 (52, 4), (120, 4), (124, 4)]


@functools.cache
def evtx_targets(name: str) -> tuple[tuple[int, int], ...]:
    """Integer fields of an EVTX seed worth corrupting: file and chunk headers, string and
    template tables, name string lengths, template sizes and offsets, record sizes, and
    every substitution value's size and type."""
    data = seed_bytes(name)
    out = list(_FILE_FIELDS)
    u32 = lambda pos: struct.unpack_from("<I", data, pos)[0]  # noqa: E731
    for chunk in range(4096, len(data) - 0x10000 + 1, 0x10000):
        if data[chunk:chunk + 8] != b"ElfChnk\0":
            continue
        out += [(chunk + o, w) for o, w in _CHUNK_FIELDS]
        for slot in range(64):
            entry = chunk + 0x80 + 4 * slot
            out.append((entry, 4))
            if 0 < u32(entry) < 0xFFF8:
                out += [(chunk + u32(entry) + 4, 2), (chunk + u32(entry) + 6, 2)]
        for slot in range(32):
            entry = chunk + 0x180 + 4 * slot
            out.append((entry, 4))
            if 0 < u32(entry) < 0xFFE0:
                out += [(chunk + u32(entry), 4), (chunk + u32(entry) + 20, 4)]
        pos = chunk + 0x200
        while pos + 24 <= chunk + 0x10000 and u32(pos) == 0x2A2A:
            size = u32(pos + 4)
            if size < 28:
                break
            out += [(pos + 4, 4), (pos + 8, 8), (pos + 16, 8), (pos + size - 4, 4)]
            inst = pos + 24 + 4  # the fragment header, then a template instance
            if data[inst] == 0x0C:
                out += [(inst + 2, 4), (inst + 6, 4)]
                offset = u32(inst + 6)
                subs = inst + 10
                if chunk + offset == subs:  # the template is defined here
                    out.append((subs + 20, 4))
                    subs += 24 + u32(subs + 20)
                if subs + 4 <= pos + size:
                    count = min(u32(subs), 64)
                    out.append((subs, 4))
                    for i in range(count):
                        out += [(subs + 4 + 4 * i, 2), (subs + 6 + 4 * i, 1)]
            pos += size
    return tuple(t for t in out if t[0] + t[1] <= len(data))


# Where text seeds are mutated: spans of each kind of token, found by a pattern (its group
# 1 where it has one), and the snippets that go there.
_TARGETS: dict[str, dict[str, tuple[re.Pattern[bytes], list[bytes]]]] = {
    "xml": {"tag": (re.compile(rb"<[^<>]*>"), XML_MARKUP),
            "text": (re.compile(rb">([^<>]+)<"), XML_TEXT),
            "attr": (re.compile(rb"""=['"]([^'"]*)['"]"""), XML_TEXT)},
    "jsonl": {"value": (re.compile(rb'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?'),
                        JSON_VALUES),
              "punct": (re.compile(rb"[:,\n]"), JSON_PUNCT)},
    "auditd": {"stamp": (re.compile(rb"audit\(([^)]*)\)"), AUDIT_STAMPS),
               "value": (re.compile(rb"=(\S*)"), AUDIT_VALUES),
               "line": (re.compile(rb"^()", re.M), AUDIT_LINES)},
}
_TARGETS["sysmon-syslog"] = dict(
    _TARGETS["xml"], line=(re.compile(rb"^()", re.M), [b"\n", b"x sysmon: ", b"<Event>\n",
                                                       b"x" * 3000 + b"\n"]))


@functools.cache
def text_targets(name: str, fmt: str) -> dict[str, tuple[tuple[int, int], ...]]:
    """The token spans of a text seed, by kind (each kind's first 20,000)."""
    data = seed_bytes(name)
    out = {}
    for kind, (pattern, _) in _TARGETS[fmt].items():
        spans = tuple(m.span(1 if pattern.groups else 0)
                      for _, m in zip(range(20_000), pattern.finditer(data), strict=False))
        if spans:
            out[kind] = spans
    return out or {"line": ((0, 0),)}


MODES = ("replace", "before", "after")


def structure_op(name: str, fmt: str) -> st.SearchStrategy[tuple[Any, ...]]:
    """A structure-aware mutation of the seed ``name``: one of its EVTX fields set to a
    value, or one of its text tokens replaced by (or given before or after it) a snippet
    made for that kind of token."""
    if fmt == "evtx":
        return st.tuples(st.just("field"), st.integers(0, max(len(evtx_targets(name)) - 1, 0)),
                         int_values)
    targets = text_targets(name, fmt)
    snippets = {k: v[1] for k, v in _TARGETS[fmt].items()}
    snippets.setdefault("line", [b"\n"])
    return st.sampled_from(sorted(targets)).flatmap(lambda kind: st.tuples(
        st.just("token"), st.just(kind), st.integers(0, len(targets[kind]) - 1),
        st.sampled_from(MODES), st.integers(0, len(snippets[kind]) - 1)))


def apply_structure(data: bytes, fmt: str, name: str, ops: Iterable[tuple[Any, ...]]) -> bytes:
    """The structure-aware mutations of a seed, from the end of the seed backwards so each
    op's span is still where the seed had it."""
    ops = list(ops)
    if not ops:
        return data
    if fmt == "evtx":
        targets = evtx_targets(name)
        buf = bytearray(data)
        for _, index, value in ops:
            pos, width = targets[index]
            old = int.from_bytes(buf[pos:pos + width], "little")
            buf[pos:pos + width] = _int_value(value, old, width).to_bytes(width, "little")
        return bytes(buf)
    spans = text_targets(name, fmt)
    snippets = {k: v[1] for k, v in _TARGETS[fmt].items()}
    snippets.setdefault("line", [b"\n"])
    chosen = sorted(((spans[kind][index], mode, snippets[kind][pick])
                     for _, kind, index, mode, pick in ops), key=lambda c: c[0], reverse=True)
    for (start, end), mode, snippet in chosen:
        snippet = snippet.replace(b"CANARY", str(CANARY).encode())
        if mode == "replace":
            data = data[:start] + snippet + data[end:]
        elif mode == "before":
            data = data[:start] + snippet + data[start:]
        else:
            data = data[:end] + snippet + data[end:]
    return data


@dataclasses.dataclass(frozen=True, repr=False)
class Mutant:
    """A mutated seed: which seed, the mutations (as hypothesis reports it), the bytes."""

    seed: str
    ops: tuple[tuple[Any, ...], ...]
    data: bytes
    filename: str = "input.log"

    def __repr__(self) -> str:
        ops = ", ".join(repr(op)[:200] for op in self.ops)
        return f"Mutant({self.seed!r}, ops=({ops}), {len(self.data)} bytes)"


def draw_generic(draw: Callable[..., Any], data: bytes, limit: int, max_ops: int = 4
                 ) -> tuple[bytes, list[tuple[Any, ...]]]:
    """Up to ``max_ops`` byte-level mutations, each drawn against the input as it is then."""
    ops = []
    for _ in range(draw(st.integers(0, max_ops))):
        op = draw(generic_op(len(data)))
        data = apply_generic(data, op)[:limit]
        ops.append(op)
    return data, ops


@st.composite
def mutants(draw: Callable[..., Any], names: list[str], fmt: str | None = None,
            limit: int = MAX_INPUT) -> Mutant:
    """A seed of ``names`` with up to 4 structure-aware, then up to 4 byte-level mutations."""
    name = draw(st.sampled_from(names))
    kind = fmt or seed_format(name)
    structural = []
    if kind == "evtx" or kind in _TARGETS:  # a zip: its bytes only
        structural = draw(st.lists(structure_op(name, kind), max_size=4))
    data = apply_structure(seed_bytes(name), kind, name, structural)[:limit]
    data, generic = draw_generic(draw, data, limit)
    return Mutant(name, tuple(structural + generic), data)


OFFSETS = st.sampled_from([None, timedelta(hours=14), timedelta(hours=-12),
                           timedelta(minutes=-30)])


def make_zip(members: list[tuple[str, bytes]], method: int) -> bytes:
    """A zip of ``members`` (name, bytes), each compressed with ``method``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 2, 9, 0, 0))
            info.compress_type = method
            archive.writestr(info, data)
    return buf.getvalue()


@st.composite
def archives(draw: Callable[..., Any]) -> Mutant:
    """One to three mutated seeds of any format, in a zip (deflated or stored) or a gz or
    as they are, the archive itself then mutated."""
    members = draw(st.lists(mutants(OWN_ALL, None, 256 << 10), min_size=1, max_size=3))
    kind = draw(st.sampled_from(["zip", "zip-stored", "gz", "plain"]))
    if kind == "plain":
        data, filename = members[0].data, "input.log"
    elif kind == "gz":
        data, filename = gzip.compress(members[0].data, mtime=0), "input.log.gz"
    else:
        method = zipfile.ZIP_STORED if kind == "zip-stored" else zipfile.ZIP_DEFLATED
        data = make_zip([(f"logs/{i}-{m.seed}", m.data) for i, m in enumerate(members)], method)
        filename = "input.zip"
    data, outer = draw_generic(draw, data, MAX_INPUT, max_ops=3)
    return Mutant(f"{kind}: " + ", ".join(m.seed for m in members),
                  (*(op for m in members for op in m.ops), ("archive",), *outer),
                  data, filename)
