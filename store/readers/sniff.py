"""Finding inputs (files, folders, archive members) and detecting their format by content,
by the registry of formats (:data:`proctrail.store.readers.FORMATS`)."""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import stat
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from proctrail.store.readers import FORMATS
from proctrail.store.readers.base import Format, ReaderError, ReadOptions, RecordStream

HEAD = 64 * 1024
# An EVTX archive member is read into memory up to this size, into an anonymous temporary
# file beyond it (a zip bomb must not exhaust memory).
EVTX_IN_MEMORY = 64 << 20
MEMBER_RATIO = 250  # EVTX compresses 10-50 times; a zip bomb thousands
MEMBER_MAX = 8 << 30
# What damaged archive data raises while it is opened or decompressed.
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError,
                   NotImplementedError, ValueError, struct.error)


@dataclass(frozen=True)
class Input:
    """One readable thing: a plain file, or a member of a zip or gzip archive."""

    path: str
    member: str = ""
    size: int = 0
    kind: str = "file"  # file | zip | gzip
    packed: int = 0  # an archive member's compressed size

    @property
    def name(self) -> str:
        """How messages name it: ``archive.zip!member`` for archive members."""
        return f"{self.path}!{self.member}" if self.member else self.path

    def open(self) -> IO[bytes]:
        """A binary stream over the content (archive members are decompressed as read).

        Damage in an archive, when it is opened or as it is read, is a :class:`ReaderError`.
        """
        if self.kind == "file":
            return open(self.path, "rb")
        archive = None
        try:
            if self.kind == "zip":
                archive = zipfile.ZipFile(self.path)
                inner: IO[bytes] = archive.open(self.member)
            else:
                inner = _Gunzip(open(self.path, "rb"))  # noqa: SIM115 - closed with it
        except _ARCHIVE_ERRORS as exc:
            if archive is not None:
                archive.close()
            raise ReaderError(self.name, f"damaged archive member ({exc})") from exc
        return io.BufferedReader(_Member(inner, self.name, archive), HEAD)

    def sha256(self) -> str:
        """SHA-256 of the (decompressed) content."""
        with self.open() as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()


class _Gunzip(io.RawIOBase):
    """A gzip file decompressed as read (every member of it), that ends where the bytes
    end: a copy cut short gives all it holds, and says so (:attr:`truncated`)."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._pending = b""
        self._started = False
        self.truncated = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        want = size if size and size > 0 else 1 << 20
        while len(self._pending) < want:
            chunk = self._z.unconsumed_tail or self._raw.read(1 << 16)
            if not chunk:
                if self._started and not self._z.eof:
                    self.truncated = True  # the bytes ended inside a member
                break
            self._started = True
            self._pending += self._z.decompress(chunk, want)
            if self._z.eof:
                rest = self._z.unused_data
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._started = False
                if rest.strip(b"\x00"):  # another member follows (zeros: padding)
                    self._started = True
                    self._pending += self._z.decompress(rest, want)
        out, self._pending = self._pending[:want], self._pending[want:]
        return out

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _Member(io.RawIOBase):
    """An archive member's decompressing stream: damage read is a :class:`ReaderError`
    naming the member; closing it closes its archive."""

    def __init__(self, inner: IO[bytes], name: str, archive: zipfile.ZipFile | None) -> None:
        super().__init__()
        self._inner = inner
        self._name = name
        self._archive = archive

    def readable(self) -> bool:
        return True

    @property
    def truncated(self) -> bool:
        """Whether the archive member ended before its end marker (a copy cut short)."""
        return bool(getattr(self._inner, "truncated", False))

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buffer))
        except _ARCHIVE_ERRORS as exc:
            raise ReaderError(self._name, f"damaged archive member ({exc})") from exc
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
            if self._archive is not None:
                self._archive.close()
        super().close()


def iter_inputs(paths: list[str], exclude: frozenset[Path] = frozenset()
                ) -> Iterator[Input | ReaderError]:
    """Every input below ``paths`` (folders recursively, archives member by member).

    Files in ``exclude`` (the case store itself) are passed over. A path that cannot be
    listed or opened comes out as a :class:`ReaderError`, so the caller reports it and
    goes on.
    """
    for file in files_below(paths, exclude):
        yield from _file_inputs(file)


def files_below(paths: list[str], exclude: frozenset[Path] = frozenset()) -> Iterator[Path]:
    """Every file below ``paths`` (folders recursively, in name order; a path that is not
    a folder as given), but those in ``exclude``."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path, onerror=None):
                dirs.sort()
                for name in sorted(files):
                    file = Path(root) / name
                    if file.resolve() not in exclude:
                        yield file
        else:
            yield path


