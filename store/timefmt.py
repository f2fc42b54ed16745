"""Times as people read them: every module formats microseconds through these."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(us: int | None) -> str | None:
    """ISO 8601 UTC with microseconds (``2026-01-02T03:04:05.000000Z``), None for None."""
    if us is None:
        return None
    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def clock(us: int | None, unknown: str = "?") -> str:
    """``2026-01-02 03:04:05`` (UTC), ``unknown`` when there is no time."""
    if us is None:
        return unknown
    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def span(us: int | None) -> str:
    """A duration, short: ``3d 4h``, ``2h05m``, ``4m07s``, ``12s``, ``0.25s``."""
    if us is None:
        return ""
    if us < 0:
        return "-" + span(-us)
    if us < 10_000_000:
        return f"{us / 1_000_000:.2f}".rstrip("0").rstrip(".") + "s"
    seconds = us // 1_000_000
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def exact(us: int | None, unknown: str = "unknown") -> str:
    """``2019-12-05 01:49:31 UTC``: the fraction only when there is one, cut to what it
    holds (``…44.326 UTC``, ``…44.326412 UTC``); ``unknown`` when there is no time."""
    if us is None:
        return unknown
    moment = datetime.fromtimestamp(us // 1_000_000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    micro = us % 1_000_000
    fraction = "" if not micro else f".{micro // 1000:03d}" if not micro % 1000 else f".{micro:06d}"
    return f"{moment}{fraction} UTC"


def minute(us: int | None, year: bool = True, unknown: str = "?") -> str:
    """``2022-08-02 21:03`` (UTC), ``08-02 21:03`` without the year; ``unknown`` for None."""
    if us is None:
        return unknown
    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime(
        "%Y-%m-%d %H:%M" if year else "%m-%d %H:%M")


def minute_span(first: int | None, last: int | None, year: bool = True) -> str:
    """``2021-03-14 01:39 → 02:10``: the end without what it shares with the start (the
    day, or the year), so a span fits a narrow column whole."""
    start, end = minute(first, year), minute(last, year)
    if first is not None and last is not None:
        if start[:-6] == end[:-6]:
            end = end[-5:]
        elif year and start[:4] == end[:4]:
            end = end[5:]
    return f"{start} → {end}"
