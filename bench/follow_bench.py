"""Follow benchmark: bringing a big case's correlation up to date after new events.

    python bench/follow_bench.py [N] [NEW]      # default 1000000 lifetimes, 1000 new events

Writes the synthetic store of :mod:`correlate_bench` (N lifetimes over 10 hosts; not
timed), correlates it whole keeping every machine open (:class:`LiveCase`, what ``ingest
--follow`` does first), then stores NEW events on one host, later than all it has (process
starts, Security and Sysmon, and ends), and times :meth:`LiveCase.update`; then the same
again, three times, and a full ``correlate()`` of the final case for comparison. Peak
memory (VmHWM) is of the whole run: the open machines are what follow mode holds.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

import orjson
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from correlate_bench import _peak_mb, make_store


def new_events(engine: object, host: int, n: int, seed: int) -> int:
    """``n`` events on ``host`` after everything stored: starts (4688 and Sysmon 1) and
    ends, continuing its record numbers. Returns how many were stored."""
    from proctrail.store.models import EventRow

    rng = random.Random(seed)
    with engine.begin() as conn:  # type: ignore[attr-defined]
        last = conn.execute(select(func.max(EventRow.ts_us))
                            .where(EventRow.host_id == host)).scalar_one()
        records = dict(conn.execute(select(EventRow.channel_id, func.max(EventRow.record_id))
                                    .where(EventRow.host_id == host)
                                    .group_by(EventRow.channel_id)).all())
        rows, alive = [], []
        t = last + 1_000_000
        while len(rows) < n:
            t += 20_000
            pid = rng.randrange(4, 65536, 4)
            image = f"C:\\Windows\\System32\\new{pid % 31}.exe"
            guid = f"{{{host:08x}-1111-0000-0000-{seed:04x}{len(rows):08x}}}"
            for channel, eid, at, fields in (
                    (1, 4688, t + 1, {"NewProcessId": hex(pid), "ProcessId": "0x4",
                                      "NewProcessName": image, "SubjectLogonId": "0x3e7",
                                      "CommandLine": f"{image} /new"}),
                    (2, 1, t + 300, {"ProcessId": str(pid), "ParentProcessId": "4",
                                     "Image": image, "ProcessGuid": guid,
                                     "CommandLine": f"{image} /new"})):
                records[channel] = records.get(channel, 0) + 1
                rows.append(_row(host, channel, eid, records[channel], at, "process_start",
                                 fields))
            alive.append(pid)
            if len(alive) > 20:
                records[1] = records.get(1, 0) + 1
                rows.append(_row(host, 1, 4689, records[1], t + 500, "process_end",
                                 {"ProcessId": hex(alive.pop(0))}))
        conn.execute(insert(EventRow), rows[:n])
    return min(n, len(rows))


def _row(host: int, channel: int, eid: int, rid: int, t: int, kind: str,
         fields: dict[str, str]) -> dict[str, object]:
    return {"source_id": 1, "host_id": host, "channel_id": channel, "provider": "bench",
            "event_id": eid, "record_id": rid, "ts_us": t, "ts_key": t // 1_000_000,
            "received_us": None, "kind": kind, "data": orjson.dumps(fields).decode()}


def main() -> None:
    from proctrail.store.correlate import correlate
    from proctrail.store.correlate.live import LiveCase
    from proctrail.store.db import open_engine

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    new = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        path = f"sqlite:///{Path(tmp) / 'follow.db'}"
        made = make_store(n, path)
        engine = open_engine(path)
        live = LiveCase(engine)
        started = time.perf_counter()
        report = live.rebuild()
        first = time.perf_counter() - started
        print(f"case: {report.processes:,} lifetimes, {made['events']:,} events, "  # type: ignore[attr-defined]
              f"10 hosts; correlated whole, machines kept open: {first:.1f} s")
        for step in range(3):
            stored = new_events(engine, 1, new, step)
            update = live.update()
            assert update is not None
            print(f"update {step + 1}: {stored:,} new events on one host: "
                  f"{update.seconds:.3f} s (fed on: {len(update.appended)} machine, "
                  f"redone: {len(update.again)})")
        started = time.perf_counter()
        full = correlate(engine, workers=1)
        whole = time.perf_counter() - started
        print(f"full correlate() of the final case: {whole:.1f} s ({full.processes:,} "
              f"lifetimes); update/full = {update.seconds / whole:.4f}")
        print(f"peak memory: {_peak_mb():,.0f} MB")


if __name__ == "__main__":
    main()
