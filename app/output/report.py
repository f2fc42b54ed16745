"""The case in one document: ``proctrail report``.

Scope (every source with its SHA-256, the hosts, the time span), the integrity anomalies,
what processes did (activity per kind, the rarest destinations, who opened lsass), and
every finding, most severe first, with its note, its ancestor chain under its logon
session (user, logon type, source address) as a small tree and the raw events behind it
(file, record id, fields). One intermediate model (:func:`build_report`) is written as
GitHub-flavoured Markdown (:func:`to_markdown`) or as one self-contained HTML file that
prints well (:func:`to_html`: inline CSS, no script, no external resource).

Everything from a log is text: through :func:`~proctrail.store.text.printable` first
(control characters shown as ``\\x1b``), then escaped for the format (Markdown
punctuation backslash-escaped or kept inside fenced code blocks; HTML through
:func:`html.escape`).
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from proctrail.app.output.findings import findings_records
from proctrail.app.output.markdown import code_block, fenced, md_text
from proctrail.app.redact import Redactor, redact_record
from proctrail.store.errors import UsageError
from proctrail.store.findings import SEVERITIES
from proctrail.store.images import image_name
from proctrail.store.queries.activity import KIND_LABELS
from proctrail.store.queries.report import activity_scope, case_scope
from proctrail.store.text import pid_text, printable
from proctrail.store.timefmt import clock, iso

FORMATS = ("md", "html")
DEFAULT_HTML = "proctrail-report.html"  # where --format html goes without --out


# --- the model -------------------------------------------------------------------------


@dataclass
class ChainNode:
    """One line of a finding's tree: its logon session (on top) or a process."""

    kind: str  # session | process
    text: str  # raw log text: escape it for the format
    depth: int
    marked: bool = False  # the process the finding is on


@dataclass
class FindingEntry:
    """One finding as the report shows it."""

    number: int
    record: dict[str, Any]  # :func:`findings_records`'s record
    kind: str
    rule_id: str
    time: str | None
    title: str
    chain: list[ChainNode] = field(default_factory=list)


@dataclass
class Report:
    """What both formats write."""

    generated: str
    case: str
    scope: dict[str, Any]
    findings: list[FindingEntry]
    redacted: bool = False
    activity: dict[str, Any] = field(default_factory=dict)  # :func:`activity_scope`

    @property
    def span(self) -> Plain:
        return Plain(f"{_when(self.scope['first_us'])} → {_when(self.scope['last_us'])} (UTC)")


def _when(us: int | None) -> Plain:
    return Plain(clock(us, "unknown"))


def _session_text(s: dict[str, Any]) -> str:
    return (f"logon session: {s['user'] or '?'}, logon type {s['logon_type'] or '?'}, from "
            f"{s['source_ip'] or '-'} (logon id {s['logon_id']} on {s['host']}, "
            f"{_t(s['start'])} → {_t(s['end'])})")


def _t(text: str | None) -> Plain:
    """An ISO time of a record, shorter (``2026-11-02 08:21:36``), ``?`` when unknown."""
    return Plain(text[:19].replace("T", " ") if text else "?")


def _process_text(p: dict[str, Any]) -> str:
    flags = f" [{', '.join(p['flags'])}]" if p["flags"] else ""
    return (f"{p['image'] or '?'} ({pid_text(p['pid'])})  {p['user'] or '-'}  {_t(p['start'])} → "
            f"{_t(p['end'])}{flags}")


def _chain(record: dict[str, Any]) -> list[ChainNode]:
    """The session on top, then the process's ancestors from the root down to it."""
    nodes = []
    if record["session"]:
        nodes.append(ChainNode("session", _session_text(record["session"]), 0))
    p = record["process"]
    if p:
        base = len(nodes)
        procs = [*reversed(record["ancestors"]), p]
        nodes += [ChainNode("process", _process_text(a), base + depth, a is p)
                  for depth, a in enumerate(procs)]
    return nodes


def _title(record: dict[str, Any]) -> str:
    """What the finding is on, and the first words of its note."""
    p, s = record["process"], record["session"]
    if p:
        what = f"{image_name(p['image'])} (PID {pid_text(p['pid'])}) on {p['host']}"
    elif s:
        what = f"logon session of {s['user'] or '?'} ({s['logon_id']}) on {s['host']}"
    else:
        what = f"{record['target']} on {record['host']}"
    note = (record["note"] or "").split("\n", 1)[0]
    return f"{what}: {note[:77] + '...' if len(note) > 80 else note}" if note else what


