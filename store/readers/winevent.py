"""Windows event records (from EVTX, XML exports or JSON) into one :class:`Event` shape.

Two input shapes arrive here: the JSON tree the Rust ``evtx`` parser and ``evtx_dump``
write, and an element tree (``xml.etree`` elements from an XML export, or the light
elements the python-evtx reader builds). Both end in :func:`make_event`, so every
Windows source is classified and keyed the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from proctrail.store.events import (
    EXECUTION_PID,
    PID_IN_HEADER,
    Event,
    canonical_channel,
    canonical_fields,
    classify,
    name_positional,
)
from proctrail.store.readers.base import INT32, as_text, parse_time, to_int


class ElementLike(Protocol):
    """What :func:`event_from_element` needs of an element (xml.etree's has it)."""

    tag: str
    attrib: Mapping[str, str]
    text: str | None

    def __iter__(self) -> Any: ...


def make_event(
    *,
    computer: str,
    channel: str,
    provider: str,
    event_id: int,
    record_id: int | None,
    ts_us: int | None,
    fields: dict[str, str],
    received_us: int | None = None,
    execution_pid: str | None = None,
) -> Event:
    """Build the normalized event: canonical channel, GUIDs, time fallback and kind.

    ``execution_pid`` (the header's ``Execution ProcessID``) is kept as a field only on the
    channels that name their process nowhere else (PowerShell's); the natural key does not
    read fields, so this changes no dedup.

    :class:`ValueError` for an event id that no event has (the store keeps an INTEGER).
    """
    if event_id not in INT32:
        raise ValueError(f"event id {event_id} out of range")
    channel = canonical_channel(channel or provider)
    canonical_fields(fields)
    if execution_pid and channel.lower() in PID_IN_HEADER:
        fields.setdefault(EXECUTION_PID, execution_pid)
    if ts_us is None:
        # A zero header time is unknown; Sysmon carries its own UTC time.
        ts_us = parse_time(fields.get("UtcTime"))
    return Event(
        host=computer.strip(),
        channel=channel,
        provider=provider,
        event_id=event_id,
        record_id=record_id,
        ts_us=ts_us,
        fields=fields,
        received_us=received_us,
        kind=classify(channel, provider, event_id),
    )


def _local(tag: str) -> str:
    """Tag without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]


# --- JSON shape (Rust evtx, evtx_dump -o jsonl) -------------------------------------------


def _json_text(value: Any) -> str:
    if isinstance(value, dict):
        if "#text" in value:
            return as_text(value["#text"])
        return ""
    return as_text(value)


def _json_flatten(node: Any, out: dict[str, str]) -> None:
    """UserData and nested elements: every leaf element becomes a field."""
    for key, value in node.items():
        if key.startswith("#"):
            continue
        if isinstance(value, dict):
            children = [k for k in value if not k.startswith("#")]
            if children:
                _json_flatten(value, out)
                continue
            _attributes_as_fields(key, value.get("#attributes", {}), out)
        out[key] = _json_text(value)


def _attributes_as_fields(tag: str, attrs: Mapping[str, Any], out: dict[str, str]) -> None:
    """A leaf element's attributes as ``Tag.attr`` fields (namespaces left out)."""
    for name, value in attrs.items():
        if not name.startswith("xmlns"):
            out[f"{tag}.{name}"] = as_text(value)


def json_fields(event: Mapping[str, Any], channel: str, event_id: int) -> dict[str, str]:
    """The named data of a JSON-rendered event (EventData or UserData)."""
    fields: dict[str, str] = {}
    data = event.get("EventData")
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "#attributes":
                continue
            if key == "Data":
                # Unnamed <Data> values: one, or a list, possibly behind "#text".
                raw = value.get("#text") if isinstance(value, dict) else value
                if raw is None or raw == "":
                    continue
                values = raw if isinstance(raw, list) else [raw]
                fields.update(name_positional(channel, event_id, [as_text(v) for v in values]))
            elif type(value) is str:  # the common case, kept cheap
                fields[key] = value
            else:
                fields[key] = _json_text(value)
    elif data not in (None, ""):
        fields.update(name_positional(channel, event_id, [as_text(data)]))
    user = event.get("UserData")
    if isinstance(user, dict):
        for container in user.values():
            if isinstance(container, dict):
                _json_flatten(container, fields)
    return fields


def event_from_json(record: Mapping[str, Any], header_time: str | None = None) -> Event:
    """An event from its JSON rendering: ``{"Event": {"System": ..., "EventData": ...}}``."""
    event = record.get("Event", record)
    system = event["System"]
    provider_node = system.get("Provider") or {}
    attrs = provider_node.get("#attributes", {}) if isinstance(provider_node, dict) else {}
    provider = as_text(attrs.get("Name") or attrs.get("EventSourceName"))
    eid = system.get("EventID")
    if isinstance(eid, dict):
        eid = eid.get("#text")
    event_id = to_int(eid)
    if event_id is None:
        raise ValueError(f"no EventID in record ({eid!r})")
    channel = as_text(system.get("Channel")) or provider
    created = system.get("TimeCreated")
    time_text = None
    if isinstance(created, dict):
        time_text = created.get("#attributes", {}).get("SystemTime")
    ts_us = parse_time(time_text) or parse_time(header_time)
    execution = system.get("Execution")
    pid = execution.get("#attributes", {}).get("ProcessID") \
        if isinstance(execution, dict) else None
    return make_event(
        computer=as_text(system.get("Computer")),
        channel=channel,
        provider=provider,
        event_id=event_id,
        record_id=to_int(system.get("EventRecordID")),
        ts_us=ts_us,
        fields=json_fields(event, channel, event_id),
        execution_pid=as_text(pid) if pid is not None else None,
    )


# --- element shape (XML exports, Sysmon for Linux, python-evtx) ---------------------------


def _element_text(elem: ElementLike) -> str:
    """All text of an element, as XML renders it (children's text included)."""
    parts: list[str] = [elem.text or ""]
    for child in elem:
        parts.append(_element_text(child))
        tail = getattr(child, "tail", None)
        if tail:
            parts.append(tail)
    return "".join(parts)


def _flatten_elements(elem: ElementLike, out: dict[str, str]) -> None:
    for child in elem:
        children = list(child)
        if children:
            _flatten_elements(child, out)
        else:
            tag = _local(child.tag)
            _attributes_as_fields(tag, child.attrib, out)
            out[tag] = child.text or ""


def element_fields(event: ElementLike, channel: str, event_id: int) -> dict[str, str]:
    """The named data of an ``<Event>`` element (EventData or UserData)."""
    fields: dict[str, str] = {}
    positional: list[str] = []
    for part in event:
        tag = _local(part.tag)
        if tag == "EventData":
            for data in part:
                name = data.attrib.get("Name")
                value = _element_text(data)
                if _local(data.tag) == "Data" and not name:
                    positional.append(value)
                else:
                    fields[name or _local(data.tag)] = value
        elif tag == "UserData":
            for container in part:
                _flatten_elements(container, fields)
    if positional and any(positional):
        fields.update(name_positional(channel, event_id, positional))
    return fields


def event_from_element(event: ElementLike, received_us: int | None = None) -> Event:
    """An event from an ``<Event>`` element of any namespace."""
    system: ElementLike | None = None
    for part in event:
        if _local(part.tag) == "System":
            system = part
            break
    if system is None:
        raise ValueError("no <System> element")
    values: dict[str, ElementLike] = {_local(child.tag): child for child in system}
    provider_el = values.get("Provider")
    provider = ""
    if provider_el is not None:
        provider = provider_el.attrib.get("Name") or provider_el.attrib.get("EventSourceName", "")
    eid_el = values.get("EventID")
    event_id = to_int(eid_el.text) if eid_el is not None else None
    if event_id is None:
        raise ValueError("no EventID in record")
    channel_el = values.get("Channel")
    channel = canonical_channel((channel_el.text or "") if channel_el is not None else provider)
    created = values.get("TimeCreated")
    ts_us = parse_time(created.attrib.get("SystemTime")) if created is not None else None
    rid_el = values.get("EventRecordID")
    computer_el = values.get("Computer")
    execution = values.get("Execution")
    return make_event(
        computer=(computer_el.text or "") if computer_el is not None else "",
        channel=channel,
        provider=provider,
        event_id=event_id,
        record_id=to_int(rid_el.text) if rid_el is not None else None,
        ts_us=ts_us,
        fields=element_fields(event, channel, event_id),
        received_us=received_us,
        execution_pid=execution.attrib.get("ProcessID") if execution is not None else None,
    )
