"""Finding a process lifetime by what an analyst has at hand: its id, a Sysmon
ProcessGuid, or the host, PID and a time it was alive (``proctrail tree``'s argument)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, Select, func, or_, select

from proctrail.store.hosts import Machine, join_machine, on_host
from proctrail.store.models import Process

__all__ = ["Lifetime", "lifetime_by_id", "lifetimes_alive", "lifetimes_by_guid",
           "process_hosts"]


@dataclass(frozen=True)
class Lifetime:
    """One process lifetime, as a candidate is listed."""

    id: int
    host: str
    pid: int | None
    image: str
    start_us: int | None
    end_us: int | None


def _lifetimes(engine: Engine, query: Select[tuple[int]], limit: int) -> list[Lifetime]:
    rows = join_machine(select(Process.id, Machine.name, Process.pid, Process.image,
                               Process.start_us, Process.end_us), Process.host_id)
    rows = rows.where(Process.id.in_(query)).order_by(Process.start_us, Process.id)
    with engine.connect() as conn:
        return [Lifetime(*r) for r in conn.execute(rows.limit(limit))]


def lifetime_by_id(engine: Engine, process_id: int) -> Lifetime | None:
    """The lifetime of that id, if the case has it."""
    found = _lifetimes(engine, select(Process.id).where(Process.id == process_id), 1)
    return found[0] if found else None


def lifetimes_by_guid(engine: Engine, guid: str, limit: int = 6) -> list[Lifetime]:
    """The lifetimes whose ProcessGuid is ``guid``: any case, braces or not."""
    bare = guid.strip().strip("{}").lower()
    stored = func.lower(Process.process_guid)
    return _lifetimes(engine, select(Process.id).where(
        or_(stored == "{" + bare + "}", stored == bare)), limit)


def lifetimes_alive(engine: Engine, host: str, pid: int, start_us: int, end_us: int,
                    limit: int = 6) -> list[Lifetime]:
    """The lifetimes of ``pid`` on the machine ``host`` names (any spelling, a short name,
    as a host filter reads it) alive at some moment of ``start_us``..``end_us``: started
    by its end (or start unknown), not ended before its start (or end unknown)."""
    return _lifetimes(engine, select(Process.id).where(
        on_host(Process.host_id, host), Process.pid == pid,
        or_(Process.start_us.is_(None), Process.start_us <= end_us),
        or_(Process.end_us.is_(None), Process.end_us >= start_us)), limit)


def process_hosts(engine: Engine, ids: list[int]) -> dict[int, str]:
    """The machine's name (as shown: its FQDN when it has one) of each process id."""
    out: dict[int, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            query = join_machine(select(Process.id, Machine.name), Process.host_id).where(
                Process.id.in_(ids[start:start + 500]))
            out.update({r.id: r.name for r in conn.execute(query)})
    return out
