"""A process on the command line: a lifetime id, a Sysmon ProcessGuid, or HOST:PID:TIME."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from proctrail.store.errors import ProctrailError, UsageError
from proctrail.store.text import pid_text, printable
from proctrail.store.timefmt import clock

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from proctrail.store.queries.lookup import Lifetime

FORMS = ("a lifetime id (12345), a ProcessGuid ({5753...-...}, braces and case optional) "
         "or HOST:PID:TIME (WS01:4242:2026-11-02T08:15)")
SHOWN = 5  # candidates an ambiguous argument lists

_GUID = re.compile(r"\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?",
                   re.IGNORECASE)
# An ISO time or a prefix of one: a day, an hour, a minute, a second, a fraction; a zone.
_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})"
                   r"(?:\.(\d{1,6}))?)?)?)?\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?", re.IGNORECASE)


def time_window(text: str) -> tuple[int, int]:
    """The UTC microseconds an ISO time or prefix covers, first and last: ``2019-05-14``
    a day, ``2019-05-14T03`` an hour, ``...T03:15`` a minute, ``...T03:15:07`` a second,
    a fraction its last digit. No zone is UTC. Raises UsageError if it is not a time."""
    m = _TIME.fullmatch(text.strip())
    if m is None:
        raise UsageError(f"not a time: {text!r} (use e.g. 2026-11-02T08:15 or a prefix)")
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    digits = fraction or ""
    try:
        start = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                         int(second or 0), int(digits.ljust(6, "0")) if digits else 0,
                         tzinfo=UTC)
    except ValueError as exc:
        raise UsageError(f"not a time: {text!r} ({exc})") from exc
    if zone and zone.upper() not in ("Z", "UTC"):
        sign = -1 if zone[0] == "-" else 1
        hours, minutes = zone[1:3], zone[3:].lstrip(":") or "0"
        start -= sign * timedelta(hours=int(hours), minutes=int(minutes))
    if digits:
        width = 10 ** (6 - len(digits))
    else:
        unit = next(u for u, given in (("second", second), ("minute", minute),
                                      ("hour", hour), ("day", True)) if given)
        width = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}[unit] * 1_000_000
    first = int(start.timestamp()) * 1_000_000 + start.microsecond
    return first, first + width - 1


def resolve_process(engine: Engine, text: str) -> int:
    """The lifetime id ``text`` names; one clear error (up to :data:`SHOWN` candidates)
    when it names none or several."""
    from proctrail.store.queries.lookup import (
        lifetime_by_id,
        lifetimes_alive,
        lifetimes_by_guid,
    )

    spec = text.strip()
    if spec.isdigit():
        found = lifetime_by_id(engine, int(spec))
        if found is None:
            raise ProctrailError(f"no process with id {spec}")
        return found.id
    if _GUID.fullmatch(spec):
        return _one(spec, lifetimes_by_guid(engine, spec, SHOWN + 1), "with that ProcessGuid")
    parts = spec.split(":", 2)
    if len(parts) == 3 and parts[0] and parts[1].isdigit():
        host, pid, when = parts
        first, last = time_window(when)
        return _one(spec, lifetimes_alive(engine, host, int(pid), first, last, SHOWN + 1),
                    f"with PID {pid} on host {host!r} alive at {when}")
    raise UsageError(f"not a process: {spec!r}; give {FORMS}")


def _one(spec: str, found: list[Lifetime], what: str) -> int:
    if len(found) == 1:
        return found[0].id
    if not found:
        raise ProctrailError(f"no process {printable(what)} ({printable(spec)!r})")
    shown = "; ".join(_candidate(c) for c in found[:SHOWN])
    many = f"more than {SHOWN}" if len(found) > SHOWN else str(len(found))
    more = "; ..." if len(found) > SHOWN else ""
    raise UsageError(f"{printable(spec)!r} names {many} processes; give one id: "
                     f"{shown}{more}")


def _candidate(c: Lifetime) -> str:
    return printable(f"{c.id} ({c.host}, PID {pid_text(c.pid)}, {c.image or '?'}, "
                     f"{clock(c.start_us)} -> {clock(c.end_us)})")
