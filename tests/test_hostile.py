"""Attacker-controlled event text, on SQLite and PostgreSQL: stored exactly, shown
literally, exported exactly, and no XML entity ever resolved.

The logs' fields hold Rich markup (``[bold red]x[/]``, ``[link=...]``, an unbalanced
``[/]``), ANSI CSI and OSC sequences (titles, OSC 8 hyperlinks), every C0 and C1 control
character, NUL (as ``&#x0;`` and raw), PostgreSQL's own NUL escape character as data,
private-use characters, bidi overrides, characters outside the BMP and a 1 MB command
line. They go through ingest (``events.data`` and the process and session columns read
back exactly), the TUI driven by Pilot (overview, sessions, search, process tree,
details, stacking, bookmark, findings and their export, the notice naming an unreadable
file), every CLI export (processes, sessions and findings as JSON lines and CSV,
``tree``) and the TUI's findings export (Markdown, JSON, CSV).

What "literally" means, checked on every screen: each piece shows as
:func:`~proctrail.widgets.safe.printable` spells it (control characters as ``\\x1b``,
invisible reordering characters as ``\\u202e``), markup stays text, and what the terminal
receives is colours and cursor moves only, never an OSC (title, hyperlink), another CSI,
BEL, NUL or C1 byte. JSON exports give back the exact strings; CSV too, but for the
documented ``'`` before a formula-like cell; Markdown and ``tree`` text hold no control
character and no markup that a renderer would act on.

Invalid UTF-16 in binary EVTX: an unpaired surrogate is not a character and cannot be
stored as text (neither database takes it). The Rust parser drops it and the rest of the
value is kept; the python-evtx path does the same (it used to refuse the whole record),
so both parsers store the same text, and "stored exactly" means exactly that text.
"""

from __future__ import annotations

import csv
import io
import json
import re
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import event_xml
from markdown_it import MarkdownIt
from rich.console import Console
from sqlalchemy import select, text
from test_tui import screen_text, settle
from textual.widgets._toast import Toast

from proctrail.app.cli import main
from proctrail.app.screens.detail import DetailScreen
from proctrail.app.screens.findings import FindingsScreen
from proctrail.app.screens.lists import ProcessListScreen, SearchScreen
from proctrail.app.screens.stacking import StackingScreen
from proctrail.app.screens.tree import TreeScreen
from proctrail.app.tui import ProctrailApp
from proctrail.generate.evtx_writer import CHUNK_SIZE, EvtxRecord, EvtxWriter
from proctrail.store.correlate import correlate
from proctrail.store.db import open_engine
from proctrail.store.findings import add_finding
from proctrail.store.ingest import Ingestor
from proctrail.store.models import PG_ESC, Base, EventRow, Host
from proctrail.store.queries import browse, export_processes, export_sessions
from proctrail.store.queries.findings import list_findings
from proctrail.store.readers.base import ReadOptions
from proctrail.store.readers.evtx_python import open_evtx_python
from proctrail.store.readers.evtx_rust import open_evtx_rust
from proctrail.store.text import DISPLAY_MAX, printable

# --- the hostile pieces ------------------------------------------------------------------

MARKUP = "[bold red]x[/]"
LINK = "[link=http://evil]y[/link]"
UNBALANCED = "[/]"  # Rich markup that raises if parsed
CSI = "\x1b[31m\x1b[2J\x1b[6n"  # colour, clear screen, device status report
OSC = "\x1b]0;title\x07"  # window title
OSC8 = "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\"  # hyperlink
C0 = "".join(map(chr, range(1, 32)))  # tab, newline and CR included
C1 = "\x7f" + "".join(map(chr, range(0x80, 0xA0)))
NUL = "\x00"
ASTRAL = "😀𝄞\U000e0041"
PG_LOOKALIKE = PG_ESC + "0" + PG_ESC + PG_ESC  # PostgreSQL's NUL escape, as data
STAND_INS = "\uf71b\uf700"  # private use (where the XML reader parks controls)
NONCHARACTERS = "\ufffe\uffff"  # characters XML refuses, even as references
BIDI = "\u202egnp.exe\u2066\u200b\ufeff\u2028"

