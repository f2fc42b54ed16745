"""``proctrail report``: the case in one document, Markdown and HTML, on SQLite and
PostgreSQL.

The demo case, after detection and one analyst bookmark, is written both ways through
the CLI; each document is parsed back (markdown-it with GitHub's table and link rules;
``html.parser``) and must hold the scope (every source file and its SHA-256, every host,
the time span), every finding (most severe first) with its note, its chain under its
logon session (user, logon type, source address, as the store has them) and the raw
evidence (file, record id). The HTML is also rendered by headless Chromium (the DOM it
builds, and a printed PDF). A finding on hostile text (markup, HTML, ANSI escapes,
pipes, backticks) comes out as text in both formats.
"""

from __future__ import annotations

import contextlib
import html as html_module
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, correlated_case
from markdown_it import MarkdownIt
from sqlalchemy import select

from proctrail.app.cli import main
from proctrail.store.db import open_engine
from proctrail.store.detect.run import detect
from proctrail.store.findings import SEVERITIES, add_finding
from proctrail.store.models import Source
from proctrail.store.queries import export_processes, export_sessions, stats
from proctrail.store.queries.browse import process_detail
from proctrail.store.queries.findings import list_findings
from proctrail.store.text import printable
from proctrail.store.timefmt import clock

NOTE = "Encoded download cradle | from Q3-invoice.docm, see `IEX` *now*"
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
CHROMIUM = "/usr/bin/chromium"


# --- the documents, reduced to one shape -----------------------------------------------


@dataclass
class Finding:
    heading: str
    text: str  # everything the finding shows, as text
    chain: list[tuple[int, str]]  # (depth, line), the session first


@dataclass
class Document:
    scope: str  # scope and anomalies, as text
    findings: list[Finding] = field(default_factory=list)


def _inline_text(token: Any) -> str:
    return "".join(c.content for c in token.children or []
                   if c.type in ("text", "code_inline"))


def markdown_document(body: str) -> Document:
    """The Markdown as GitHub reads it (tables, autolinks): nothing from the logs may be
    a link, an image, HTML or emphasis."""
    md = MarkdownIt("gfm-like")
    tokens = md.parse(body)
    kinds = {t.type for t in tokens} | {c.type for t in tokens for c in t.children or []}
    assert not kinds & {"link_open", "image", "html_inline", "html_block", "em_open",
                        "strong_open", "s_open"}, kinds
    rendered = md.render(body)
    assert "<a " not in rendered and "<img" not in rendered and "<script" not in rendered
    doc = Document(scope="")
    current: Finding | None = None
    in_findings = chain_next = False
    for i, t in enumerate(tokens):
        if t.type == "heading_open":
            title = _inline_text(tokens[i + 1])
            if t.tag == "h2":
                in_findings = title == "Findings"
            if t.tag == "h3" and in_findings:
                current = Finding(title, title, [])
                doc.findings.append(current)
            continue
        text = _inline_text(t) if t.type == "inline" else t.content if t.type == "fence" \
            else ""
        if not text:
            continue
        if current is None:
            doc.scope += text + "\n"
            continue
        current.text += "\n" + text
        if t.type == "fence" and chain_next:
            for line in text.rstrip("\n").split("\n"):
                indent = len(line) - len(line.lstrip(" "))
                depth = indent // 3 + 1 if line.lstrip().startswith("└─ ") else 0
                current.chain.append((depth, line.lstrip(" ").removeprefix("└─ ")))
        chain_next = t.type == "inline" and text.startswith("Session and process chain")
    return doc


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.iter()


