"""What every reader shares: its error type, its output type, time parsing, and the
records it declares its format with (:class:`Format`, :class:`Refusal`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from proctrail.store.errors import ProctrailError
from proctrail.store.events import Damage, Event, Skip

RecordStream = Iterator[Event | Skip | Damage]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Anything at or before this is a zero or garbage FILETIME/SYSTEMTIME: an unknown time.
_MIN_REAL_US = int((datetime(1971, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds()) * 1_000_000
# Nor is anything past what a datetime can hold (garbage epoch seconds, FILETIMEs).
_MAX_REAL_US = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)

# What the store's columns hold: event ids in an INTEGER, record ids and times in BIGINTs.
INT32 = range(-(2**31), 2**31)
INT64 = range(-(2**63), 2**63)


# No log line comes near this length (bytes, or characters of a text stream): a longer
# one is a counted skip, read past in bounded memory, so a file of gigabytes on one line
# is never held whole.
MAX_LINE = 16 << 20
_LINE_ENDS = (b"\n", "\n", "\r")


PARSERS = ("evtx", "python-evtx")  # the EVTX parsers: the fast Rust one, the reference


class ReaderError(ProctrailError):
    """A whole input that cannot be read, with the file it is about."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def capped_lines(stream: IO[Any]) -> Iterator[Any]:
    """The lines of a binary or text stream, line ends kept; None for a line longer than
    :data:`MAX_LINE`, whose text is dropped as it is read."""
    while True:
        line = stream.readline(MAX_LINE + 1)
        if not line:
            return
        if len(line) <= MAX_LINE or line[-1:] in _LINE_ENDS:
            yield line
            continue
        while line and line[-1:] not in _LINE_ENDS:
            line = stream.readline(MAX_LINE)
        yield None


def to_us(dt: datetime) -> int:
    """Microseconds since the epoch for an aware datetime (naive means UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def real_time(us: int | None) -> int | None:
    """``us`` if it is a real time, ``None`` for a zero or pre-1971 (or post-9999) stamp."""
    return us if us is not None and _MIN_REAL_US < us <= _MAX_REAL_US else None


_SECOND_CACHE: dict[str, int] = {}
_DIGITS = frozenset("0123456789")


def _fast_utc(s: str) -> int | None:
    """``YYYY-MM-DDTHH:MM:SS[.fffffff]Z`` (or a space, or no zone) -> UTC us, else None.

    The common EVTX/Sysmon spelling, parsed by slicing with the second cached: times in
    a log cluster, so most records cost one dictionary lookup.
    """
    if len(s) < 19 or s[4] != "-" or s[10] not in "T ":
        return None
    end = len(s)
    if s[-1] in "Zz":
        end -= 1
    frac = s[20:end] if end > 19 else ""
    if end > 19 and (s[19] != "." or not frac or not _DIGITS.issuperset(frac)):
        return None
    key = s[:19]
    base = _SECOND_CACHE.get(key)
    if base is None:
        try:
            dt = datetime.fromisoformat(key)
        except ValueError:
            return None
        base = to_us(dt)
        if len(_SECOND_CACHE) > 100_000:
            _SECOND_CACHE.clear()
        _SECOND_CACHE[key] = base
    return base + (int(frac[:6].ljust(6, "0")) if frac else 0)


def parse_time(text: str | None, assume_offset: timedelta | None = None) -> int | None:
    """Parse an ISO-8601-like time into UTC microseconds; None when empty or unknown.

    Accepts ``T`` or space separators, 0-9 fractional digits and ``Z``/``UTC``/offsets.
    A time with no zone is UTC unless ``assume_offset`` (local time's offset) is given.
    """
    if not text:
        return None
    if assume_offset is None:
        fast = _fast_utc(text)
        if fast is not None:
            return real_time(fast)
    s = text.strip()
    if s.endswith(" UTC"):
        s = s[:-4]
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    # Python takes at most 6 fractional digits: cut extra precision (100 ns ticks).
    dot = s.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(s) and s[end].isdigit():
            end += 1
        if end - dot - 1 > 6:
            s = s[: dot + 7] + s[end:]
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None and assume_offset is not None:
        dt = dt.replace(tzinfo=UTC) - assume_offset
    return real_time(to_us(dt))


def to_int(value: object) -> int | None:
    """An integer from a JSON number or a decimal or ``0x`` string; None otherwise, and
    None for one that no BIGINT column holds (garbage, not an id)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = int(text, 16) if text[:2].lower() == "0x" else int(text)
        except ValueError:  # not a number, or more digits than int() takes
            return None
    else:
        return None
    return number if number in INT64 else None


def as_text(value: object) -> str:
    """A field value as the text a Windows XML rendering would show."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "\n".join(as_text(v) for v in value)
    return str(value)


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """What the analyst tells readers that the logs themselves may not say.

    ``default_host`` names the host of records that carry none (raw auditd without
    ``node=``); ``local_offset`` is the UTC offset of times written in local time with no
    zone (``ausearch -i`` output); ``None`` means such times are taken as UTC.
    """

    default_host: str = "unknown"
    local_offset: timedelta | None = None
    parser: str = "evtx"
    threads: int = 0
    # An archive member spilled to disk (EVTX needs random access) may grow to this many
    # bytes; None: at most MEMBER_RATIO times its compressed size, and MEMBER_MAX.
    max_member_size: int | None = None


Opener = Callable[[IO[bytes], str, ReadOptions], RecordStream]
# Whether an input is of a format, from its first bytes and them decoded (BOM-aware).
Sniffer = Callable[[bytes, str], bool]


@dataclass(frozen=True, slots=True)
class Format:
    """A log format as its reader module declares it.

    ``name`` is what the store keeps as the source's format; ``sniff`` says from an input's
    first bytes (and them decoded) whether it is one; ``open(stream, name, opts)`` starts
    its record stream; ``seekable`` formats need random access, so an archive member is
    first read into memory or a temporary file.
    """

    name: str
    sniff: Sniffer
    open: Opener
    seekable: bool = False


@dataclass(frozen=True, slots=True)
class Refusal:
    """A format recognised in order to be refused: ``reason`` names it and what to do."""

    name: str
    sniff: Sniffer
    reason: str