IMAGE = "C:\\Users\\Public\\" + MARKUP + UNBALANCED + CSI + NUL + LINK + ASTRAL + ".exe"
PARENT_IMAGE = "C:\\" + LINK + OSC + ".exe"
COMMAND = ("cmd /c " + MARKUP + UNBALANCED + LINK + CSI + OSC + OSC8 + C0 + C1 + NUL + ASTRAL
           + PG_LOOKALIKE + STAND_INS + NONCHARACTERS + BIDI + " & echo <x> &amp; =1+1\n~~~~\n"
           + "![i](http://evil/t.png) <img src=x> *em*")
USER_NAME = LINK + OSC + UNBALANCED
DOMAIN = "CORP" + CSI
HOST = "ws[bold]1[/]" + UNBALANCED + "\x1b[2J\x07" + BIDI[:1]
BIG_IMAGE = "C:\\Windows\\Temp\\big" + OSC + MARKUP + ".exe"
BIG = ('=HYPERLINK("http://evil") ' + MARKUP + CSI + NUL + "A" * (1 << 20) + OSC8 + "TAIL")
NOTE = "note " + MARKUP + UNBALANCED + LINK + CSI + OSC + NUL + "\n# heading <b>"
GUID = "{11111111-2222-3333-4444-555555555555}"
SYSMON = "Microsoft-Windows-Sysmon/Operational"

LOGON = {"TargetUserName": USER_NAME, "TargetDomainName": DOMAIN, "TargetLogonId": "0x1234",
         "LogonType": "10", "IpAddress": LINK, "WorkstationName": OSC8 + NUL,
         "AuthenticationPackageName": MARKUP + UNBALANCED}
START = {"NewProcessId": "0x100", "NewProcessName": IMAGE, "ProcessId": "0x4",
         "ParentProcessName": PARENT_IMAGE, "CommandLine": COMMAND,
         "SubjectUserName": USER_NAME, "SubjectDomainName": "CORP",
         "SubjectLogonId": "0x1234", "MandatoryLabel": OSC8}
CHILD = {"UtcTime": "2024-05-01 10:00:02.000", "ProcessGuid": GUID, "ProcessId": "600",
         "Image": BIG_IMAGE, "CommandLine": BIG, "CurrentDirectory": "C:\\" + MARKUP + "\\",
         "User": "CORP\\" + USER_NAME, "LogonId": "0x1234", "IntegrityLevel": OSC8,
         "Hashes": "SHA256=" + LINK, "ParentProcessId": "256", "ParentImage": IMAGE,
         "ParentCommandLine": COMMAND}
END = {"ProcessId": "0x100", "ProcessName": IMAGE, "SubjectUserName": USER_NAME,
       "SubjectDomainName": "CORP", "SubjectLogonId": "0x1234", "Status": "0x0"}
EVENTS = {4624: LOGON, 4688: START, 1: CHILD, 4689: END}
USER = "CORP\\" + USER_NAME

# The control characters no screen, Markdown or tree text may hold (newline and tab are
# layout there).
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def xml_text(value: str, raw: bool) -> str:
    """``value`` as XML element text: ``&``, ``<`` and ``>`` escaped, control characters as
    character references (or raw, as some exporters write them; CR always as a reference,
    since XML turns a raw one into a newline)."""
    special = "[&<>\r]" if raw else "[&<>\x00-\x08\x0b-\x1f]"
    return re.sub(special, lambda m: {"&": "&amp;", "<": "&lt;", ">": "&gt;"}.get(
        m.group(), f"&#x{ord(m.group()):x};"), value)


def hostile_export(xml_log) -> Path:
    """A logon, a 4688 and its 4689, and a Sysmon 1 child with a 1 MB command line."""
    ev = xml_log.event

    def event(eid: int, rid: int, second: int, raw: bool, **kw: str) -> str:
        data = {k: xml_text(v, raw) for k, v in EVENTS[eid].items()}
        return ev(eid, rid, f"2024-05-01T10:00:0{second}Z", data, host=xml_text(HOST, raw),
                  **kw)

    return xml_log("hostile.xml", [
        event(4624, 1, 0, raw=False), event(4688, 2, 1, raw=True),
        event(1, 3, 2, raw=False, channel=SYSMON, provider="Microsoft-Windows-Sysmon"),
        event(4689, 4, 5, raw=True)])


