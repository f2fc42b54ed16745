"""Collector time offsets: exports that wrote local time as UTC.

Some exporters write each record's time in the machine's local zone but mark it UTC (an
offset of hours; seen with the AM/PM lost too, so one file holds two offsets 12 hours
apart). Sysmon says the truth in every record (its ``UtcTime``, which the readers take as
its time): where a source's 4688s sit a whole number of quarter hours from the Sysmon 1
of the same process (host, PID, image), every record of that source near them in file
order is off by as much. Correlation reads those records moved back by it (the 4688 then
meets its Sysmon 1, the logon its processes), and each such source is a ``time_offset``
anomaly. Stored event times stay as logged.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby

import orjson
from sqlalchemy import Engine, select

from proctrail.store.correlate.extract import pid_of, sysmon_time
from proctrail.store.correlate.integrity import Found
from proctrail.store.images import image_key
from proctrail.store.models import Channel, EventRow, Source
from proctrail.store.timefmt import span

QUANTUM_US = 15 * 60_000_000  # time zones are whole quarter hours apart
SLACK_US = 120_000_000  # Sysmon's header lags its UtcTime by seconds, not minutes
MIN_SAMPLES = 2  # one odd pairing is no offset


@dataclass
class SourceOffset:
    """One source's offsets from the event id (file order) of each sample on."""

    pks: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    hosts: dict[int, int] = field(default_factory=dict)  # host -> samples off
    spans: set[int] = field(default_factory=set)  # every host the source has records of

    def at(self, pk: int) -> int:
        """The offset of the record with event id ``pk``: that of the nearest sample
        before it in file order (the first sample's for records before all)."""
        i = bisect_right(self.pks, pk)
        return self.offsets[i - 1] if i else self.offsets[0]


def _offset(header_us: int, utc_us: int) -> int | None:
    """The whole quarter hours ``header_us`` is off ``utc_us``; None when it is not a
    plain offset (a lag of minutes, a broken field)."""
    delta = header_us - utc_us
    q = round(delta / QUANTUM_US) * QUANTUM_US
    return q if abs(delta - q) <= SLACK_US else None


def _starts(engine: Engine, channel: object, exports_only: bool = False
            ) -> Iterator[object]:
    query = (select(EventRow.host_id, EventRow.source_id, EventRow.id, EventRow.ts_us,
                    EventRow.data)
             .join(Channel, Channel.id == EventRow.channel_id)
             .where(EventRow.kind == "process_start", EventRow.ts_us.is_not(None), channel)
             .order_by(EventRow.host_id, EventRow.id))
    if exports_only:  # EVTX keeps FILETIMEs in UTC: only exports can have written local time
        query = query.join(Source, Source.id == EventRow.source_id).where(
            Source.format != "evtx")
    with engine.connect() as conn:
        yield from conn.execution_options(stream_results=True, yield_per=5000).execute(query)


def collector_offsets(engine: Engine) -> dict[int, SourceOffset]:
    """Per source whose times are off, its offsets in file order: from each 4688 and the
    Sysmon 1 of the same process, host by host (memory: one host's Sysmon starts)."""
    sysmon = groupby(_starts(engine, Channel.key.like("%sysmon/operational")),
                     key=lambda r: r.host_id)  # type: ignore[attr-defined]
    security = groupby(_starts(engine, (Channel.key == "security")
                               & (EventRow.event_id == 4688), exports_only=True),
                       key=lambda r: r.host_id)  # type: ignore[attr-defined]
    samples: dict[int, Samples] = {}
    known: dict[tuple[int, str], list[tuple[int, int | None, int]]] = {}
    sysmon_host, sysmon_rows = next(sysmon, (None, iter(())))
    for host, rows in security:
        while sysmon_host is not None and sysmon_host < host:
            sysmon_host, sysmon_rows = next(sysmon, (None, iter(())))
        if sysmon_host != host:
            continue
        known.clear()
        for r in sysmon_rows:
            f = orjson.loads(r.data)  # type: ignore[attr-defined]
            pid = pid_of(f.get("ProcessId"), False)
            if pid is not None:
                when = sysmon_time(r.ts_us, f)  # type: ignore[attr-defined]
                if when is not None:
                    known.setdefault((pid, image_key(f.get("Image"))), []).append(
                        (when, pid_of(f.get("ParentProcessId"), False),
                         hash(f.get("CommandLine") or "")))
        for r in rows:
            f = orjson.loads(r.data)  # type: ignore[attr-defined]
            pid = pid_of(f.get("NewProcessId"), True)
            if pid is None:
                continue
            ppid, cmd = pid_of(f.get("ProcessId"), True), f.get("CommandLine") or ""
            found = [(o, ppid is not None and ppid == p and bool(cmd) and hash(cmd) == c)
                     for t, p, c in known.get((pid, image_key(f.get("NewProcessName"))), ())
                     if (o := _offset(r.ts_us, t)) is not None]  # type: ignore[attr-defined]
            if found:
                strong = [o for o, same in found if same]
                offsets = strong or [o for o, _same in found]
                samples.setdefault(r.source_id, Samples()).add(  # type: ignore[attr-defined]
                    r.id, 0 if 0 in offsets else min(offsets, key=abs),  # type: ignore[attr-defined]
                    host, bool(strong))
    return _segments(samples)


