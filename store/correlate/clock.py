"""Clock jumps: order each channel by record number where its timestamps go backwards.

A channel writes records in order, so record numbers are the order things happened even
when the clock is set back (4616, 520, or no event at all). For each (host, channel,
source file) in record order, a step back of more than :data:`JUMP_US` starts a segment
whose times are shifted forward by the jump, for ordering only; a later step forward
that a logged change explains (the clock put right) gives the shift back. Stored and
shown times stay as logged; each jump is an integrity anomaly. A single record that is
late in record order (the next one is back in step: a straggler, not a clock set back)
is ordered by its own time and starts no segment.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator

from proctrail.store.correlate.integrity import Found
from proctrail.store.correlate.offsets import SourceOffset
from proctrail.store.timefmt import span

JUMP_US = 60_000_000  # smaller steps back are write-order jitter, not a clock change
LOGGED_SLACK_US = 600_000_000  # a logged change explains a step up to this much smaller

Key = tuple[int, int, int]  # host, channel, source


class ClockFixes:
    """Per (host, channel, source), the ordering shift from each record number on."""

    def __init__(self) -> None:
        self.segments: dict[Key, tuple[list[int], list[int]]] = {}
        self.sources: dict[int, SourceOffset] = {}  # exports that wrote local time as UTC

    @property
    def hosts(self) -> set[int]:
        """Hosts whose events need reading whole and sorting here."""
        return {key[0] for key in self.segments}.union(
            *(off.spans for off in self.sources.values()))

    def add(self, key: Key, record_id: int, offset_us: int) -> None:
        rids, offsets = self.segments.setdefault(key, ([], []))
        rids.append(record_id)
        offsets.append(offset_us)

    def order_us(self, key: Key, record_id: int, ts_us: int | None) -> int | None:
        """``ts_us`` moved onto the channel's record order."""
        found = self.segments.get(key)
        if found is None or ts_us is None or record_id <= 0:
            return ts_us
        i = bisect_right(found[0], record_id)
        return ts_us + found[1][i - 1] if i else ts_us


def _known(changes: dict[int, list[int]], host: int, low: int, high: int) -> int | None:
    """The logged change of ``host``'s clock within [low, high] nearest ``high``, if any."""
    fits = [d for d in changes.get(host, ()) if low <= d <= high]
    return max(fits) if fits else None


def clock_fixes(rows: Iterable[tuple[int, int, int, int, int | None]],
                changes: dict[int, list[int]] | None = None) -> tuple[ClockFixes, list[Found]]:
    """Fixes and ``clock_jump`` anomalies from (host, channel, source, record_id, ts) rows
    sorted by those four keys.

    ``changes`` are the clock changes the host logged (4616 and the like: new minus
    previous time, in µs). A step in record order that one of them explains (it is that
    change plus at most :data:`LOGGED_SLACK_US` of time passing) is shifted by the logged
    amount, so every channel of the host is shifted alike; others by what the step shows.
    """
    changes = changes or {}
    fixes = ClockFixes()
    found: list[Found] = []
    key: Key | None = None
    offset = 0
    last: int | None = None
    last_raw: tuple[int, int] = (0, 0)
    for (host, channel, source, rid, ts), after in _with_next(rows):
        if (host, channel, source) != key:
            key, offset, last = (host, channel, source), 0, None
        corrected = ts + offset
        if last is not None:
            step = corrected - last
            if step < -JUMP_US and after is not None and after[:3] == key \
                    and after[4] + offset >= last - JUMP_US:
                continue  # a straggler: the next record is back in step
            if step < -JUMP_US:
                logged = _known(changes, host, step - LOGGED_SLACK_US, step)
                shift = -(logged if logged is not None else step)
                offset += shift
                fixes.add(key, rid, offset)
                corrected += shift
                found.append(Found(host, channel, "clock_jump", ts, last_raw[1], None,
                                   f"record {rid} is {span(last_raw[1] - ts)} earlier than "
                                   f"record {last_raw[0]}: ordered by record number"))
            elif step > JUMP_US and offset > 0:
                # Put right again: only a logged change says by how much. (A quiet hour
                # in a sparse log looks the same as a clock set forward.)
                logged = _known(changes, host, max(1, step - LOGGED_SLACK_US), step)
                if logged is not None:
                    relax = min(offset, logged)
                    offset -= relax
                    corrected -= relax
                    fixes.add(key, rid, offset)
        last = corrected if last is None or corrected > last else last
        last_raw = (rid, ts)
    return fixes, found



Row = tuple[int, int, int, int, int]


def _with_next(rows: Iterable[tuple[int, int, int, int, int | None]]
               ) -> Iterator[tuple[Row, Row | None]]:
    """Each timed row with a real record number, paired with the next such row (or None)."""
    before: Row | None = None
    for row in rows:
        if row[3] <= 0 or row[4] is None:
            continue
        if before is not None:
            yield before, row  # type: ignore[misc]
        before = row  # type: ignore[assignment]
    if before is not None:
        yield before, None