@pytest.fixture
def hostile(case_of, xml_log):
    """The hostile export, ingested and correlated: ``(engine, parent id, child id,
    session id)``."""
    engine = case_of(hostile_export(xml_log))
    rows = {r["pid"]: r for r in export_processes(engine)}
    (session,) = [s for s in export_sessions(engine) if s["logon_id"] == "0x1234"]
    return engine, rows[256]["id"], rows[600]["id"], session["id"]


def stored_text(engine) -> str:
    """Every row of every table, as one string (for "appears nowhere" checks)."""
    out = []
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            out.extend(repr(tuple(r)) for r in conn.execute(select(table)))
    return "\n".join(out)


# --- ingest --------------------------------------------------------------------------------


def test_ingest_stores_every_hostile_field_exactly(hostile) -> None:
    engine, parent_id, child_id, session_id = hostile
    with engine.connect() as conn:
        stored = {r.event_id: orjson.loads(r.data) for r in conn.execute(
            select(EventRow.event_id, EventRow.data))}
        hosts = list(conn.execute(select(Host.name)).scalars())
    assert stored == EVENTS
    assert hosts == [HOST]

    # Through the query layer: the process and session columns, NUL included.
    parent = browse.process_detail(engine, parent_id)
    assert (parent.fields["image"], parent.fields["command_line"], parent.fields["user"],
            parent.fields["integrity"], parent.row.host) == (IMAGE, COMMAND, USER, OSC8, HOST)
    assert [s["fields"] for s in parent.sources] == [START, END]
    child = browse.process_detail(engine, child_id)
    assert (child.fields["image"], child.fields["command_line"], child.fields["cwd"],
            child.fields["hashes"], child.fields["integrity"], child.fields["user"],
            child.fields["parent_image"]) == (
        BIG_IMAGE, BIG, CHILD["CurrentDirectory"], CHILD["Hashes"], OSC8, USER, IMAGE)
    assert child.row.parent_id == parent_id and child.row.session_id == session_id
    session = browse.session_row(engine, session_id)
    assert (session.user, session.source_ip, session.workstation) == (
        DOMAIN + "\\" + USER_NAME, LINK, OSC8 + NUL)
    # Search finds the text it holds, markup and escapes included.
    assert [r.id for r in browse.search(engine, MARKUP + UNBALANCED + CSI)] == [parent_id]

    if engine.dialect.name == "postgresql":
        # PostgreSQL's text cannot hold NUL: the column keeps an escape, read back exactly.
        with engine.connect() as conn:
            raw = conn.execute(text("SELECT image, command_line FROM processes WHERE id = :i"),
                               {"i": parent_id}).one()
        assert "\x00" not in raw.image and PG_ESC + "0" in raw.image
        assert PG_ESC + PG_ESC + "0" in raw.command_line  # the look-alike, escaped itself


def test_nul_in_a_host_name_is_stored(case_of, xml_log) -> None:
    host = "ws1" + NUL + "\x1b[2J"
    log = xml_log("nul-host.xml", [xml_log.event(4688, 1, "2024-05-01T10:00:00Z", {
        "NewProcessId": "0x10", "NewProcessName": "C:\\a.exe", "ProcessId": "0x4",
        "SubjectLogonId": "0x3e7"}, host=xml_text(host, raw=False))])
    engine = case_of(log)
    assert [r["host"] for r in export_processes(engine)] == [host, host]


# --- the TUI -------------------------------------------------------------------------------


def terminal_stream(app) -> str:
    """What the terminal would receive for the whole current screen."""
    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(),
                      force_terminal=True, color_system="truecolor", legacy_windows=False,
                      safe_box=False)
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens))
    return console.file.getvalue()


def squash(value: str) -> str:
    """Text without whitespace: wrapping a long value only moves or drops spaces."""
    return re.sub(r"\s+", "", value)


def shown(app) -> str:
    """The screen's text, checked harmless: the terminal gets SGR colours and cursor moves
    and nothing else (no OSC title or hyperlink, no other CSI, no BEL, NUL or C1), and the
    screenshot holds no control character and no link."""
    stream = terminal_stream(app)
    rest = re.sub(r"\x1b\[[0-9;]*[mH]", "", stream)
    assert not RAW_CONTROL.search(rest), repr(
        rest[max(0, RAW_CONTROL.search(rest).start() - 40):][:80])
    svg = app.export_screenshot()
    assert not RAW_CONTROL.search(svg) and "href" not in svg
    return screen_text(app)


