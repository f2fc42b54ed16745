"""Every read the CLI, the TUI and exports need: the only read API over the store."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, func, select

from proctrail.store.models import Channel, EventRow, Host, Source


def stats(engine: Engine) -> dict[str, Any]:
    """Counts of the case: events, sources, hosts, skips, and events per channel and id."""
    with engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(EventRow)).scalar_one()
        sources = conn.execute(select(func.count()).select_from(Source)).scalar_one()
        hosts = list(conn.execute(select(Host.name).order_by(Host.key)).scalars())
        skipped = conn.execute(select(func.coalesce(func.sum(Source.skipped), 0))).scalar_one()
        failed = conn.execute(
            select(func.count()).select_from(Source).where(Source.status == "failed")
        ).scalar_one()
        reasons: dict[str, int] = {}
        for text in conn.execute(select(Source.skip_reasons)).scalars():
            for reason, n in orjson.loads(text or "{}").items():
                reasons[reason] = reasons.get(reason, 0) + n
        counts = [
            {"channel": channel, "event_id": event_id, "n": n}
            for channel, event_id, n in conn.execute(
                select(Channel.name, EventRow.event_id, func.count())
                .join(Channel, Channel.id == EventRow.channel_id)
                .group_by(Channel.name, EventRow.event_id)
                .order_by(Channel.name, EventRow.event_id)
            )
        ]
        kinds = {
            kind: n
            for kind, n in conn.execute(
                select(EventRow.kind, func.count())
                .where(EventRow.kind.is_not(None))
                .group_by(EventRow.kind)
                .order_by(EventRow.kind)
            )
        }
        first, last = conn.execute(select(func.min(EventRow.ts_us), func.max(EventRow.ts_us))).one()
    return {
        "events": events,
        "sources": sources,
        "failed_sources": failed,
        "hosts": hosts,
        "skipped": int(skipped),
        "skip_reasons": reasons,
        "first_us": first,
        "last_us": last,
        "kinds": kinds,
        "counts": counts,
    }