def build_report(engine: Engine, redactor: Redactor | None = None,
                 case: str = "") -> Report:
    """The case's scope and every finding, most severe first, with what supports it;
    command lines masked when a ``redactor`` is given."""
    records = findings_records(engine)
    if redactor is not None:
        records = [redact_record(r, redactor) for r in records]
    rank = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    records.sort(key=lambda r: (rank.get(r["severity"], len(rank)), r["id"]))
    findings = [FindingEntry(number, r, r["kind"], r["rule_id"], r["time"], _title(r),
                             _chain(r)) for number, r in enumerate(records, 1)]
    return Report(generated=iso(time.time_ns() // 1000) or "", case=case,
                  scope=case_scope(engine), findings=findings, redacted=redactor is not None,
                  activity=activity_scope(engine))


# --- Markdown ----------------------------------------------------------------------------


class Plain(str):
    """Text proctrail itself wrote (a time, a count, a digest): Markdown needs no escape."""


def _m(text: object) -> str:
    """Inline Markdown text (:func:`_md`), with ``:`` and ``@`` escaped too so that GitHub
    does not turn an address from a log into a link; :class:`Plain` text and numbers as
    they are."""
    if isinstance(text, Plain | int):
        return str(text)
    return md_text(text).replace(":", "\\:").replace("@", "\\@")


def _row(cells: list[object]) -> str:
    return "| " + " | ".join(_m(c) for c in cells) + " |"


def _table(head: list[str], rows: list[list[object]]) -> list[str]:
    return [_row(head), "|" + "---|" * len(head), *(_row(r) for r in rows), ""]


def _source_name(s: dict[str, Any]) -> str:
    return f"{s['path']}!{s['member']}" if s["member"] else s["path"]


def _source_status(s: dict[str, Any]) -> str:
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(s["skip_reasons"].items()))
    status = s["status"] + (f" ({reasons})" if reasons else "")
    if s["damaged_chunks"]:
        status += f"; {s['damaged_chunks']} chunk(s) fail their checksums"
    return status + (f": {s['error']}" if s["error"] else "")


def _scope_rows(report: Report) -> tuple[list[list[object]], list[list[object]],
                                         list[list[object]]]:
    sc = report.scope
    sources = [[_source_name(s), Plain(s["sha256"]), Plain(s["format"]), Plain(s["parser"]),
                _source_status(s),
                s["records"], s["stored"], s["skipped"]] for s in sc["sources"]]
    hosts = [[h["name"] + (f" (also {', '.join(h['aliases'])})" if h.get("aliases") else ""),
              _when(h["first_us"]), _when(h["last_us"]), h["events"],
              h["processes"], h["sessions"]] for h in sc["hosts"]]
    anomalies = [[a["host"], a["channel"] or "-", a["kind"], _when(a["start_us"]),
                  _when(a["end_us"]), a["detail"]] for a in sc["anomalies"]]
    return sources, hosts, anomalies


SOURCE_HEAD = ["file", "SHA-256", "format", "parser", "status", "records", "stored",
               "skipped"]
HOST_HEAD = ["host", "first event", "last event", "events", "processes", "sessions"]
ANOMALY_HEAD = ["host", "channel", "kind", "from", "to", "detail"]
TECHNIQUE_HEAD = ["technique", "name", "tactic", "findings", "hosts"]


def _technique_rows(report: Report) -> list[list[object]]:
    return [[t["technique"], t["name"], t["tactic"], t["findings"], t["hosts"]]
            for t in report.scope.get("techniques", [])]


KIND_HEAD = ["kind", "records", "attached", "done to (8/10)", "doer not in logs", "note"]
DEST_HEAD = ["destination", "records", "processes", "hosts"]
LSASS_HEAD = ["host", "process", "user", "records", "access", "reads memory", "first"]
LSASS_SHOWN = 25  # openers of lsass a report lists (those reading its memory first)
ACTIVITY_NONE = ("No activity recorded (Sysmon 3/8/10/11-15/22-26, Security 5156/5158/4663, "
                 "PowerShell, auditd connect/bind/write).")