def detail_text(app) -> str:
    """The whole of the detail screen's body as the terminal would get it, beyond the part
    on screen, checked harmless like :func:`shown`."""
    console = Console(width=app.size.width - 2, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", legacy_windows=False)
    for part in ("#content", "#activity", "#sources"):  # the detail's three bodies
        console.print(app.screen.query_one(part).content)
    stream = console.file.getvalue()
    rest = re.sub(r"\x1b\[[0-9;]*m", "", stream)
    assert not RAW_CONTROL.search(rest)
    return rest


def visible(value: str) -> str:
    """``value`` as a screen shows it, without whitespace (see :func:`squash`)."""
    return squash(printable(value, keep_newlines=True))


async def test_tui_shows_hostile_text_literally(hostile, tmp_path: Path, monkeypatch) -> None:
    engine, parent_id, child_id, session_id = hostile
    monkeypatch.chdir(tmp_path)
    name = IMAGE.rsplit("\\", 1)[-1]
    app = ProctrailApp(engine)
    async with app.run_test(size=(160, 50), notifications=True) as pilot:
        await settle(pilot)
        assert visible(HOST) in squash(shown(app))  # the overview's host line

        await pilot.press("2")
        await settle(pilot)
        assert visible(USER_NAME) in squash(shown(app))  # the sessions table

        app.open_search("public")
        await settle(pilot)
        assert isinstance(app.screen, SearchScreen)
        assert visible(name) in squash(shown(app))

        app.open_tree(session=session_id)
        await settle(pilot)
        await pilot.press("e")  # every level open
        await settle(pilot)
        assert isinstance(app.screen, TreeScreen)
        text = squash(shown(app))
        assert visible(name) in text and visible(BIG_IMAGE.rsplit("\\", 1)[-1]) in text
        assert visible(USER) in text and visible(DOMAIN + "\\" + USER_NAME) in text
        app.open_tree(host=HOST)  # the host's tree names the host in its title
        await settle(pilot)
        assert visible(HOST) in squash(shown(app))

        app.open_detail(parent_id)
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        text = squash(shown(app))
        for value in (IMAGE, COMMAND, USER, PARENT_IMAGE, HOST):
            assert visible(value) in text, value

        # The 1 MB command line: its first DISPLAY_MAX characters, a note, no freeze.
        began = time.perf_counter()
        app.open_detail(child_id)
        await settle(pilot)
        opened = time.perf_counter() - began
        assert visible(BIG[:200]) in squash(shown(app))
        body = squash(detail_text(app))
        # In the fields, the command line section and the Sysmon event's fields alike.
        assert body.count(visible(BIG[:DISPLAY_MAX]) + squash(
            f"… [cut: the first {DISPLAY_MAX:,} of {len(BIG):,} characters; exports hold "
            "them all]")) == 3
        assert visible(BIG[-100:]) not in body
        began = time.perf_counter()
        await pilot.press("end")
        await settle(pilot)
        scrolled = time.perf_counter() - began
        shown(app)
        # About 1 s each here (the detail took 8-10 s when it wrapped the whole megabyte).
        assert opened < 5 and scrolled < 5, (opened, scrolled)

        # Bookmark it: the dialog and the notification name it literally.
        app.open_detail(parent_id)
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        assert visible(name) in squash(shown(app))
        app.screen.query_one("#note").value = NOTE
        await pilot.press("enter")
        await settle(pilot)
        shown(app)  # the toast is on screen, harmless
        toasts = [t.render().plain for t in app.screen.query(Toast)]
        assert toasts == [f"Finding saved\nbookmarked {printable(name)} (256) on "
                          f"{printable(HOST)}"]
        app.clear_notifications()

        # Stacking: the 1 MB command line as a row, and the list of its processes.
        began = time.perf_counter()
        await pilot.press("4")
        await settle(pilot)
        assert isinstance(app.screen, StackingScreen)
        app.screen.query_one("#stacks").active = "tab-command_line"
        await settle(pilot)
        stacked = time.perf_counter() - began
        text = squash(shown(app))
        assert visible(COMMAND[:40]) in text and visible(BIG[:40]) in text
        assert stacked < 5, stacked
        table = app.screen.query_one("#stack-command_line")
        table.focus()
        row = next(i for i, v in enumerate(app.screen.values["command_line"].values())
                   if v == COMMAND)
        table.move_cursor(row=row)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ProcessListScreen)
        assert visible(COMMAND[:30]) in squash(shown(app))  # in the title

        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, FindingsScreen)
        assert squash(printable(NOTE[:60])) in squash(shown(app))  # one line in a table
        for fmt in ("md", "json", "csv"):
            await pilot.press("x")
            await settle(pilot)
            if fmt != "md":
                app.screen.query_one("#format").value = fmt
                await pilot.pause()
            app.screen.query_one("#path").focus()
            await pilot.press("enter")
            await settle(pilot)
            shown(app)

    (finding,) = list_findings(engine)
    assert (finding.note, finding.host, finding.process_id) == (NOTE, HOST, parent_id)
    check_findings_json(json.loads((tmp_path / "proctrail-findings.json").read_text()),
                        parent_id)
    check_findings_csv((tmp_path / "proctrail-findings.csv").read_bytes().decode())
    check_findings_markdown((tmp_path / "proctrail-findings.md").read_text(encoding="utf-8"))