class _Tree(HTMLParser):
    VOID = {"meta", "br", "col", "img", "link", "hr", "input"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.at = Node("#root", {}, None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.at)
        self.at.children.append(node)
        if tag not in self.VOID:
            self.at = node

    def handle_endtag(self, tag: str) -> None:
        node = self.at
        while node.parent is not None and node.tag != tag:
            node = node.parent
        assert node.tag == tag, f"</{tag}> closes nothing"
        self.at = node.parent or self.root

    def handle_data(self, data: str) -> None:
        self.at.children.append(data)


def parse_html(body: str) -> Node:
    parser = _Tree()
    parser.feed(body)
    parser.close()
    return parser.root


def html_document(body: str) -> Document:
    """The HTML parsed: no script, no external resource, no event handler anywhere."""
    root = parse_html(body)
    for node in root.iter():
        assert node.tag not in {"script", "img", "iframe", "object", "embed", "link", "svg",
                                "form", "base"}, node.tag
        for name, value in node.attrs.items():
            assert not name.startswith("on"), name
            assert not (value or "").strip().lower().startswith(("http", "javascript", "//"))
    styles = [n for n in root.iter() if n.tag == "style"]
    assert len(styles) == 1
    css = styles[0].text()
    assert "@media print" in css and "overflow-wrap: anywhere" in css
    assert "break-inside: avoid" in css and "url(" not in css and "@import" not in css
    sections = {n.attrs.get("id"): n for n in root.iter() if n.tag == "section"}
    doc = Document(scope=sections["scope"].text() + "\n" + sections["anomalies"].text())
    for article in (n for n in sections["findings"].iter() if n.tag == "article"):
        (h3,) = [n for n in article.iter() if n.tag == "h3"]
        chain = []
        for span in (n for n in article.iter() if n.tag == "span" and n.attrs.get("class")
                     in ("session", "process", "marked")):
            depth, up = -1, span
            while up is not None and up is not article:
                depth += up.tag == "ul"
                up = up.parent
            chain.append((depth, span.text()))
        doc.findings.append(Finding(h3.text(), article.text(), chain))
    assert "Contents" in root.text()
    return doc


# --- the demo case -----------------------------------------------------------------------


@dataclass
class Built:
    md: str
    html: str
    html_path: Path
    facts: dict[str, Any]


_BUILT: dict[str, Built] = {}


def run_cli(*argv: str) -> int:
    return main(list(argv))


@pytest.fixture(params=["sqlite", "postgresql"])
def demo_report(request: pytest.FixtureRequest, tmp_path_factory) -> Built:
    """The demo case detected and bookmarked, its report written both ways by the CLI,
    and what the store says it must hold; built once per backend."""
    if request.param in _BUILT:
        return _BUILT[request.param]
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    engine = correlated_case(url, ROOT / "sample_logs")
    detect(engine)
    (target,) = [p for p in export_processes(engine, host="WS01.corp.example")
                 if p["pid"] == 10712]
    add_finding(engine, "process", target["id"], note=NOTE, severity="critical",
                author="analyst1")
    (alice,) = [s for s in export_sessions(engine, host="WS01.corp.example")
                if s["logon_id"] == "0x5b3f21"]
    add_finding(engine, "session", alice["id"], note="alice's session: phished", severity="low",
                author="analyst1")
    detail = process_detail(engine, target["id"])
    assert detail is not None and detail.session is not None
    with engine.connect() as conn:
        sources = [(Path(p).name, h) for p, h in conn.execute(select(Source.path,
                                                                     Source.sha256))]
    case = stats(engine)
    facts = {
        "sources": sources, "hosts": case["hosts"],
        "span": (clock(case["first_us"]), clock(case["last_us"])),
        "findings": [(f.severity, f.note) for f in list_findings(engine)],
        "session": alice, "ancestors": [a.image for a in reversed(detail.chain)],
        "image": detail.row.image,
        "evidence": [(s["file"], s["record_id"]) for s in detail.sources],
    }
    out = tmp_path_factory.mktemp(f"report_{request.param}")
    assert run_cli("report", "--db", url, "--out", str(out / "r.md")) == 0
    with contextlib.chdir(out):  # HTML without --out: ./proctrail-report.html
        assert run_cli("report", "--db", url, "--format", "html") == 0
    html_path = out / "proctrail-report.html"
    built = Built((out / "r.md").read_text(encoding="utf-8"),
                  html_path.read_text(encoding="utf-8"), html_path, facts)
    engine.dispose()
    _BUILT[request.param] = built
    return built


def check(doc: Document, facts: dict[str, Any]) -> None:
    """Scope, findings in order with notes, the bookmark's chain and evidence."""
    for name, digest in facts["sources"]:
        assert name in doc.scope and digest in doc.scope, name
    for host in facts["hosts"]:
        assert host in doc.scope
    first, last = facts["span"]
    assert f"{first} → {last}" in doc.scope
    assert "log_cleared" in doc.scope and "cleared by itadmin" in doc.scope
    assert len(doc.findings) == len(facts["findings"])
    rank = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    for (severity, note), f in zip(facts["findings"], doc.findings, strict=True):
        assert f"[{severity}]" in f.heading or f.heading.startswith(severity), f.heading
        assert note in f.text, (note, f.heading)
    severities = [s for s, _ in facts["findings"]]
    assert severities == sorted(severities, key=rank.__getitem__)
    bookmark = doc.findings[0]  # critical: the most severe
    assert NOTE in bookmark.text and "analyst1" in bookmark.text
    s = facts["session"]
    assert (s["user"], s["logon_type"], s["source_ip"]) == ("CORP\\alice", "Interactive",
                                                             "127.0.0.1")
    depth, top = bookmark.chain[0]
    assert depth == 0 and top.startswith(
        f"logon session: {s['user']}, logon type {s['logon_type']}, from {s['source_ip']} "
        f"(logon id {s['logon_id']} on {s['host']}")
    images = [*facts["ancestors"], facts["image"]]
    assert [d for d, _ in bookmark.chain[1:]] == list(range(1, len(images) + 1))
    for (_d, line), image in zip(bookmark.chain[1:], images, strict=True):
        assert line.startswith(image + " ("), (line, image)
    assert "WINWORD.EXE" in bookmark.chain[-2][1] and "(10712)" in bookmark.chain[-1][1]
    for file, record_id in facts["evidence"]:
        assert file in bookmark.text and f"record {record_id}," in bookmark.text
    (on_session,) = [f for f in doc.findings if "alice's session: phished" in f.text]
    assert on_session.chain == [(0, top)]  # the session alone


def test_markdown_report_holds_the_case(demo_report: Built) -> None:
    assert not RAW_CONTROL.search(demo_report.md)
    doc = markdown_document(demo_report.md)
    check(doc, demo_report.facts)
    # The tables keep their columns (no cell split by a pipe).
    rows = [line for line in demo_report.md.split("\n") if line.startswith("| ")]
    assert rows and all(len(re.split(r"(?<!\\)\|", r)) in (10, 8) for r in rows
                        if "SHA-256" in r or "sample" in r)


def test_html_report_holds_the_case(demo_report: Built) -> None:
    assert not RAW_CONTROL.search(demo_report.html)
    assert demo_report.html.startswith("<!DOCTYPE html>")
    assert "default-src 'none'" in demo_report.html  # the browser fetches nothing
    check(html_document(demo_report.html), demo_report.facts)


def chromium(*argv: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI renders the HTML report in Chromium and {CHROMIUM} is missing "
                        "(.ci/run installs it)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
             *argv], capture_output=True, text=True, timeout=timeout, check=True)