def _file_inputs(path: Path) -> Iterator[Input | ReaderError]:
    name = str(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            # A FIFO (a copied /var/spool holds some) would block the read for ever.
            yield ReaderError(name, "not a regular file (a FIFO, socket or device)")
            return
        size = info.st_size
        with open(path, "rb") as stream:
            magic = stream.read(4)
    except OSError as exc:
        yield ReaderError(name, f"cannot read ({exc.strerror or exc})")
        return
    if magic.startswith(b"PK\x03\x04") or magic.startswith(b"PK\x05\x06"):
        try:
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.infolist()
                           if not m.is_dir() and not _is_metadata(m.filename)]
        except _ARCHIVE_ERRORS as exc:
            yield ReaderError(name, f"damaged zip archive ({exc})")
            return
        for member in members:
            if member.flag_bits & 0x1:
                yield ReaderError(f"{name}!{member.filename}", "encrypted zip member")
                continue
            yield Input(name, member.filename, member.file_size, "zip", member.compress_size)
    elif magic.startswith(b"\x1f\x8b"):
        yield Input(name, path.name.removesuffix(".gz"), size, "gzip", size)
    else:
        yield Input(name, "", size, "file")


def _is_metadata(member: str) -> bool:
    """macOS archive litter (``__MACOSX/``, ``._name`` AppleDouble files): not logs."""
    return member.startswith("__MACOSX/") or member.rsplit("/", 1)[-1].startswith("._")


def detect(head: bytes, name: str) -> str:
    """The format of an input from its first bytes; :class:`ReaderError` if unknown."""
    return _format(head, name).name


def _format(head: bytes, name: str) -> Format:
    """The first format of the registry that takes ``head``; a refused or unknown one is a
    :class:`ReaderError`."""
    if not head.strip():
        raise ReaderError(name, "empty file")
    text = _head_text(head)
    for fmt in FORMATS:
        if fmt.sniff(head, text):
            if isinstance(fmt, Format):
                return fmt
            raise ReaderError(name, fmt.reason)
    raise ReaderError(name, "not a log format proctrail reads (EVTX, XML, JSON lines, auditd)")


def _head_text(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="replace")
    return head.decode("utf-8", errors="replace").lstrip("\ufeff")


def spill_limit(item: Input, opts: ReadOptions) -> int:
    """How large an archive member may grow when spilled: ``--max-member-size``, else
    :data:`MEMBER_RATIO` times its compressed size, at most :data:`MEMBER_MAX`."""
    if opts.max_member_size is not None:
        return opts.max_member_size
    return min(MEMBER_MAX, max(EVTX_IN_MEMORY, MEMBER_RATIO * item.packed))


def _seekable(stream: IO[bytes], name: str, limit: int) -> IO[bytes]:
    """A seekable format (EVTX) needs random access: an archive member in memory, or beyond
    :data:`EVTX_IN_MEMORY` in an anonymous temporary file (removed when closed), up to
    ``limit`` bytes: past it the member is refused (a zip bomb writes no disk full)."""
    data = stream.read(min(EVTX_IN_MEMORY, limit) + 1)
    if len(data) > limit:
        raise _too_big(name, limit)
    if len(data) <= EVTX_IN_MEMORY:
        return io.BytesIO(data)
    spill = tempfile.TemporaryFile()  # noqa: SIM115 - the reader's stream, closed with it
    spill.write(data)
    written = len(data)
    del data
    while chunk := stream.read(1 << 20):
        written += len(chunk)
        if written > limit:
            spill.close()
            raise _too_big(name, limit)
        spill.write(chunk)
    spill.seek(0)
    return spill  # type: ignore[return-value]


def _too_big(name: str, limit: int) -> ReaderError:
    return ReaderError(name, f"archive member expands past {limit:,} bytes: not read (a zip "
                             "bomb?); --max-member-size BYTES reads larger members")


def open_records(item: Input, stream: IO[bytes], opts: ReadOptions) -> tuple[str, RecordStream]:
    """Detect the format of an opened input and start reading it: (format, records)."""
    head = stream.peek(HEAD)[:HEAD] if hasattr(stream, "peek") else b""
    if not head:
        raise ReaderError(item.name, "empty file")
    fmt = _format(head, item.name)
    if fmt.seekable and item.kind != "file":
        stream = _seekable(stream, item.name, spill_limit(item, opts))
    return fmt.name, fmt.open(stream, item.name, opts)