async def test_opening_names_unreadable_input_literally(db_url: str, tmp_path: Path) -> None:
    # A file name (an archive member's too) is the attacker's: Textual markup in it would
    # become a click action ("[@click=app.quit]") or vanish ("[$x]").
    logs = tmp_path / "logs"
    logs.mkdir()
    bad = logs / ("[@click=app.quit]x[$x]" + OSC + MARKUP.replace("/", "") + ".xml")
    bad.write_text("<Events></Events>")
    app = ProctrailApp(open_engine(db_url), ingest=[str(logs)])
    async with app.run_test(size=(160, 50), notifications=True) as pilot:
        for _ in range(50):
            await settle(pilot)
            if app.query(Toast) or app.screen.query(Toast):
                break
        shown(app)
        toasts = [t.render().plain for t in app.screen.query(Toast)]
    assert toasts == [f"Some input could not be read\n{printable(bad)}: no <Event> elements: "
                      "not a Windows event XML export"]


# --- exports -------------------------------------------------------------------------------


FORMULA = ("=", "+", "-", "@", "\t", "\r")


def uncell(value: str) -> str:
    """A CSV cell as written: the ``'`` a formula-like cell gets, taken off."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA) else value


def read_csv(body: str) -> list[dict[str, str]]:
    limit = csv.field_size_limit(1 << 24)  # the 1 MB command line is one cell
    try:
        rows = list(csv.DictReader(io.StringIO(body, newline="")))
    finally:
        csv.field_size_limit(limit)
    for row in rows:
        for key, value in row.items():
            assert not value.startswith(FORMULA), (key, value[:40])
    return [{k: uncell(v) for k, v in row.items()} for row in rows]


def check_findings_json(records: list[dict[str, Any]], parent_id: int) -> None:
    (r,) = records
    assert (r["note"], r["host"]) == (NOTE, HOST)
    p = r["process"]
    assert (p["id"], p["image"], p["command_line"], p["user"], p["host"]) == (
        parent_id, IMAGE, COMMAND, USER, HOST)
    assert [a["image"] for a in r["ancestors"]] == [PARENT_IMAGE]  # PID 4, from its child
    assert r["session"]["user"] == DOMAIN + "\\" + USER_NAME
    assert r["session"]["source_ip"] == LINK
    assert [e["fields"] for e in r["evidence"]] == [START, END]


def check_findings_csv(body: str) -> None:
    (row,) = read_csv(body)
    assert (row["note"], row["host"], row["image"], row["user"], row["command_line"],
            row["session_user"], row["source_ip"]) == (
        NOTE, HOST, IMAGE, USER, COMMAND, DOMAIN + "\\" + USER_NAME, LINK)


def check_findings_markdown(body: str, findings: int = 1) -> None:
    assert not RAW_CONTROL.search(body.replace("\t", ""))
    md = MarkdownIt("commonmark")
    tokens = md.parse(body)
    kinds = {t.type for t in tokens} | {c.type for t in tokens for c in t.children or []}
    # Nothing from the logs became a link, an image, HTML or emphasis; a heading each.
    assert not kinds & {"link_open", "image", "html_inline", "html_block", "em_open",
                        "strong_open"}, kinds
    assert [t.tag for t in tokens if t.type == "heading_open"] == ["h1"] + ["h2"] * findings
    rendered = md.render(body)
    assert "<a " not in rendered and "<img" not in rendered and "<b>" not in rendered
    # The text reads as printable() spells it, in the code blocks and inline alike.
    code = [t.content for t in tokens if t.type == "fence"]
    assert any(printable(COMMAND, keep_newlines=True) in c for c in code)
    assert any(printable(f"CommandLine: {COMMAND}", keep_newlines=True) in c for c in code)
    assert any(printable(IMAGE) in c for c in code)  # the ancestor chain
    inline = " ".join(t.content for t in tokens if t.type == "inline")
    plain = " ".join(c.content for t in tokens for c in t.children or [] if c.type == "text")
    assert printable(NOTE) in plain, inline[:400]
    assert printable(IMAGE.rsplit("\\", 1)[-1]) in plain
    assert printable(DOMAIN + "\\" + USER_NAME) in plain


def run_cli(capsys, *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_every_export_gives_back_the_exact_text(hostile, db_url: str, tmp_path: Path,
                                                capsys) -> None:
    engine, parent_id, child_id, session_id = hostile
    add_finding(engine, "process", parent_id, note=NOTE, severity="high")
    add_finding(engine, "session", session_id, note=NOTE + " (session)")
    run_cli(capsys, "detect", "--db", db_url)  # the built-in rules (Temp, encoded...)
    expected = {256: {"image": IMAGE, "command_line": COMMAND, "user": USER, "host": HOST,
                      "parent_image": PARENT_IMAGE, "integrity": OSC8},
                600: {"image": BIG_IMAGE, "command_line": BIG, "user": USER, "host": HOST,
                      "cwd": CHILD["CurrentDirectory"], "hashes": CHILD["Hashes"],
                      "integrity": OSC8, "parent_image": IMAGE}}
    session = {"user": DOMAIN + "\\" + USER_NAME, "source_ip": LINK,
               "workstation": OSC8 + NUL, "auth_package": MARKUP + UNBALANCED, "host": HOST}

    def written(*argv: str) -> str:
        out = tmp_path / "export.out"
        run_cli(capsys, "export", *argv, "--db", db_url, "--out", str(out))
        return out.read_bytes().decode("utf-8")  # CR in a CSV cell is data

    def lines(body: str) -> list[dict[str, Any]]:
        # JSON lines end at "\n" only: U+2028 and C1's NEL stay raw inside strings (valid
        # JSON), so str.splitlines() is not the way to read them.
        assert body.endswith("\n")
        return [json.loads(line) for line in body[:-1].split("\n")]

    records = lines(written("processes"))
    by_pid = {r["pid"]: r for r in records}
    for pid, fields in expected.items():
        assert {k: by_pid[pid][k] for k in fields} == fields
    rows = {int(r["pid"]): r for r in read_csv(written("processes", "--format", "csv"))}
    for pid, fields in expected.items():
        assert {k: rows[pid][k] for k in fields} == fields
        assert json.loads(rows[pid]["sources"]) == by_pid[pid]["sources"]

    (s,) = [r for r in lines(written("sessions")) if r["logon_id"] == "0x1234"]
    assert {k: s[k] for k in session} == session
    (s,) = [r for r in read_csv(written("sessions", "--format", "csv"))
            if r["logon_id"] == "0x1234"]
    assert {k: s[k] for k in session} == session

    findings = lines(written("findings"))
    assert {(f["kind"], f["summary"], f["host"]) for f in findings if f["kind"] == "bookmark"
            } == {("bookmark", NOTE, HOST), ("bookmark", NOTE + " (session)", HOST)}
    assert {f["kind"] for f in findings} == {"bookmark", "rule", "anomaly"}
    assert {(f["process_id"], f["host"]) for f in findings if f["kind"] == "rule"} == {
        (parent_id, HOST), (child_id, HOST)}  # run from Public, and from Windows\Temp
    rows = read_csv(written("findings", "--format", "csv"))
    assert sorted((r["kind"], r["summary"], r["host"]) for r in rows) == sorted(
        (f["kind"], f["summary"], f["host"]) for f in findings)

    # The TUI's findings export, each format (the Pilot test drives the dialog).
    from proctrail.app.output.findings import write_findings
    for fmt in ("md", "json", "csv"):
        assert write_findings(engine, fmt, tmp_path / f"f.{fmt}") == len(findings)
    bookmarks = [r for r in json.loads((tmp_path / "f.json").read_text())
                 if r["note"] == NOTE]
    check_findings_json(bookmarks, parent_id)
    for r in json.loads((tmp_path / "f.json").read_text()):  # rule findings too
        assert all(e["fields"] in (START, END, CHILD) for e in r["evidence"])
    check_findings_markdown((tmp_path / "f.md").read_text(encoding="utf-8"), len(findings))
    assert len(read_csv((tmp_path / "f.csv").read_bytes().decode())) == len(findings)

    # pstree-like text: literal, no control character, the name as the TUI spells it.
    for argv in (("--session", str(session_id)), ("--process", str(child_id), "--ancestors")):
        out = run_cli(capsys, "tree", "--db", db_url, *argv)
        assert not RAW_CONTROL.search(out)
        assert printable(IMAGE.rsplit("\\", 1)[-1]) in out
        assert printable(BIG_IMAGE.rsplit("\\", 1)[-1]) in out
        assert printable(USER) in out


# --- XML entities --------------------------------------------------------------------------


def test_xml_entities_are_never_resolved(case_of, tmp_path: Path, db_url: str,
                                         capsys) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-4f1c\n")
    passwd = Path("/etc/passwd").read_text().splitlines()[0]
    laughs = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    dtd = (f'<!DOCTYPE Events [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
           f'<!ENTITY secret SYSTEM "file://{secret}"><!ENTITY lol0 "lol">{laughs}'
           f'<!ENTITY % ext SYSTEM "file://{secret}"> %ext;]>')
    def start(rid: int, fields: dict[str, str]) -> str:
        return event_xml(4688, rid, f"2024-05-01T10:00:0{rid}Z", {
            "NewProcessId": hex(0x100 + rid), "ProcessId": "0x4", "SubjectLogonId": "0x3e7",
            **fields})
    saved = tmp_path / "saved.xml"  # Event Viewer's "Save as XML": one <Events> root
    saved.write_text('<?xml version="1.0" encoding="UTF-8"?>' + dtd + "<Events>" + start(1, {
        "NewProcessName": "C:\\&lol9;.exe", "CommandLine": "type &xxe; &secret;"}) + start(2, {
        "NewProcessName": "C:\\x.exe",
        "CommandLine": '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                       f'href="file://{secret}" parse="text"/>&amp;xxe;'}) + "</Events>")
    queried = tmp_path / "queried.xml"  # wevtutil qe /f:xml: events with no root
    queried.write_text(dtd.replace("Events", "Event", 1) + start(3, {
        "NewProcessName": "C:\\&secret;.exe", "CommandLine": "&xxe;&lol9;"}))
    began = time.perf_counter()
    engine = case_of(saved, queried)
    assert time.perf_counter() - began < 10  # nothing expanded a billion laughs

    with engine.connect() as conn:
        fields = [orjson.loads(d) for d in conn.execute(
            select(EventRow.data).order_by(EventRow.record_id)).scalars()]
    assert [(f["NewProcessName"], f["CommandLine"]) for f in fields] == [
        ("C:\\&lol9;.exe", "type &xxe; &secret;"), ("C:\\x.exe", "&xxe;"),
        ("C:\\&secret;.exe", "&xxe;&lol9;")]
    found = {r["pid"]: r for r in export_processes(engine)}
    assert found[0x103]["image"] == "C:\\&secret;.exe"
    exported = run_cli(capsys, "export", "processes", "--db", db_url) + run_cli(
        capsys, "export", "processes", "--db", db_url, "--format", "csv")
    for text_ in (stored_text(engine), exported):
        assert "TOP-SECRET" not in text_ and passwd not in text_
        assert "lollollol" not in text_


def test_xml_references_to_what_xml_refuses_keep_the_event(case_of, xml_log) -> None:
    # A reference to a surrogate, U+FFFE or U+FFFF is not well-formed XML: the event used
    # to be a counted skip, so one such reference in a command line hid the process start.
    # Surrogates are dropped (as in EVTX), the others kept; in CDATA "&#x1b;" is text.
    log = xml_log("refs.xml", [xml_log.event(4688, 1, "2024-05-01T10:00:00Z", {
        "NewProcessId": "0x10", "NewProcessName": "C:\\a&#xD800;b&#56320;.exe",
        "ProcessId": "0x4", "SubjectLogonId": "0x3e7",
        "CommandLine": "x&#xFFFE;&#65535;\ufffe<![CDATA[&#x1b;<b>&amp;]]>&#x1b;"})])
    engine = case_of(log)
    with engine.connect() as conn:
        (data,) = conn.execute(select(EventRow.data)).scalars()
    fields = orjson.loads(data)
    assert (fields["NewProcessName"], fields["CommandLine"]) == (
        "C:\\ab.exe", "x\ufffe\uffff\ufffe&#x1b;<b>&amp;\x1b")


# --- invalid UTF-16 in binary EVTX ---------------------------------------------------------

HIGH, LOW = "\ue000", "\ue001"  # written as stand-ins, patched into lone surrogates


def lone_surrogate_evtx(path: Path) -> None:
    """A 4688 whose image and command line hold unpaired surrogates (D800 alone, DC00
    alone, reversed pair, one at the end), beside controls, markup and a valid pair."""
    with EvtxWriter(path) as writer:
        writer.write(EvtxRecord(
            4688, 1_714_557_600_000_000, "Security", "Microsoft-Windows-Security-Auditing",
            "WS" + MARKUP + "\x1b[2J",
            [("NewProcessId", "0x100"), ("NewProcessName", "C:\\a" + HIGH + "b" + LOW + ".exe"),
             ("ProcessId", "0x4"), ("SubjectUserName", "bob" + HIGH),
             ("SubjectLogonId", "0x3e7"),
             ("CommandLine", LOW + HIGH + "cmd " + MARKUP + CSI + OSC + ASTRAL + C1 + HIGH)],
            provider_guid="{54849625-5478-4994-a5ba-3e3b0328c30d}"))
    data = bytearray(path.read_bytes())
    for stand_in, unit in ((HIGH, b"\x00\xd8"), (LOW, b"\x00\xdc")):
        data = data.replace(stand_in.encode("utf-16-le"), unit)
    for chunk in range(4096, len(data), CHUNK_SIZE):  # the chunk's checksums again
        free = struct.unpack_from("<I", data, chunk + 48)[0]
        struct.pack_into("<I", data, chunk + 52, zlib.crc32(data[chunk + 512:chunk + free]))
        struct.pack_into("<I", data, chunk + 124, zlib.crc32(
            data[chunk:chunk + 120] + data[chunk + 128:chunk + 512]))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("parser", ["evtx", "python-evtx"])
def test_invalid_utf16_in_evtx_is_dropped_alike_and_never_crashes(
        db_url: str, tmp_path: Path, parser: str) -> None:
    path = tmp_path / "lone.evtx"
    lone_surrogate_evtx(path)
    assert b"\x00\xd8" in path.read_bytes()
    events = []
    for opener in (open_evtx_rust, open_evtx_python):
        with open(path, "rb") as stream:
            events.append(list(opener(stream, str(path))))
    assert events[0] == events[1]  # both parsers read the same text
    engine = open_engine(db_url)
    report = Ingestor(engine, ReadOptions(parser=parser)).run([str(path)])
    assert report.total("stored") == 1 and not report.skipped
    correlate(engine)
    with engine.connect() as conn:
        (data,) = conn.execute(select(EventRow.data)).scalars()
    fields = orjson.loads(data)
    command = "cmd " + MARKUP + CSI + OSC + ASTRAL + C1
    assert (fields["NewProcessName"], fields["SubjectUserName"], fields["CommandLine"]) == (
        "C:\\ab.exe", "bob", command)
    (p,) = [r for r in export_processes(engine) if r["pid"] == 0x100]
    assert (p["image"], p["command_line"], p["user"], p["host"]) == (
        "C:\\ab.exe", command, "bob", "WS" + MARKUP + "\x1b[2J")
    assert fields == events[0][0].fields