class Samples:
    """One source's pairings, compact (a case has as many as it has 4688s)."""

    def __init__(self) -> None:
        self.pks, self.offsets, self.hosts = array("q"), array("q"), array("q")
        self.strong = array("b")  # the same parent PID and command line too
        self.off = False  # some pairing is off

    def add(self, pk: int, offset: int, host: int, strong: bool) -> None:
        self.pks.append(pk)
        self.offsets.append(offset)
        self.hosts.append(host)
        self.strong.append(strong)
        self.off = self.off or offset != 0


def _segments(samples: dict[int, Samples]) -> dict[int, SourceOffset]:
    """Each source's offsets where they change, a change believed when the next sample
    agrees or the pairing is strong (the same parent PID and command line as well): one
    odd pairing of a PID and image moves nothing."""
    out: dict[int, SourceOffset] = {}
    for source, pairs in samples.items():
        if not pairs.off:
            continue
        found = sorted(zip(pairs.pks, pairs.offsets, pairs.hosts, pairs.strong, strict=True))
        off = SourceOffset()
        strong_off = False
        for i, (pk, offset, host, strong) in enumerate(found):
            if off.offsets and off.offsets[-1] == offset:
                pass
            elif strong or (i + 1 < len(found) and found[i + 1][1] == offset):
                off.pks.append(pk)
                off.offsets.append(offset)
            else:
                continue
            if offset:
                off.hosts[host] = off.hosts.get(host, 0) + 1
                strong_off = strong_off or bool(strong)
        if off.offsets and (strong_off or sum(off.hosts.values()) >= MIN_SAMPLES):
            out[source] = off
    return out


def source_hosts(engine: Engine, offsets: dict[int, SourceOffset]) -> None:
    """Fill in every host each source whose times are off has records of."""
    if offsets:
        with engine.connect() as conn:
            for source_id, host_id in conn.execute(
                    select(EventRow.source_id, EventRow.host_id).distinct()
                    .where(EventRow.source_id.in_(list(offsets)))):
                offsets[source_id].spans.add(host_id)


def offset_anomalies(engine: Engine, offsets: dict[int, SourceOffset]) -> list[Found]:
    """One ``time_offset`` anomaly per source and host whose times are off."""
    if not offsets:
        return []
    with engine.connect() as conn:
        paths = dict(conn.execute(select(Source.id, Source.path)
                                  .where(Source.id.in_(list(offsets)))).all())
    found = []
    for source, off in sorted(offsets.items()):
        told = " and ".join(_signed(o) for o in sorted({o for o in off.offsets if o},
                                                       key=abs))
        for host, n in sorted(off.hosts.items()):
            found.append(Found(host, None, "time_offset", None, None, None,
                               f"{paths.get(source, source)}: times written as UTC are "
                               f"{told} the UtcTime of Sysmon's records of the same "
                               f"processes ({n} of them): local time; correlation reads "
                               "them moved by as much"))
    return found


def _signed(offset_us: int) -> str:
    return span(abs(offset_us)) + (" ahead of" if offset_us > 0 else " behind")