def test_html_report_renders_and_prints_in_chromium(demo_report: Built,
                                                     tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    dom = chromium("--dump-dom", "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
                   demo_report.html_path.as_uri()).stdout
    check(html_document(dom), demo_report.facts)  # what the browser built from it
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 20_000
    assert len(re.findall(rb"/Type\s*/Page\b", data)) >= 3


def test_report_options(db_url: str, tmp_path: Path, capsys, monkeypatch) -> None:
    """Markdown to stdout by default, '--out -' for HTML; an empty case says so; an
    unknown format is a usage error."""
    monkeypatch.chdir(tmp_path)
    open_engine(db_url).dispose()
    capsys.readouterr()
    assert run_cli("report", "--db", db_url) == 0
    out = capsys.readouterr().out
    assert out.startswith("# proctrail report\n") and "## Findings\n\nNone.\n" in out
    assert "0 source(s), 0 host(s)" in out and "unknown → unknown" in out
    markdown_document(out)
    assert run_cli("report", "--db", db_url, "--format", "html", "--out", "-") == 0
    assert capsys.readouterr().out.startswith("<!DOCTYPE html>")
    assert not list(tmp_path.glob("*.html"))
    assert run_cli("report", "--db", db_url, "--out", str(tmp_path / "no" / "r.md")) == 1
    assert "r.md: No such file or directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        run_cli("report", "--db", db_url, "--format", "pdf")
    assert exc.value.code == 2


# --- hostile text ------------------------------------------------------------------------

CSI = "\x1b[31m\x1b[2J"
OSC = "\x1b]0;title\x07"
IMAGE = "C:\\Users\\Public\\<script>alert(1)</script>[bold]x[/]" + CSI + "|`a`.exe"
COMMAND = ("cmd /c </pre></li></ul><script>alert(2)</script> [bold red]x[/] " + CSI + OSC +
           " a|b ``c`` ~~~ <img src=x onerror=alert(3)> ![i](http://evil/t.png) "
           "[l](javascript:alert(4)) *em* http://evil.example/x user@evil.example "
           "net use \\\\srv\\share S3cretPass /user:bob\n# heading\n<b>bold</b>")
HOST = "ws|`1`<b>\x1b[2J"
HNOTE = "note </pre><script>alert(5)</script> | `x` [bold]y[/] " + CSI


def hostile_case(case_of, xml_log):
    ev = xml_log.event

    def esc(value: str) -> str:
        return re.sub("[&<>\x00-\x08\x0b-\x1f]", lambda m: {
            "&": "&amp;", "<": "&lt;", ">": "&gt;"}.get(m.group(), f"&#x{ord(m.group()):x};"),
            value)

    logon = {"TargetUserName": "bob|`x`<i>", "TargetDomainName": "CORP", "LogonType": "10",
             "TargetLogonId": "0x77", "IpAddress": "<b>10.0.0.9</b>|"}
    start = {"NewProcessId": "0x100", "NewProcessName": IMAGE, "ProcessId": "0x4",
             "ParentProcessName": "C:\\</pre>" + OSC + ".exe", "CommandLine": COMMAND,
             "SubjectUserName": "bob|`x`<i>", "SubjectDomainName": "CORP",
             "SubjectLogonId": "0x77"}
    path = xml_log("h|`x`<y>.xml", [
        ev(4624, 1, "2024-05-01T10:00:00Z", {k: esc(v) for k, v in logon.items()},
           host=esc(HOST)),
        ev(4688, 2, "2024-05-01T10:00:01Z", {k: esc(v) for k, v in start.items()},
           host=esc(HOST))])
    engine = case_of(path)
    (p,) = [r for r in export_processes(engine) if r["pid"] == 0x100]
    assert (p["image"], p["command_line"]) == (IMAGE, COMMAND)
    add_finding(engine, "process", p["id"], note=HNOTE, severity="high")
    return engine


def test_hostile_text_stays_text(case_of, xml_log, db_url: str, tmp_path: Path) -> None:
    hostile_case(case_of, xml_log)
    for argv in ((), ("--redact",)):
        md_path, html_path = tmp_path / "r.md", tmp_path / "r.html"
        assert run_cli("report", "--db", db_url, "--out", str(md_path), *argv) == 0
        assert run_cli("report", "--db", db_url, "--format", "html", "--out",
                       str(html_path), *argv) == 0
        md, body = md_path.read_text(encoding="utf-8"), html_path.read_text(encoding="utf-8")
        for text in (md, body):
            assert not RAW_CONTROL.search(text.replace("\t", ""))
            assert ("S3cretPass" in text) is not bool(argv)
        command = COMMAND.replace("S3cretPass", "********") if argv else COMMAND

        doc = markdown_document(md)  # no link, image, HTML or emphasis
        (f,) = doc.findings
        assert printable(HNOTE) in f.text and printable(IMAGE) in f.chain[-1][1]
        assert printable(command, keep_newlines=True) in f.text  # fenced, exactly
        assert printable(HOST) in doc.scope and "h|`x`<y>.xml" in doc.scope
        tables = [line for line in md.split("\n") if line.startswith("| ")]
        host_rows = [line for line in tables if "ws" in line and "2024" in line]
        assert host_rows and all(len(re.split(r"(?<!\\)\|", r)) == 8 for r in host_rows)

        hdoc = html_document(body)  # no script element, no handler, no resource
        (f,) = hdoc.findings
        assert printable(HNOTE) in f.text and printable(IMAGE) in f.chain[-1][1]
        assert printable(command, keep_newlines=True) in f.text
        assert printable(HOST) in hdoc.scope
        assert "<script" not in body and "<img" not in body and "</pre></li>" not in body


# --- what processes did --------------------------------------------------------------------


def _between(text: str, start: str, end: str) -> str:
    return text[text.index(start):text.index(end, text.index(start))]


def test_report_says_what_processes_did(demo_report: Built) -> None:
    """The demo's two connections and one lookup, attached; its destinations rarest first
    (the name looked up once, then the address reached twice); nobody opened lsass."""
    md = _between(demo_report.md, "## What processes did", "## Findings")
    assert "| network_connect (connect) | 2 | 2 | - | 0 |  |" in md
    assert "| dns_query (dns) | 1 | 1 | - | 0 |  |" in md
    dests = _between(md, "### Rarest destinations", "### Processes")
    assert [line.split(" | ")[0] for line in dests.split("\n") if line.startswith("| ")][1:] \
        == ["| updates\\.example\\.com", "| 203\\.0\\.113\\.7"]
    assert md.rstrip().endswith("### Processes that opened lsass\n\nNone.")
    root = parse_html(demo_report.html)
    (section,) = [n for n in root.iter() if n.tag == "section"
                  and n.attrs.get("id") == "activity"]
    rows = [[td.text() for td in tr.iter() if td.tag == "td"]
            for tr in section.iter() if tr.tag == "tr"]
    assert ["network_connect (connect)", "2", "2", "-", "0", ""] in rows
    assert [r for r in rows if len(r) == 4] == [["updates.example.com", "1", "1", "1"],
                                                ["203.0.113.7", "2", "2", "1"]]
    assert 'href="#activity"' in demo_report.html


def test_activity_section_keeps_log_text_as_text(xml_log, case_of, db_url: str,
                                                 tmp_path: Path) -> None:
    """A hostile image looks up a hostile name and opens lsass: both tables hold them as
    text, in Markdown (no link, HTML or emphasis) and in HTML (no element)."""
    sysmon = {"channel": "Microsoft-Windows-Sysmon/Operational",
              "provider": "Microsoft-Windows-Sysmon"}
    image = "C:\\Temp\\<b>x</b>|`y`*z*.exe"
    name = "<script>alert(1)</script>|[l](http://evil.example)" + CSI
    when = "2024-05-01 10:00:0{}.000"
    path = xml_log("a.xml", [
        xml_log.event(1, 1, "2024-05-01T10:00:01Z", {
            "UtcTime": when.format(1), "ProcessGuid": "{a}", "ProcessId": "77",
            "Image": image.replace("<", "&lt;").replace(">", "&gt;"), "User": "CORP\\eve"},
            **sysmon),
        xml_log.event(22, 2, "2024-05-01T10:00:02Z", {
            "UtcTime": when.format(2), "ProcessGuid": "{a}", "ProcessId": "77",
            "QueryName": name.replace("<", "&lt;").replace(">", "&gt;")
            .replace("\x1b", "&#x1b;"), "QueryResults": "203.0.113.9;"}, **sysmon),
        xml_log.event(10, 3, "2024-05-01T10:00:03Z", {
            "UtcTime": when.format(3), "SourceProcessGUID": "{a}", "SourceProcessId": "77",
            "TargetProcessGUID": "{l}", "TargetProcessId": "600",
            "TargetImage": "C:\\Windows\\system32\\lsass.exe", "GrantedAccess": "0x1010"},
            **sysmon)])
    case_of(path)
    md_path, html_path = tmp_path / "r.md", tmp_path / "r.html"
    assert run_cli("report", "--db", db_url, "--out", str(md_path)) == 0
    assert run_cli("report", "--db", db_url, "--format", "html", "--out", str(html_path)) == 0
    md, body = md_path.read_text(encoding="utf-8"), html_path.read_text(encoding="utf-8")
    markdown_document(md)  # no link, image, HTML or emphasis
    html_document(body)  # no script, handler or resource
    assert not RAW_CONTROL.search(md) and not RAW_CONTROL.search(body)
    section = _between(md, "## What processes did", "## Findings")
    rendered = MarkdownIt("gfm-like").render(section)
    shown = printable(name.lower())  # destinations are stacked lower case
    assert shown in html_module.unescape(rendered) and "<script" not in rendered
    lsass = section.split("### Processes that opened lsass")[1]
    assert "\\(77\\) | CORP\\\\eve | 1 | 0x1010 | yes |" in lsass
    root = parse_html(body)
    (act,) = [n for n in root.iter() if n.tag == "section" and n.attrs.get("id") == "activity"]
    cells = [td.text() for td in act.iter() if td.tag == "td"]
    assert shown in cells
    assert f"{image.rsplit(chr(92), 1)[-1]} (77)" in cells and "0x1010" in cells
    assert "<script>alert(1)" not in body and "<b>x</b>" not in body


def test_lsass_openers_are_listed_up_to_a_page() -> None:
    """Past :data:`LSASS_SHOWN` openers the report says how many more there are."""
    from proctrail.app.output import report

    rows = [{"host": "h", "image": f"C:\\p{i}.exe", "pid": i, "user": "", "count": 1,
             "masks": ["0x1000"], "memory": False, "first_us": None} for i in range(30)]
    doc = report.Report("", "", {}, [], activity={"lsass": rows})
    assert len(report._activity_rows(doc)[2]) == report.LSASS_SHOWN == 25
    assert report._more_lsass(doc) == \
        "…and 5 more, each with fewer records or not reading its memory."
    doc.activity["lsass"] = rows[:25]
    assert report._more_lsass(doc) == ""
