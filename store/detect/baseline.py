"""Baselines: the executables known to run, so that the first run of any other stands out.

A baseline is built from the processes of a period (per host, or for all hosts together,
or from a golden host), or imported from a file listing (``dir /s /b *.exe`` output or
any list of paths). Paths compare case- and separator-insensitively. Processes whose
image is not in the baseline are reported once per host and image, at the first time
they ran.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select

from proctrail.store.errors import ProctrailError
from proctrail.store.images import norm_image
from proctrail.store.models import Baseline, BaselineEntry, Host, Process


class BaselineError(ProctrailError, ValueError):
    """A baseline cannot be made or used: a one-line reason."""


def _replace(engine: Engine, name: str, description: str,
             entries: set[tuple[str, str]]) -> int:
    with engine.begin() as conn:
        old = conn.execute(select(Baseline.id).where(Baseline.name == name)).scalar()
        if old is not None:
            conn.execute(delete(BaselineEntry).where(BaselineEntry.baseline_id == old))
            conn.execute(delete(Baseline).where(Baseline.id == old))
        new = conn.execute(insert(Baseline).values(
            name=name, description=description,
            created_us=time.time_ns() // 1000)).inserted_primary_key[0]
        rows = [{"baseline_id": new, "host": h, "image": i} for h, i in sorted(entries)]
        for start in range(0, len(rows), 5000):
            conn.execute(insert(BaselineEntry), rows[start:start + 5000])
    return len(entries)


def build_baseline(engine: Engine, name: str, start_us: int | None = None,
                   end_us: int | None = None, hosts: list[str] | None = None,
                   per_host: bool = False) -> int:
    """Every image that started in [start_us, end_us] (on ``hosts``, if named); per host,
    or for all hosts together (a golden host's baseline: ``hosts=[golden]``)."""
    query = (select(Host.key, Process.image).join(Host, Host.id == Process.host_id)
             .where(Process.image != "").distinct())
    if start_us is not None:
        query = query.where(Process.start_us >= start_us)
    if end_us is not None:
        query = query.where(Process.start_us <= end_us)
    if hosts:
        query = query.where(Host.key.in_([h.lower() for h in hosts]))
    with engine.connect() as conn:
        entries = {(host if per_host else "", norm_image(image))
                   for host, image in conn.execute(query)}
    if not entries:
        raise BaselineError(f"baseline {name!r}: no process started in that period")
    return _replace(engine, name, "from events", entries)


def import_baseline(engine: Engine, name: str, path: Path, host: str = "") -> int:
    """A baseline from a listing: one path a line (``dir /s /b`` output, ``find`` output)."""
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read the listing: {exc.strerror}") from exc
    entries = {(host.lower(), norm_image(line)) for line in text.splitlines()
               if line.strip() and ("\\" in line or "/" in line)}
    if not entries:
        raise BaselineError(f"{path}: no paths in it")
    return _replace(engine, name, f"imported from {path.name}", entries)


def export_baseline(engine: Engine, name: str) -> Iterator[str]:
    """The baseline as lines: ``path`` (all hosts) or ``host<TAB>path``."""
    with engine.connect() as conn:
        baseline = conn.execute(select(Baseline.id).where(Baseline.name == name)).scalar()
        if baseline is None:
            raise BaselineError(f"no baseline named {name!r}")
        for host, image in conn.execute(
                select(BaselineEntry.host, BaselineEntry.image)
                .where(BaselineEntry.baseline_id == baseline)
                .order_by(BaselineEntry.host, BaselineEntry.image)):
            yield f"{host}\t{image}" if host else image


def first_seen(engine: Engine, name: str) -> list[dict[str, Any]]:
    """Processes whose image the baseline does not know: the first run of each image on
    each host (id, host, image, start)."""
    with engine.connect() as conn:
        baseline = conn.execute(select(Baseline.id).where(Baseline.name == name)).scalar()
        if baseline is None:
            raise BaselineError(f"no baseline named {name!r}")
        known: dict[str, set[str]] = {}
        for host, image in conn.execute(select(BaselineEntry.host, BaselineEntry.image)
                                        .where(BaselineEntry.baseline_id == baseline)):
            known.setdefault(host, set()).add(image)
        everywhere = known.get("", set())
        first: dict[tuple[str, str], dict[str, Any]] = {}
        query = (select(Process.id, Host.key, Host.name, Process.image, Process.start_us,
                        Process.host_id, Process.pid, Process.logon_id)
                 .join(Host, Host.id == Process.host_id)
                 .where(Process.image != "")
                 .order_by(Host.key, func.coalesce(Process.start_us, -1), Process.id))
        for r in conn.execute(query):
            norm = norm_image(r.image)
            if norm in everywhere or norm in known.get(r.key, ()):
                continue
            first.setdefault((r.key, norm), {
                "id": r.id, "host": r.name, "image": r.image, "start_us": r.start_us,
                "host_id": r.host_id, "pid": r.pid, "logon_id": r.logon_id})
    return list(first.values())
