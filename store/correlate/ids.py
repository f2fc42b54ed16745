"""Stable ids: a lifetime's or session's id is derived from the natural key of the event
that made it (host, channel, record id, second, event id), so re-correlating after more
logs arrive, from any host, in any order, on SQLite or PostgreSQL, keeps every id that the
new logs say nothing new about: open screens, exports and bookmarks keep naming the same
process.
"""

from __future__ import annotations

from hashlib import blake2b

ID_BITS = 53  # exact in a JSON double (JavaScript, spreadsheets), and in a BIGINT


def event_key(host_key: str, channel_key: str, record_id: int, ts_key: int,
              event_id: int) -> str:
    """An event's natural key as text: what the events table keeps unique."""
    return f"{host_key}|{channel_key}|{record_id}|{ts_key}|{event_id}"


class StableIds:
    """Ids from keys; a clash (one in about 10^15 pairs) takes the next free number, which
    is remembered: one instance a machine, so memory stays bounded by one machine."""

    def __init__(self) -> None:
        self.used: set[int] = set()

    def __call__(self, key: str) -> int:
        digest = blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        n = (int.from_bytes(digest, "big") >> (64 - ID_BITS)) or 1
        while n in self.used:
            n = n % ((1 << ID_BITS) - 1) + 1
        self.used.add(n)
        return n
