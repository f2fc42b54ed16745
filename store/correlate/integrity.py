"""Integrity anomalies: what the logs say about their own completeness and clocks.

``record_gap``: record numbers of a channel on a host jump forward (records missing
between two stored ones); ``log_cleared`` (1102, 517, System 104); ``audit_stopped``
(4609, 1100, 513, 6006) until the next audit start on that host; ``clock_changed`` (4616,
520, Kernel-General 1) with the old and new time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


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


def record_gaps(rows: Iterable[tuple[int, int, int, int | None]]) -> list[Found]:
    """Gaps from (host_id, channel_id, record_id, ts_us) rows sorted by those three keys.

    Synthetic (negative) record ids, given to records that carry none, are not numbered
    and are passed over.
    """
    out: list[Found] = []
    prev: tuple[int, int, int, int | None] | None = None
    for row in rows:
        host, channel, rid, ts = row
        if rid <= 0:
            continue
        if prev is not None and prev[0] == host and prev[1] == channel and rid > prev[2] + 1:
            missing = rid - prev[2] - 1
            out.append(Found(host, channel, "record_gap", prev[3], ts, None,
                             f"{missing} record(s) missing between {prev[2]} and {rid}"))
        prev = row
    return out


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
