"""Findings out of the TUI (and the CLI's report): Markdown, JSON and CSV, each finding with the
process's ancestor chain up to its logon session and the raw events that support it."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine

from proctrail.app.output.markdown import code_block, fenced, md_text
from proctrail.app.output.rows import csv_cell
from proctrail.app.redact import Redactor, redact_record
from proctrail.store.detect.attack import label
from proctrail.store.errors import UsageError
from proctrail.store.images import image_name
from proctrail.store.queries import browse
from proctrail.store.queries.findings import list_findings
from proctrail.store.text import pid_text, printable
from proctrail.store.timefmt import iso

FORMATS = ("md", "json", "csv")


def _proc(row: browse.ProcRow) -> dict[str, Any]:
    return {"id": row.id, "host": row.host, "pid": row.pid, "image": row.image,
            "user": row.user, "command_line": row.command_line, "start": iso(row.start_us),
            "end": iso(row.end_us), "flags": list(row.flags)}


def _session(s: browse.SessionRow | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {"id": s.id, "host": s.host, "logon_id": s.logon_id, "user": s.user,
            "logon_type": s.logon_type, "source_ip": s.source_ip,
            "workstation": s.workstation, "start": iso(s.start_us), "end": iso(s.end_us),
            "elevated": s.elevated, "flags": list(s.flags)}


def findings_records(engine: Engine) -> list[dict[str, Any]]:
    """Every finding with what supports it, as plain JSON-ready records."""
    out = []
    for f in list_findings(engine):
        record: dict[str, Any] = {
            "id": f.id, "kind": f.kind, "rule_id": f.rule_id, "severity": f.severity,
            "note": f.note, "source": f.source, "author": f.author,
            "created": iso(f.created_us),
            "time": iso(f.time_us if f.time_us is not None else f.created_us),
            "target": f.target, "techniques": f.techniques, "tactics": f.tactics,
            "host": f.host, "process": None, "ancestors": [], "session": None,
            "evidence": []}
        if f.process_id is not None:
            d = browse.process_detail(engine, f.process_id)
            if d is not None:
                record["process"] = _proc(d.row)
                record["ancestors"] = [_proc(r) for r in d.chain]
                record["session"] = _session(d.session)
                record["evidence"] = [
                    {"role": s["role"], "channel": s["channel"], "event_id": s["event_id"],
                     "record_id": s["record_id"], "time": iso(s["ts_us"]), "file": s["file"],
                     "fields": s["fields"]} for s in d.sources]
        elif f.session_id is not None:
            record["session"] = _session(browse.session_row(engine, f.session_id))
        out.append(record)
    return out


def write_findings(engine: Engine, fmt: str, path: Path,
                   redactor: Redactor | None = None) -> int:
    """Write every finding to ``path`` as ``md``, ``json`` or ``csv`` (secrets masked if a
    ``redactor`` is given); returns how many."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}: use {', '.join(FORMATS)}")
    records = findings_records(engine)
    if redactor is not None:
        records = [redact_record(r, redactor) for r in records]
    text = {"md": to_markdown, "json": to_json, "csv": to_csv}[fmt](records)
    path.write_text(text, encoding="utf-8")
    return len(records)


def to_json(records: list[dict[str, Any]]) -> str:
    return orjson.dumps(records, option=orjson.OPT_INDENT_2).decode() + "\n"


def to_csv(records: list[dict[str, Any]]) -> str:
    columns = ("id", "severity", "note", "author", "created", "target", "host", "image", "pid",
               "user", "command_line", "start", "end", "session_user", "logon_type",
               "source_ip", "ancestors", "evidence", "techniques", "tactics")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    for r in records:
        p = r["process"] or {}
        s = r["session"] or {}
        writer.writerow([csv_cell(v) for v in (
            r["id"], r["severity"], r["note"], r["author"], r["created"], r["target"], r["host"],
            p.get("image"), p.get("pid"), p.get("user"), p.get("command_line"), p.get("start"),
            p.get("end"), s.get("user"), s.get("logon_type"), s.get("source_ip"),
            " < ".join(f"{a['image']} ({pid_text(a['pid'])})" for a in r["ancestors"]),
            "; ".join(f"{e['channel']} {e['event_id']} record {e['record_id']} in {e['file']}"
                      for e in r["evidence"]),
            " ".join(r["techniques"]), " ".join(r["tactics"]))])
    return buf.getvalue()


def to_markdown(records: list[dict[str, Any]]) -> str:
    lines = ["# proctrail findings", "", f"{len(records)} finding(s).", ""]
    for r in records:
        p = r["process"]
        title = (f"{image_name(p['image'])} (PID {pid_text(p['pid'])}) on {p['host']}" if p
                 else f"{r['target']} on {r['host']}")
        lines += [f"## {r['id']}. [{r['severity']}] {md_text(title)}", "",
                  f"- note: {md_text(r['note']) or '(none)'}",
                  f"- by: {md_text(r['author'] or r['source'])}, {r['created']}"]
        if r["techniques"]:
            lines.append("- ATT&CK: " + ", ".join(label(t) for t in r["techniques"]))
        lines.append("")
        s = r["session"]
        if s:
            lines += [f"Logon session: {md_text(s['user'])}, {md_text(s['logon_type'])}, from "
                      f"{md_text(s['source_ip'] or '-')} (logon id {md_text(s['logon_id'])}, "
                      f"{s['start'] or '?'} → {s['end'] or '?'})", ""]
        if p:
            chain = [*reversed(r["ancestors"]), p]
            lines += ["Ancestor chain (root first):", "", *fenced([
                "  " * depth + ("└─ " if depth else "") +
                printable(f"{a['image']} ({pid_text(a['pid'])}) {a['user'] or '-'} "
                          f"{a['start'] or '?'} → {a['end'] or '?'}")
                for depth, a in enumerate(chain)]), "",
                "Command line:", "", *code_block(p["command_line"]), ""]
        if r["evidence"]:
            lines += ["Evidence:", ""]
            for e in r["evidence"]:
                lines.append(f"- {e['role']}: {md_text(e['channel'])} {e['event_id']}, record "
                             f"{e['record_id']}, {e['time']}, in {md_text(e['file'])}")
                lines += ["", *code_block("\n".join(f"{k}: {v}" for k, v in e["fields"].items()),
                                     indent="  "), ""]
        lines.append("")
    return "\n".join(lines)
