"""Windows XML exports: streamed per event, damage counted, entities never resolved."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from proctrail.store.events import Event, Skip
from proctrail.store.readers.base import ReaderError, ReadOptions
from proctrail.store.readers.xml import open_xml_export

ROOT = Path(__file__).resolve().parents[1]


def event(rid: int, cmd: str = "cmd.exe") -> str:
    return (
        '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
        '<Provider Name="Microsoft-Windows-Security-Auditing"/><EventID>4688</EventID>'
        f"<TimeCreated SystemTime='2024-03-01T10:00:00.{rid:07d}Z'/>"
        f"<EventRecordID>{rid}</EventRecordID><Channel>Security</Channel>"
        f"<Computer>WS1</Computer></System><EventData>"
        f'<Data Name="CommandLine">{cmd}</Data></EventData></Event>'
    )


def read(data: bytes | str) -> tuple[list[Event], list[Skip]]:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    items = list(open_xml_export(io.BytesIO(raw), "export.xml", ReadOptions()))
    return ([i for i in items if isinstance(i, Event)], [i for i in items if isinstance(i, Skip)])


def test_one_broken_event_is_skipped_and_the_rest_loads() -> None:
    text = "<Events>" + event(1) + event(2).replace("</Data>", "</Dta>") + event(3) + "</Events>"
    events, skips = read(text)
    assert [e.record_id for e in events] == [1, 3]
    assert [s.reason for s in skips] == ["XML error"] and "event 2" in skips[0].detail


def test_wevtutil_output_without_root_and_utf16_export() -> None:
    events, skips = read("\n".join(event(i) for i in range(1, 4)) + "\n")
    assert [e.record_id for e in events] == [1, 2, 3] and not skips
    utf16 = ('<?xml version="1.0" encoding="UTF-16"?>\n<Events>' + event(9, "ping ü")
             + "</Events>").encode("utf-16")
    events, _ = read(utf16)
    assert events[0].fields["CommandLine"] == "ping ü"


def test_events_split_across_read_chunks(tmp_path: Path) -> None:
    big = "<Events>" + "".join(event(i, "x" * 5000) for i in range(1, 400)) + "</Events>"
    events, skips = read(big)  # about 2.5 MB: several 1 MB reads
    assert len(events) == 399 and not skips


def test_truncated_export_keeps_complete_events() -> None:
    text = "<Events>" + event(1) + event(2)
    events, skips = read(text[: len(text) - 40])
    assert [e.record_id for e in events] == [1]
    assert [s.reason for s in skips] == ["truncated event"]


def test_external_and_expanding_entities_are_never_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    text = (f'<?xml version="1.0"?><!DOCTYPE Events [<!ENTITY xxe SYSTEM "file://{secret}">'
            '<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            "<Events>" + event(1, "&xxe;") + event(2, "&b;") + event(3, "ok") + "</Events>")
    events, skips = read(text)
    # The DTD is never parsed: references to its entities stay literal text.
    assert [e.fields["CommandLine"] for e in events] == ["&xxe;", "&b;", "ok"]
    assert not skips


def test_control_characters_survive_exactly() -> None:
    events, _ = read("<Events>" + event(1, "a&#x1b;[31mb&#1;c\x07d [b]e[/b]") + "</Events>")
    assert events[0].fields["CommandLine"] == "a\x1b[31mb\x01c\x07d [b]e[/b]"


@pytest.mark.parametrize("text", ["<html><body>hello</body></html>", "<Events></Events>"])
def test_xml_without_events_is_refused_with_its_name(text: str) -> None:
    with pytest.raises(ReaderError) as err:
        read(text)
    assert str(err.value) == "export.xml: no <Event> elements: not a Windows event XML export"