def _activity_rows(report: Report) -> tuple[list[list[object]], list[list[object]],
                                            list[list[object]]]:
    """What processes did: per kind, the rarest destinations, who opened lsass."""
    act = report.activity
    kinds: list[list[object]] = []
    for c in act.get("kinds", []):
        two = c.kind in ("process_access", "remote_thread")
        kinds.append([Plain(f"{c.kind} ({KIND_LABELS.get(c.kind, c.kind)})"), c.events,
                      c.attached, c.targets if two else Plain("-"),
                      c.unplaced,
                      Plain(c.note or (f"{c.targets_unplaced:,} target(s) not in the logs"
                                       if c.targets_unplaced else ""))])
    dests = [[d["value"], d["count"], d["processes"], d["hosts"]]
             for d in act.get("destinations", [])]
    lsass = [[r["host"], f"{image_name(r['image'] or '')} ({pid_text(r['pid'])})",
              r["user"] or "-", r["count"], ", ".join(r["masks"]),
              Plain("yes" if r["memory"] else "no"), _when(r["first_us"])]
             for r in act.get("lsass", [])[:LSASS_SHOWN]]
    return kinds, dests, lsass


def _more_lsass(report: Report) -> str:
    """How many openers of lsass the table leaves out, as a sentence (or ``""``)."""
    more = len(report.activity.get("lsass", [])) - LSASS_SHOWN
    return f"…and {more:,} more, each with fewer records or not reading its memory." \
        if more > 0 else ""


def _summary(report: Report) -> Plain:
    sc = report.scope
    return Plain(f"{len(sc['sources'])} source(s), {len(sc['hosts'])} host(s), "
            f"{sc['events']:,} events, {sc['processes']:,} process lifetimes, "
            f"{sc['sessions']:,} logon sessions; {len(sc['anomalies'])} integrity "
            f"anomalies{_damaged(sc['damaged_chunks'])}; {len(report.findings)} finding(s)")


def _damaged(chunks: int) -> str:
    return f" ({chunks} damaged chunk(s): checksum_mismatch)" if chunks else ""


def _tree_lines(chain: list[ChainNode]) -> list[str]:
    return [("   " * (n.depth - 1) + "└─ " if n.depth else "") + printable(n.text)
            + ("   ◄ this finding" if n.marked else "") for n in chain]


def _meta(f: FindingEntry) -> list[tuple[str, str]]:
    r = f.record
    rows = [("severity", r["severity"]), ("kind", f.kind)]
    if f.rule_id:
        rows.append(("rule", f.rule_id))
    rows += [("note", r["note"] or "(none)"), ("by", r["author"] or r["source"]),
             ("time", _t(f.time)), ("recorded", _t(r["created"]))]
    return rows


