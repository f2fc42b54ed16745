"""Integrity anomalies: what the logs say about their own completeness and clocks.

``record_gap``: record numbers of a channel on a host jump forward (records missing
between two stored ones of one source), one anomaly per episode of such gaps;
``log_cleared`` (1102, 517, System 104); ``audit_stopped`` (4609, 1100, 513, 6006) until
the next audit start on that host; ``clock_changed`` (4616, 520, Kernel-General 1) with
the old and new time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(slots=True)
class Found:
    """One anomaly, ready to store."""

    host_id: int
    channel_id: int | None
    kind: str
    start_us: int | None
    end_us: int | None
    event_pk: int | None
    detail: str


EPISODE_US = 3600 * 1_000_000  # gaps of one log closer than this (in time) are one anomaly


def record_gaps(rows: Iterable[tuple[int, int, int, int, int | None, int]]) -> list[Found]:
    """Record gaps from (host_id, channel_id, source_id, record_id, ts_us, event_pk) rows
    sorted by host, channel and record number, one anomaly per episode.

    A gap is records of a channel that no stored record holds (sources together: ingest
    keeps one copy of a record two exports hold). Nothing is missing before a log's first
    record, nor before the first record of another source of the channel: a log that is
    a slice (an export that starts mid-log) begins there. The gaps of one host's channel
    are one episode until a stretch of at least
    :data:`EPISODE_US` without a gap parts them: an export that drops some events leaves
    hundreds of one-record gaps in minutes, one fact for the analyst. Synthetic (negative)
    record ids, given to records that carry none, are not numbered and are passed over.
    """
    out: list[Found] = []
    prev: tuple[int, int, int, int, int | None, int] | None = None
    episode: _Episode | None = None
    sources: set[int] = set()  # of the current channel: a new one begins a slice
    for row in rows:
        host, channel, source, rid, ts, pk = row
        if rid <= 0:
            continue
        if prev is None or prev[0] != host or prev[1] != channel:
            sources.clear()
        begins = source not in sources
        sources.add(source)
        if prev is not None and prev[0] == host and prev[1] == channel \
                and not begins and rid > prev[3] + 1:
            if episode is not None and not episode.takes(host, channel, source, prev[4]):
                out.append(episode.found())
                episode = None
            if episode is None:
                episode = _Episode(host, channel, source, prev[3], prev[4], pk)
            episode.add(rid - prev[3] - 1, rid, ts)
        prev = row
    if episode is not None:
        out.append(episode.found())
    return out


class _Episode:
    """Gaps of one host's channel close in time: one ``record_gap`` (``source``: the
    input of the record after its first gap)."""

    __slots__ = ("channel", "first", "gaps", "high", "host", "last", "last_us", "low",
                 "missing", "pk", "source", "start_us")

    def __init__(self, host: int, channel: int, source: int, first: int,
                 start_us: int | None, pk: int) -> None:
        self.host, self.channel, self.source = host, channel, source
        self.first, self.start_us, self.pk = first, start_us, pk  # pk: after the first gap
        self.last, self.last_us = first, start_us
        self.low = self.high = start_us  # the times it spans: record order is not time order
        self.gaps = self.missing = 0

    def takes(self, host: int, channel: int, source: int, before_us: int | None) -> bool:
        """Whether a gap after a record stamped ``before_us`` belongs to this episode."""
        return (host, channel) == (self.host, self.channel) and (
            before_us is None or self.last_us is None
            or abs(before_us - self.last_us) < EPISODE_US)  # (a reverted VM goes back)

    def add(self, missing: int, after: int, after_us: int | None) -> None:
        self.gaps += 1
        self.missing += missing
        self.last = after
        if after_us is not None:
            self.last_us = after_us
            self.low = after_us if self.low is None else min(self.low, after_us)
            self.high = after_us if self.high is None else max(self.high, after_us)

    def found(self) -> Found:
        when = (f", {_at(self.low)} → {_at(self.high)}"
                if self.low is not None and self.high is not None else "")
        detail = (f"{self.gaps:,} gap{'s' if self.gaps != 1 else ''}, "
                  f"{self.missing:,} record{'s' if self.missing != 1 else ''} missing, "
                  f"between records {self.first} and {self.last}{when}")
        return Found(self.host, self.channel, "record_gap", self.low, self.high, self.pk,
                     detail)


def _at(us: int) -> str:
    """``08-02 21:00:05`` (UTC)."""
    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%m-%d %H:%M:%S")


def event_anomalies(rows: Iterable[tuple[int, int, int, str, int | None, dict[str, str]]]
                    ) -> list[Found]:
    """Cleared logs, audit stops and clock changes from (pk, host, channel, kind, ts, fields)
    rows sorted by host and time."""
    out: list[Found] = []
    stopped: dict[int, Found] = {}
    for pk, host, channel, kind, ts, f in rows:
        if kind == "log_cleared":
            who = f.get("SubjectUserName") or f.get("param1") or ""
            out.append(Found(host, channel, "log_cleared", ts, ts, pk,
                             f"cleared by {who}" if who else "log cleared"))
        elif kind == "time_change":
            old = f.get("PreviousTime") or f.get("OldTime") or ""
            new = f.get("NewTime") or ""
            out.append(Found(host, channel, "clock_changed", ts, ts, pk,
                             f"{old} -> {new}" if old or new else "system time changed"))
        elif kind == "audit_stop":
            found = Found(host, channel, "audit_stopped", ts, None, pk,
                          "auditing or event logging stopped")
            out.append(found)
            stopped[host] = found
        elif kind == "audit_start" and host in stopped:
            stopped.pop(host).end_us = ts
    return out
