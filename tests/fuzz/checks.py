"""What every item a reader yields must be: an Event that fits the store or a Skip with
text, within the time and memory an input may take."""

from __future__ import annotations

import orjson

TIME_LIMIT = 8.0  # seconds one input may take (generous: the machine may be busy)
HANG_LIMIT = 40.0  # seconds after which the worker is killed: a hang
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
CANARY_MARK = "PROCTRAIL-FUZZ-CANARY"  # in the file an external entity names


def memory_limit(size: int) -> int:
    """Peak resident memory an input of ``size`` bytes may add: 200 MB and 32 times it."""
    return (200 << 20) + 32 * size


def text_ok(value: object) -> str | None:
    """Why ``value`` cannot be stored as log text, or None."""
    if type(value) is not str:
        return f"not a str: {type(value).__name__}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"not UTF-8 encodable: {exc}"
    return None


def int_ok(value: object, bounds: tuple[int, int], optional: bool = True) -> str | None:
    """Why ``value`` cannot be stored in a column of ``bounds``, or None."""
    if value is None and optional:
        return None
    if type(value) is not int:
        return f"not an int: {value!r}"[:80]
    if not bounds[0] <= value <= bounds[1]:
        return f"out of range: {value}"[:80]
    return None


def item_problems(item: object, max_chars: int) -> list[str]:
    """Why a yielded item would break the store or is impossible, or nothing."""
    from proctrail.store.events import Damage, Event, Kind, Skip

    if isinstance(item, Skip):
        return [f"skip {k}: {p}" for k, p in (("reason", text_ok(item.reason)),
                                              ("detail", text_ok(item.detail))) if p]
    if isinstance(item, Damage):  # ids and offsets go into BIGINT columns
        return [f"damage {k} {why}" for k in ("offset", "first_record", "last_record")
                if (why := int_ok(getattr(item, k), INT64, k != "offset"))]
    if not isinstance(item, Event):
        return [f"yielded a {type(item).__name__}"]
    problems = []
    for attr in ("host", "channel", "provider"):
        value = getattr(item, attr)
        why = text_ok(value) or (f"{len(value)} chars" if len(value) > max_chars else None)
        if why:
            problems.append(f"{attr} {why}")
    if item.kind is not None and item.kind not in {k.value for k in Kind}:
        problems.append(f"kind {item.kind!r}")
    for attr, bounds, optional in (("event_id", INT32, False), ("record_id", INT64, True),
                                   ("ts_us", INT64, True), ("received_us", INT64, True)):
        why = int_ok(getattr(item, attr), bounds, optional)
        if why:
            problems.append(f"{attr} {why}")
    if type(item.fields) is not dict:
        problems.append(f"fields is a {type(item.fields).__name__}")
        return problems
    for key, value in item.fields.items():
        for what, text in (("name", key), ("value", value)):
            why = text_ok(text) or (f"{len(text)} chars" if len(text) > max_chars else None)
            if why:
                problems.append(f"field {what} {str(key)[:40]!r} {why}")
            elif CANARY_MARK in text:
                problems.append(f"field {key[:40]!r} holds the external entity's file")
    try:
        orjson.dumps(item.fields)
    except TypeError as exc:
        problems.append(f"orjson.dumps(fields): {exc}")
    return problems
