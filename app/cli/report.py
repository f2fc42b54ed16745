"""``proctrail report``: the case in one document, Markdown or HTML."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from proctrail.app.cli.common import (
    EXIT_OK,
    EXIT_SKIPPED,
    add_config,
    add_db,
    add_json,
    add_redact,
    error,
    json_text,
    print_json,
    redactor,
)
from proctrail.store.text import printable


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="the case in one document: scope, anomalies, findings with evidence",
        description="Write the case as one document: scope (sources with SHA-256, hosts, "
                    "time span), integrity anomalies, what processes did (records per "
                    "kind, the rarest destinations, who opened lsass), and every finding, "
                    "most severe first, "
                    "with its note, its process chain under its logon session and the raw "
                    "events behind it. Markdown goes to stdout unless --out; HTML (one "
                    "self-contained file that prints well) to --out or "
                    "./proctrail-report.html; '--out -' writes either to stdout.")
    add_db(p)
    p.add_argument("--format", choices=("md", "html"), default="md",
                   help="md: GitHub-flavoured Markdown (default); html: one self-contained "
                        "page that prints well")
    p.add_argument("--out", metavar="FILE", help="where to write ('-' for stdout)")
    add_redact(p)
    add_config(p)
    add_json(p, "the case's summary as one JSON object (counts, findings by "
             "kind and severity, anomalies by kind) instead of the report")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Markdown to stdout (or ``--out``); HTML to ``--out`` or ``proctrail-report.html``
    (``--out -`` writes either to stdout)."""
    from proctrail.app.output.report import DEFAULT_HTML, summary, write_report
    from proctrail.store.db import open_engine, shown

    masking = redactor(args)
    engine = open_engine(args.db)
    if args.json:
        data = summary(engine, case=shown(engine.url))
        if not args.out or args.out == "-":
            print_json(data)
            return EXIT_OK
        text = json_text(data)
        out = args.out
    else:
        text = write_report(engine, args.format, masking, case=shown(engine.url))
        out = args.out or (DEFAULT_HTML if args.format == "html" else "-")
    if out == "-":
        sys.stdout.write(text)
        return EXIT_OK
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        error(f"{out}: {exc.strerror or exc}")
        return EXIT_SKIPPED
    print(f"report written to {printable(out)}", file=sys.stderr)
    return EXIT_OK