def to_markdown(report: Report) -> str:
    """The report as GitHub-flavoured Markdown: every log string escaped or fenced."""
    sources, hosts, anomalies = _scope_rows(report)
    lines = ["# proctrail report", "",
             f"Generated {_t(report.generated)} UTC" +
             (f" from {_m(report.case)}" if report.case else "") +
             (" (secrets in command lines masked)" if report.redacted else "") + ".", "",
             _summary(report) + ".", "",
             "## Scope", "", f"Time span: {_m(report.span)}", "",
             "### Sources", "", *_table(SOURCE_HEAD, sources),
             "### Hosts", "", *_table(HOST_HEAD, hosts),
             "## Integrity anomalies", ""]
    lines += _table(ANOMALY_HEAD, anomalies) if anomalies else ["None found.", ""]
    techniques = _technique_rows(report)
    lines += ["## ATT&CK techniques", ""]
    lines += _table(TECHNIQUE_HEAD, techniques) if techniques else ["None named.", ""]
    kinds, dests, lsass = _activity_rows(report)
    lines += ["## What processes did", ""]
    if kinds:
        lines += ["Records per kind, and how many correlation attached to the process "
                  "that did them:", "", *_table(KIND_HEAD, kinds),
                  "### Rarest destinations", ""]
        lines += _table(DEST_HEAD, dests) if dests else ["None.", ""]
        lines += ["### Processes that opened lsass", ""]
        lines += _table(LSASS_HEAD, lsass) if lsass else ["None.", ""]
        lines += [_more_lsass(report), ""] if _more_lsass(report) else []
    else:
        lines += [ACTIVITY_NONE, ""]
    lines += ["## Findings", ""]
    if not report.findings:
        lines += ["None.", ""]
    for f in report.findings:
        r, p = f.record, f.record["process"]
        lines += [f"### {f.number}. {_m('[' + r['severity'] + ']')} {_m(f.title)}", "",
                  *(f"- {name}: {_m(value)}" for name, value in _meta(f)), ""]
        if f.chain:
            lines += ["Session and process chain (root first):", "",
                      *fenced(_tree_lines(f.chain)), ""]
        if p:
            lines += ["Command line:", "", *code_block(p["command_line"]), ""]
        if r["evidence"]:
            lines += ["Evidence:", ""]
            for e in r["evidence"]:
                lines.append(f"- {_m(e['role'])}: {_m(e['channel'])} {_m(e['event_id'])}, "
                             f"record {_m(e['record_id'])}, {_t(e['time'])}, in "
                             f"{_m(e['file'])}")
                lines += ["", *code_block("\n".join(f"{k}: {v}" for k, v in e["fields"].items()),
                                     indent="  "), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# --- HTML --------------------------------------------------------------------------------


def _h(text: object) -> str:
    """Log text for HTML: printable, then escaped (quotes too)."""
    return html.escape(printable("" if text is None else text))


def _hblock(text: object) -> str:
    """Multi-line log text for a ``<pre>``: newlines kept, the rest as :func:`_h`."""
    return html.escape(printable("" if text is None else text, keep_newlines=True))


CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1a1a1a; background: #fff; margin: 0 auto; padding: 1.5em; max-width: 72em; }
h1 { font-size: 1.7em; margin: 0 0 .2em; }
h2 { font-size: 1.35em; border-bottom: 2px solid #444; padding-bottom: .15em;
  margin-top: 1.8em; }
h3 { font-size: 1.1em; margin: 0 0 .4em; }
.meta, .summary { color: #444; margin: .2em 0; }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas,
  monospace; font-size: .88em; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f5f5f5;
  border: 1px solid #ddd; padding: .5em .7em; margin: .3em 0 .7em; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; margin: .4em 0 1em; }
th, td { border: 1px solid #ccc; padding: .2em .4em; text-align: left;
  vertical-align: top; overflow-wrap: anywhere; }
th { background: #eee; overflow-wrap: normal; font-size: .9em; }
td.hash { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: .8em; }
td.n { text-align: right; }
nav ol { margin: .3em 0; }
.finding { border: 1px solid #bbb; border-left: 6px solid #888; padding: .7em 1em;
  margin: 1em 0; }
.sev-critical { border-left-color: #7b001c; } .sev-high { border-left-color: #c0392b; }
.sev-medium { border-left-color: #d68910; } .sev-low { border-left-color: #2e86c1; }
.sev-info { border-left-color: #888; }
.badge { display: inline-block; padding: 0 .4em; border: 1px solid currentColor;
  border-radius: 3px; font-size: .85em; text-transform: uppercase; margin-right: .3em; }
dl.fields { display: grid; grid-template-columns: max-content 1fr; gap: .1em .8em;
  margin: .3em 0 .6em; }
dl.fields dt { font-weight: 600; } dl.fields dd { margin: 0; overflow-wrap: anywhere; }
ul.chain, ul.chain ul { list-style: none; margin: 0; padding-left: 1.3em; }
ul.chain { padding-left: 0; font-family: ui-monospace, "DejaVu Sans Mono", Menlo,
  monospace; font-size: .88em; background: #f5f5f5; border: 1px solid #ddd;
  padding: .4em .6em; }
ul.chain ul > li::before { content: "└─ "; color: #777; }
ul.chain li { overflow-wrap: anywhere; }
ul.chain .session { font-weight: 600; }
ul.chain .marked { font-weight: 700; background: #fff3c4; }
.evidence { margin: .4em 0 .8em; }
.evidence h4 { font-size: 1em; margin: .6em 0 .2em; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { font-size: 10pt; max-width: none; padding: 0; }
  nav { break-after: page; }
  h2 { break-after: avoid; }
  .finding, .evidence, tr, pre { break-inside: avoid; page-break-inside: avoid; }
  .finding { border-left-width: 4pt; }
  pre, code, td, dd, li { overflow-wrap: anywhere; word-break: break-word; }
  a { color: inherit; text-decoration: none; }
  th { background: #eee !important; -webkit-print-color-adjust: exact;
    print-color-adjust: exact; }
}
"""


def _htable(head: list[str], rows: list[list[object]], numeric: tuple[int, ...] = (),
            widths: list[str] | None = None, mono: tuple[int, ...] = ()) -> list[str]:
    cols = ("<colgroup>" + "".join(f'<col style="width:{w}">' for w in widths)
            + "</colgroup>") if widths else ""
    out = [f"<table>{cols}<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
           + "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(
            f'<td class="n">{_h(f"{c:,}" if isinstance(c, int) else c)}</td>' if i in numeric
            else f'<td class="hash">{_h(c)}</td>' if i in mono
            else f"<td>{_h(c)}</td>" for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    return out


def _hchain(chain: list[ChainNode]) -> list[str]:
    """The tree as nested lists: each node holds the next one."""
    out = ['<ul class="chain">']
    for i, n in enumerate(chain):
        css = "session" if n.kind == "session" else ("marked" if n.marked else "process")
        if i:
            out.append("<ul>")
        out.append(f'<li><span class="{css}">{_h(n.text)}</span>')
    out.append("</li></ul>" * len(chain))
    return out


def to_html(report: Report) -> str:
    """The report as one self-contained HTML page: inline CSS, no script, no external
    resource (a Content-Security-Policy says so to the browser too)."""
    sources, hosts, anomalies = _scope_rows(report)
    toc = ['<nav><h2>Contents</h2><ol>', '<li><a href="#scope">Scope</a><ol>',
           '<li><a href="#sources">Sources</a></li><li><a href="#hosts">Hosts</a></li>'
           '</ol></li>', '<li><a href="#anomalies">Integrity anomalies</a></li>',
           '<li><a href="#techniques">ATT&amp;CK techniques</a></li>',
           '<li><a href="#activity">What processes did</a></li>',
           '<li><a href="#findings">Findings</a><ol>']
    toc += [f'<li><a href="#finding-{f.number}">[{_h(f.record["severity"])}] {_h(f.title)}'
            f'</a></li>' for f in report.findings]
    toc += ["</ol></li></ol></nav>"]
    sub = (f"Generated {_h(_t(report.generated))} UTC"
           + (f" from {_h(report.case)}" if report.case else "")
           + (" (secrets in command lines masked)" if report.redacted else "") + ".")
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
           'style-src \'unsafe-inline\'">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>proctrail report</title>", f"<style>{CSS}</style>", "</head><body>",
           "<header><h1>proctrail report</h1>", f'<p class="meta">{sub}</p>',
           f'<p class="summary">{_h(_summary(report))}.</p></header>', *toc,
           '<section id="scope"><h2>Scope</h2>',
           f"<p>Time span: <strong>{_h(report.span)}</strong></p>",
           '<h3 id="sources">Sources</h3>',
           *_htable(SOURCE_HEAD, sources, (5, 6, 7),
                    ["24%", "29%", "7%", "7%", "9%", "8%", "8%", "8%"], mono=(1,)),
           '<h3 id="hosts">Hosts</h3>', *_htable(HOST_HEAD, hosts, (3, 4, 5)),
           "</section>", '<section id="anomalies"><h2>Integrity anomalies</h2>']
    out += (_htable(ANOMALY_HEAD, anomalies, widths=["16%", "18%", "11%", "15%", "15%",
                                                      "25%"])
            if anomalies else ["<p>None found.</p>"])
    techniques = _technique_rows(report)
    out += ["</section>", '<section id="techniques"><h2>ATT&amp;CK techniques</h2>']
    out += (_htable(TECHNIQUE_HEAD, techniques, (3, 4)) if techniques
            else ["<p>None named.</p>"])
    kinds, dests, lsass = _activity_rows(report)
    out += ["</section>", '<section id="activity"><h2>What processes did</h2>']
    if kinds:
        out += ["<p>Records per kind, and how many correlation attached to the process that "
                "did them:</p>", *_htable(KIND_HEAD, kinds, (1, 2, 3, 4),
                                         ["24%", "11%", "11%", "13%", "13%", "28%"]),
                "<h3>Rarest destinations</h3>"]
        out += (_htable(DEST_HEAD, dests, (1, 2, 3), ["58%", "14%", "14%", "14%"])
                if dests else ["<p>None.</p>"])
        out += ["<h3>Processes that opened lsass</h3>"]
        out += (_htable(LSASS_HEAD, lsass, (3,),
                        ["15%", "21%", "16%", "9%", "14%", "10%", "15%"])
                if lsass else ["<p>None.</p>"])
        out += [f"<p>{_more_lsass(report)}</p>"] if _more_lsass(report) else []
    else:
        out.append(f"<p>{html.escape(ACTIVITY_NONE)}</p>")
    out += ["</section>", '<section id="findings"><h2>Findings</h2>']
    if not report.findings:
        out.append("<p>None.</p>")
    for f in report.findings:
        r, p = f.record, f.record["process"]
        sev = r["severity"] if r["severity"] in SEVERITIES else "info"
        out += [f'<article class="finding sev-{sev}" id="finding-{f.number}">',
                f'<h3><span class="badge">{_h(r["severity"])}</span>{f.number}. '
                f'{_h(f.title)}</h3>', '<dl class="fields">',
                *(f"<dt>{html.escape(k)}</dt><dd>{_h(v)}</dd>" for k, v in _meta(f)),
                "</dl>"]
        if f.chain:
            out += ["<h4>Session and process chain</h4>", *_hchain(f.chain)]
        if p:
            out += ["<h4>Command line</h4>", f"<pre>{_hblock(p['command_line'])}</pre>"]
        if r["evidence"]:
            out.append(f"<h4>Evidence ({len(r['evidence'])} event(s))</h4>")
            for e in r["evidence"]:
                out += ['<div class="evidence">',
                        f'<p class="mono"><strong>{_h(e["role"])}</strong>: {_h(e["channel"])}'
                        f' {_h(e["event_id"])}, record {_h(e["record_id"])}, {_h(_t(e["time"]))}'
                        f', in {_h(e["file"])}</p>',
                        "<pre>" + "\n".join(f"{_h(k)}: {_hblock(v)}"
                                            for k, v in e["fields"].items()) + "</pre>",
                        "</div>"]
        out.append("</article>")
    out += ["</section>", "</body></html>", ""]
    return "\n".join(out)


def write_report(engine: Engine, fmt: str, redactor: Redactor | None = None,
                 case: str = "") -> str:
    """The report as ``md`` or ``html`` text."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r}: use {', '.join(FORMATS)}")
    report = build_report(engine, redactor, case)
    return to_markdown(report) if fmt == "md" else to_html(report)


def summary(engine: Engine, case: str = "") -> dict[str, Any]:
    """The report's summary line as data (``proctrail report --json``): the case, its
    span, counts, integrity anomalies by kind, findings by kind and by severity (every
    severity present, 0 when none; kinds and anomalies only those found). Times are ISO
    8601 UTC or None. Host names and kinds are log text, as stored."""
    from proctrail.store.queries.findings import list_findings

    scope = case_scope(engine)
    findings = list_findings(engine)
    anomalies: dict[str, int] = {}
    for a in scope["anomalies"]:
        anomalies[a["kind"]] = anomalies.get(a["kind"], 0) + 1
    kinds: dict[str, int] = {}
    severities = dict.fromkeys(reversed(SEVERITIES), 0)
    for f in findings:
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
        severities[f.severity] = severities.get(f.severity, 0) + 1
    return {"case": case, "first": iso(scope["first_us"]), "last": iso(scope["last_us"]),
            "sources": len(scope["sources"]), "hosts": [h["name"] for h in scope["hosts"]],
            "events": scope["events"], "processes": scope["processes"],
            "sessions": scope["sessions"], "damaged_chunks": scope["damaged_chunks"],
            "anomalies": {"total": len(scope["anomalies"]), "by_kind": anomalies},
            "findings": {"total": len(findings), "by_kind": kinds,
                         "by_severity": severities}}
