"""The ``proctrail`` command: subcommands over one case store."""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.exc import SQLAlchemyError

from proctrail.app.export import csv_cell
from proctrail.app.redact import Redactor, redact_record
from proctrail.app.tree_text import render, render_chain
from proctrail.store.correlate import CorrelationReport, correlate
from proctrail.store.db import DEFAULT_DB, StoreError, database_url, open_engine
from proctrail.store.detect.config import ConfigError
from proctrail.store.events import Damage
from proctrail.store.failures import store_failure
from proctrail.store.graph import ancestors, process_graph, roots, session_tree, subtree
from proctrail.store.ingest import Ingestor, IngestReport, Progress
from proctrail.store.queries import (
    export_findings,
    export_processes,
    export_sessions,
    process_summaries,
    stats,
)
from proctrail.store.readers.base import ReadOptions
from proctrail.store.readers.sniff import PARSERS
from proctrail.store.text import printable

EXIT_OK, EXIT_SKIPPED, EXIT_USAGE = 0, 1, 2
EXIT_SPOOLED = 3  # the database went away: what was read waits in the local spool

DESCRIPTION = """\
proctrail reads process-tracking logs (Windows Security and Sysmon EVTX, XML and JSON
exports, Linux auditd and Sysmon for Linux) into a case store, rebuilds process
lifetimes and parent chains, and lets you investigate them from the terminal."""


def _offset(text: str) -> timedelta:
    """``UTC``, ``+02:00``, ``-0500`` or ``+2`` as a UTC offset."""
    if text.upper() in ("UTC", "Z", "GMT"):
        return timedelta(0)
    m = re.fullmatch(r"([+-])(\d{1,2})(?::?(\d{2}))?", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"not a UTC offset: {text!r} (use e.g. +02:00 or UTC)")
    sign = -1 if m.group(1) == "-" else 1
    return sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))


def _size(text: str) -> int:
    """``1048576``, ``512M``, ``20G`` as bytes."""
    m = re.fullmatch(r"(\d+)\s*([KMGT]?)i?B?", text.strip(), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 20G or 500M)")
    return int(m.group(1)) << (10 * " KMGT".index(m.group(2).upper() or " "))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="proctrail", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    db_help = (f"case store: a SQLite file or a SQLAlchemy URL "
               f"(default ./{DEFAULT_DB}, or $PROCTRAIL_DB)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ingest = sub.add_parser(
        "ingest", help="read log files, folders and archives into the case store",
        description=(
            "Read logs into the case store. Formats are detected from content: EVTX, "
            "Windows XML exports, JSON lines (evtx_dump, Winlogbeat, NXLog), Linux auditd "
            "(raw and ausearch -i) and Sysmon for Linux syslog lines. Folders are read "
            "recursively; .zip and .gz archives member by member. Re-ingesting adds nothing "
            "twice. If the database goes away mid-run, what is read is kept in a local "
            "spool and replayed by --resume or the next ingest. Exit status: 0 all read, 1 "
            "something skipped or unreadable, 2 usage error, 3 database unreachable (spooled)."
        ),
    )
    ingest.add_argument("paths", nargs="*", metavar="PATH", help="log files, folders or archives")
    ingest.add_argument("--resume", action="store_true",
                        help="replay what earlier runs spooled while the database was away "
                             "(every ingest does this first), then read PATHs if given")
    ingest.add_argument("--db", help=db_help)
    ingest.add_argument("--parser", choices=PARSERS, default="evtx",
                        help="EVTX parser: the fast Rust 'evtx' (default) or the reference "
                             "'python-evtx'")
    ingest.add_argument("--host", default="unknown",
                        help="host name for records that carry none (raw auditd without node=)")
    ingest.add_argument("--tz", type=_offset, default=None, metavar="OFFSET",
                        help="UTC offset of local times written without a zone (ausearch -i "
                             "output, collectors' local time when it cannot be derived); "
                             "default UTC")
    ingest.add_argument("--max-member-size", type=_size, default=None, metavar="BYTES",
                        help="largest archive member to unpack to a temporary file (EVTX "
                             "needs random access), e.g. 20G; default 250 times its "
                             "compressed size, at most 8G")
    ingest.add_argument("--force", action="store_true",
                        help="read files again even if their content is already in the store")
    ingest.add_argument("--quiet", "-q", action="store_true", help="no progress, no summary")
    ingest.add_argument("--no-correlate", action="store_true",
                        help="do not rebuild process lifetimes and sessions after reading")

    cor = sub.add_parser("correlate", help="rebuild process lifetimes and logon sessions",
                         description="Rebuild process lifetimes and logon sessions from every "
                                     "stored event (ingest does this after reading).")
    cor.add_argument("--db", help=db_help)

    det = sub.add_parser(
        "detect", help="run Sigma rules over the process starts; store the findings",
        description="Match every stored process start (4688, 592, Sysmon 1, auditd execve, "
                    "Sysmon for Linux) against proctrail's built-in Sigma rules and the "
                    "process_creation rules under each --rules folder (a SigmaHQ checkout's "
                    "rules/windows/process_creation, say). Findings of a previous run are "
                    "replaced; bookmarks are kept. Rules that cannot be evaluated are listed "
                    "with the reason.")
    det.add_argument("--db", help=db_help)
    det.add_argument("--rules", action="append", type=Path, default=[], metavar="DIR",
                     help="a folder (or file) of Sigma rules; may be repeated")
    det.add_argument("--no-builtin", action="store_true", help="skip the built-in rules")
    det.add_argument("--config", type=Path, default=None, metavar="FILE",
                     help="settings file (default ./proctrail.toml if present): rule folders, "
                          "IOC lists, baselines, track/ignore lists, which integrity "
                          "anomalies become findings")
    det.add_argument("--baseline", action="append", default=[], metavar="NAME",
                     help="report the first run of every executable this baseline does not "
                          "know; may be repeated")
    det.add_argument("--ioc", action="append", type=Path, default=[], metavar="FILE",
                     help="a list of SHA256/SHA1/MD5 digests (one a line, or a CSV) to find "
                          "among the processes' hashes; may be repeated")
    det.add_argument("--quiet", "-q", action="store_true", help="the summary only")

    base = sub.add_parser(
        "baseline", help="known executables: build from a period, import, export",
        description="A baseline lists the executables known to run. 'build' takes every "
                    "image started in a period (all hosts together, --per-host, or the "
                    "--host a golden machine); 'import' reads a listing (dir /s /b output "
                    "or one path a line); 'export' prints it. 'proctrail detect --baseline "
                    "NAME' then reports the first run of every other executable. Paths "
                    "compare case- and separator-insensitively.")
    base.add_argument("action", choices=("build", "import", "export"))
    base.add_argument("name", help="the baseline's name")
    base.add_argument("file", nargs="?", type=Path, help="import: the listing to read")
    base.add_argument("--db", help=db_help)
    base.add_argument("--from", dest="start", metavar="TIME", help="build: from this time")
    base.add_argument("--to", dest="end", metavar="TIME", help="build: up to this time")
    base.add_argument("--host", action="append", default=[],
                      help="build: only these hosts; import: the host the listing is of")
    base.add_argument("--per-host", action="store_true",
                      help="build: each host its own list (default: one list for all)")

    exp = sub.add_parser("export", help="write processes, sessions or findings as JSON lines "
                                        "or CSV; a timeline, a table, a process graph",
                         description="Write one record per process lifetime or logon session "
                                     "to stdout (or --out). Times are ISO 8601 UTC. "
                                     "'timeline': starts, ends, logons, logoffs and findings "
                                     "in time order for Timesketch (rows of unknown time left "
                                     "out); 'table NAME': a store table as plain rows; "
                                     "'graph': a --session's or --host's process tree as "
                                     "GraphML or DOT.")
    exp.add_argument("what", choices=("processes", "sessions", "findings",
                                      "timeline", "table", "graph"))
    exp.add_argument("name", nargs="?", metavar="NAME", help="table: which table")
    exp.add_argument("--db", help=db_help)
    exp.add_argument("--format", choices=("jsonl", "csv", "graphml", "dot"), default=None,
                     help="jsonl (default) or csv; graph: graphml (default) or dot")
    exp.add_argument("--host", help="only this host (case-insensitive)")
    exp.add_argument("--session", type=int, metavar="ID", help="only this session's processes")
    exp.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    _redact_options(exp)

    tree = sub.add_parser("tree", help="print a process tree, like pstree",
                          description="Print process trees with lifetimes: one session's, "
                                      "one process's subtree, or a host's forest. "
                                      "--ancestors prints the parent chain instead.")
    which = tree.add_mutually_exclusive_group(required=True)
    which.add_argument("--session", type=int, metavar="ID")
    which.add_argument("--process", type=int, metavar="ID")
    which.add_argument("--host", metavar="H")
    tree.add_argument("--ancestors", action="store_true",
                      help="with --process: its parent chain up to the root")
    tree.add_argument("--db", help=db_help)

    rep = sub.add_parser(
        "report", help="the case in one document: scope, anomalies, findings with evidence",
        description="Write the case as one document: scope (sources with SHA-256, hosts, "
                    "time span), integrity anomalies, and every finding, most severe first, "
                    "with its note, its process chain under its logon session and the raw "
                    "events behind it. Markdown goes to stdout unless --out; HTML (one "
                    "self-contained file that prints well) to --out or "
                    "./proctrail-report.html; '--out -' writes either to stdout.")
    rep.add_argument("--db", help=db_help)
    rep.add_argument("--format", choices=("md", "html"), default="md")
    rep.add_argument("--out", metavar="FILE", help="where to write ('-' for stdout)")
    _redact_options(rep)

    gen = sub.add_parser(
        "generate", help="write scenario logs with known truth (demo, or any size)",
        description="Write a scenario's logs and its truth file into a folder: 'demo' (a "
                    "small intrusion over four hosts: the bundled sample_logs/), "
                    "'collectors' (the shapes real collectors write: Sysmon without "
                    "ProcessId, header lag, NetBIOS/FQDN names, target logons, boots) or "
                    "'scale' (process trees of any size, streamed, for benchmarks). Seeded: "
                    "the same seed writes the same bytes.")
    gen.add_argument("scenario", choices=("demo", "collectors", "scale"))
    gen.add_argument("--out", required=True, type=Path, help="folder to write into")
    gen.add_argument("--seed", type=int, default=None, help="random seed (default: fixed)")
    gen.add_argument("--format", default="evtx", metavar="LIST",
                     help="Windows log formats, comma-separated: evtx, xml, jsonl; or mixed "
                          "(demo: the first Windows host as XML exports, the others as "
                          "EVTX, as sample_logs/ holds it). Default evtx; Linux hosts "
                          "always write raw auditd")
    gen.add_argument("--truth", type=Path, default=None,
                     help="where the truth file goes (default: beside the folder, "
                          "OUT.truth.json or OUT.truth.jsonl for scale)")
    gen.add_argument("--processes", type=int, default=10_000, help="scale: processes in all")
    gen.add_argument("--hosts", type=int, default=1, help="scale: Windows hosts")

    op = sub.add_parser(
        "open", help="open the investigator TUI (the default with no command)",
        description="Open the investigator TUI on the case store; log paths given are read "
                    "into it first (with progress), then correlated. Keys: 2 sessions, / "
                    "search, 3 findings, ? keys, ctrl+p every action, q quit.")
    op.add_argument("paths", nargs="*", metavar="PATH", help="logs to read in first")
    op.add_argument("--db", help=db_help)
    _redact_options(op)

    srv = sub.add_parser(
        "serve", help="open the same TUI in a browser (textual-serve)",
        description="Serve the investigator TUI over HTTP: each browser tab runs 'proctrail "
                    "open' on the case. Listens on 127.0.0.1 unless --host says otherwise; "
                    "anyone who reaches the address gets the whole case.")
    srv.add_argument("--db", help=db_help)
    srv.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1, this machine only)")
    srv.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    srv.add_argument("--public-url", metavar="URL",
                     help="the address browsers use, when behind a proxy or a tunnel")
    srv.add_argument("--token", default=None,
                     help="the secret the URL carries (default: a new random one per launch)")
    srv.add_argument("--max-sessions", type=int, default=4, metavar="N",
                     help="browser sessions (each a 'proctrail open') at once (default 4)")
    _redact_options(srv)

    st = sub.add_parser("stats", help="counts of the case store",
                        description="Counts of the case store: events, sources, hosts, skips, "
                                    "and events per channel and event id.")
    st.add_argument("--db", help=db_help)
    st.add_argument("--json", action="store_true", help="print one JSON object")

    dbc = sub.add_parser(
        "db", help="the store's schema version: show it, or upgrade an older store",
        description="'current' prints the store's schema revision; 'upgrade' brings a store "
                    "made by an older proctrail to this one's revision, in one transaction, "
                    "keeping every row (a store made before schema versions is recognised "
                    "by its tables). Other commands refuse an older store until then.")
    dbc.add_argument("action", choices=("upgrade", "current"))
    dbc.add_argument("--db", help=db_help)
    return parser


def _redact_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redact", action="store_true",
                        help="mask secrets in command lines (passwords after net user, "
                             "psexec -p, mysql -p, --password, /password:; keys, tokens, "
                             "Authorization headers, connection strings, user:secret@)")
    parser.add_argument("--redact-pattern", action="append", default=[], metavar="REGEX",
                        help="another secret to mask: a regular expression with two groups, "
                             "the prefix kept and the secret masked; implies --redact")


def _track_filter() -> Callable[[str], bool] | None:
    """The track/ignore lists of ./proctrail.toml, if any."""
    from proctrail.store.detect.config import load_config

    return load_config(None).track_filter


def _redactor(args: argparse.Namespace) -> Redactor | None:
    """A redactor when asked for, on the command line or in ./proctrail.toml."""
    from proctrail.store.detect.config import load_config

    config = load_config(None)
    if not (args.redact or args.redact_pattern or config.redact):
        return None
    return Redactor([*config.redact_patterns, *args.redact_pattern])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            parser.print_help()
            return EXIT_OK
        args = parser.parse_args(["open"])
    try:
        if args.command == "open":
            return _open(args)
        if args.command == "serve":
            from proctrail.app.serve import serve
            return serve(args)
        if args.command == "generate":
            return _generate(args)
        if args.command == "ingest":
            return _ingest(args)
        if args.command == "stats":
            return _stats(args)
        if args.command == "correlate":
            _print_correlation(correlate(open_engine(args.db), tracked=_track_filter()))
            return EXIT_OK
        if args.command == "export":
            return _export(args)
        if args.command == "detect":
            return _detect(args)
        if args.command == "baseline":
            return _baseline(args)
        if args.command == "tree":
            return _tree(args)
        if args.command == "report":
            from proctrail.app.report import run as report

            return report(args)
        if args.command == "db":
            return _db(args)
    except StoreError as exc:
        _error(str(exc))
        return EXIT_SKIPPED
    except SQLAlchemyError as exc:  # a write or read the store refused: say what it means
        _error(str(store_failure(exc, database_url(getattr(args, "db", None)),
                                 args.command)))
        return EXIT_SKIPPED
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader of our output went away (``| head``): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        _error("interrupted; what was stored is consistent, run the same command to finish")
        return 130
    parser.print_help()
    return EXIT_USAGE


def _generate(args: argparse.Namespace) -> int:
    from proctrail.generate.formats import FORMATS
    from proctrail.generate.scale import write_scale
    from proctrail.generate.scenarios import default_truth, write_collectors, write_demo

    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    unknown = [f for f in formats if f not in (*FORMATS, "mixed")]
    if unknown or not formats:
        _error(f"unknown log format {unknown[0] if unknown else args.format!r}: use "
               f"{', '.join(FORMATS)}")
        return EXIT_USAGE
    seeded = {"seed": args.seed} if args.seed is not None else {}
    if args.scenario == "demo":
        truth = args.truth or default_truth(args.out)
        files = write_demo(args.out, **seeded, formats=formats, truth_path=truth)
    elif args.scenario == "collectors":
        if "mixed" in formats:
            _error("--format mixed is for the demo; collectors takes evtx, xml, jsonl")
            return EXIT_USAGE
        truth = args.truth or default_truth(args.out)
        files = write_collectors(args.out, **seeded, formats=formats, truth_path=truth)
    else:
        if "mixed" in formats:
            _error("--format mixed is for the demo; scale takes evtx, xml, jsonl")
            return EXIT_USAGE
        if args.processes < 1 or args.hosts < 1:
            _error("--processes and --hosts must be at least 1")
            return EXIT_USAGE
        truth = args.truth or default_truth(args.out, ".jsonl")
        files = write_scale(args.out, args.processes, args.hosts,
                            seed=args.seed if args.seed is not None else 1, formats=formats,
                            truth_path=truth)
    size = sum(f.stat().st_size for f in files)
    print(f"wrote {len(files)} log file(s), {size / 1e6:.1f} MB, into {args.out}; "
          f"truth in {truth}")
    return EXIT_OK


def _open(args: argparse.Namespace) -> int:
    from proctrail.app.tui import ProctrailApp

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        _error(f"{missing[0]}: no such file or folder")
        return EXIT_USAGE
    try:
        redactor = _redactor(args)
    except ValueError as exc:  # a bad pattern, or a config file that cannot be used
        _error(str(exc))
        return EXIT_USAGE
    app = ProctrailApp(open_engine(args.db), ingest=args.paths, redactor=redactor)
    app.run()
    if app.return_code:  # Textual printed the traceback; a script must not read success
        _error(f"the TUI stopped on an error (exit {app.return_code}); see above")
        return EXIT_SKIPPED
    return EXIT_OK


def _error(message: str) -> None:
    print(f"proctrail: error: {printable(message)}", file=sys.stderr)


def _ingest(args: argparse.Namespace) -> int:
    if not args.paths and not args.resume:
        _error("ingest: give PATHs to read, or --resume to replay the spool")
        return EXIT_USAGE
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        for p in missing:
            _error(f"{p}: no such file or folder")
        return EXIT_USAGE
    engine = open_engine(args.db)
    opts = ReadOptions(default_host=args.host, local_offset=args.tz, parser=args.parser,
                       max_member_size=args.max_member_size)
    show = not args.quiet and sys.stderr.isatty()
    with _ProgressBar(enabled=show) as bar:
        report = Ingestor(engine, opts, progress=bar.update).run(args.paths)
    _print_report(report, quiet=args.quiet)
    if report.spool is not None:
        db = engine.url.render_as_string(hide_password=True)
        _error(f"{db}: the database went away ({report.spool_reason}); "
               f"{report.total('records_read'):,} records read are safe, those not stored "
               f"are kept in {report.spool}; run 'proctrail ingest --resume' when it is back")
        return EXIT_SPOOLED
    if args.resume and not report.replayed and not args.quiet:
        print("nothing was spooled for this case")
    if not args.no_correlate:
        result = correlate(engine, tracked=_track_filter())
        if not args.quiet:
            _print_correlation(result)
    return EXIT_OK if report.clean else EXIT_SKIPPED


def _print_correlation(result: CorrelationReport) -> None:
    flags = ", ".join(f"{k} {v:,}" for k, v in result.flags.items()) or "none"
    found = ", ".join(f"{k} {v:,}" for k, v in result.anomalies.items()) or "none"
    print(f"correlated: {result.processes:,} process lifetimes, {result.sessions:,} sessions "
          f"(flags: {flags}); integrity anomalies: {found}")
    if result.unplaced:
        why = "; ".join(f"{reason}: {n:,}" for reason, n in result.unplaced.items())
        print(f"unplaced: {result.unplaced_total():,} records speak of a process not found in "
              f"the logs ({why}); the 'unplaced_event' anomalies list them")


def _tree(args: argparse.Namespace) -> int:
    engine = open_engine(args.db)
    graph = process_graph(engine, host=args.host)
    if args.process is not None:
        if args.process not in graph:
            _error(f"no process with id {args.process}")
            return EXIT_SKIPPED
        nodes = (ancestors(graph, args.process) if args.ancestors
                 else list(subtree(graph, args.process)))
    elif args.session is not None:
        nodes = list(session_tree(graph, args.session))
    else:
        nodes = list(graph)
    if not nodes:
        _error("nothing to show (no such session or host, or no processes)")
        return EXIT_SKIPPED
    info = process_summaries(engine, nodes)
    if args.process is not None and args.ancestors:
        lines = render_chain(nodes, info)
    else:
        shown = graph.subgraph(nodes)
        lines = render(shown, roots(shown), info)
    for line in lines:
        print(line)
    return EXIT_OK


def _baseline(args: argparse.Namespace) -> int:
    from proctrail.store.detect.baseline import (
        BaselineError,
        build_baseline,
        export_baseline,
        import_baseline,
    )
    from proctrail.store.readers.base import parse_time

    engine = open_engine(args.db)
    try:
        if args.action == "build":
            times = []
            for text in (args.start, args.end):
                us = parse_time(text) if text else None
                if text and us is None:
                    _error(f"not a time: {text!r} (use e.g. 2026-01-01 or 2026-01-01T08:00)")
                    return EXIT_USAGE
                times.append(us)
            n = build_baseline(engine, args.name, times[0], times[1], args.host, args.per_host)
            print(f"baseline {args.name}: {n:,} executables")
        elif args.action == "import":
            if args.file is None:
                _error("baseline import needs the listing file to read")
                return EXIT_USAGE
            n = import_baseline(engine, args.name, args.file,
                                args.host[0] if args.host else "")
            print(f"baseline {args.name}: {n:,} executables from {args.file}")
        else:
            for line in export_baseline(engine, args.name):
                print(printable(line))
    except BaselineError as exc:
        _error(str(exc))
        return EXIT_SKIPPED
    return EXIT_OK


def _detect(args: argparse.Namespace) -> int:
    from proctrail.store.detect.baseline import BaselineError
    from proctrail.store.detect.config import ConfigError, load_config
    from proctrail.store.detect.ioc import IocError, load_iocs
    from proctrail.store.detect.run import detect

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
    rules = [*config.rules, *args.rules]
    missing = [p for p in rules if not p.exists()]
    if missing:
        _error(f"{missing[0]}: no such rule file or folder")
        return EXIT_USAGE
    ioc_files = [*config.iocs, *args.ioc]
    try:
        iocs = load_iocs(ioc_files) if ioc_files else None
    except IocError as exc:
        _error(str(exc))
        return EXIT_USAGE
    try:
        report = detect(open_engine(args.db), rules,
                        builtin=config.builtin and not args.no_builtin, iocs=iocs,
                        baselines=[*config.baselines, *args.baseline], config=config)
    except BaselineError as exc:
        _error(str(exc))
        return EXIT_USAGE
    print(f"rules: {report.rules:,} loaded, {len(report.refused):,} refused; "
          f"{report.events:,} process starts in {report.seconds:.1f}s; "
          f"{report.findings:,} findings")
    if not args.quiet:
        reasons: dict[str, int] = {}
        for r in report.refused:
            reasons[r.reason] = reasons.get(r.reason, 0) + 1
        for reason, n in sorted(reasons.items(), key=lambda x: -x[1]):
            print(f"  refused {n:>5}  {printable(reason)}")
        for title, n in report.by_rule.most_common():
            print(f"  {n:>7,}  {printable(title)}")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    engine = open_engine(args.db)
    if args.what in ("timeline", "table", "graph"):
        from proctrail.app.timeline_export import export_more
        return export_more(args, engine)
    if args.format in ("graphml", "dot") or args.name:
        _error(f"export {args.what}: --format is jsonl or csv, and it takes no NAME")
        return EXIT_USAGE
    args.format = args.format or "jsonl"
    if args.what == "processes":
        records = export_processes(engine, host=args.host, session=args.session)
    elif args.what == "sessions":
        records = export_sessions(engine, host=args.host)
    else:
        records = export_findings(engine)
    try:
        redactor = _redactor(args)
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USAGE
    if redactor is not None:
        records = (redact_record(r, redactor) for r in records)
    with contextlib.ExitStack() as stack:
        out: Any = (stack.enter_context(open(args.out, "w", newline="", encoding="utf-8"))
                    if args.out else sys.stdout)
        if not args.out and sys.stdout.isatty():
            out = _TerminalText(sys.stdout)
        if args.format == "jsonl":
            for record in records:
                out.write(orjson.dumps(record).decode() + "\n")
            return EXIT_OK
        writer: csv.DictWriter[str] | None = None
        for record in records:
            row = {k: csv_cell(orjson.dumps(v).decode() if isinstance(v, (list, dict)) else v)
                   for k, v in record.items()}
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
    return EXIT_OK


class _TerminalText:
    """Standard output when it is a terminal: what the logs hold is shown, never run by
    the terminal (escape sequences, C1 controls, line separators made visible). A file
    (``--out``) or a pipe gets the exact text."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(printable(text.replace("\r\n", "\n"), keep_newlines=True))


class _ProgressBar:
    """A rich progress line on stderr: the current file, records and records/s."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress = None
        self._task = None

    def __enter__(self) -> _ProgressBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[{task.fields[index]}/{task.fields[inputs]}]"),
                TextColumn("{task.fields[name]}", markup=False),
                BarColumn(bar_width=20),
                TextColumn("{task.completed:,.0f} records"),
                TextColumn("{task.fields[rate]:,.0f} rec/s"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("ingest", total=None, index=0, inputs=0,
                                                 name="", rate=0.0)
        return self

    def update(self, p: Progress) -> None:
        if self._progress is None or self._task is None:
            return
        elapsed = self._progress.tasks[0].elapsed or 0.0
        rate = p.total_records / elapsed if elapsed > 0 else 0.0
        name = printable(p.name)
        self._progress.update(self._task, completed=p.total_records, index=p.index,
                              inputs=p.inputs, name=name[-40:], rate=rate)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def _print_report(report: IngestReport, quiet: bool) -> None:
    for src in report.replayed:
        if not quiet and src.status != "failed":
            print(f"{printable(src.name)}: replayed from the spool, {src.records_read:,} "
                  f"records, {src.stored:,} stored, {src.duplicates:,} duplicates")
    for src in report.sources:
        name = printable(src.name)
        if src.status == "failed":
            _error(f"{name}: {src.error}")
            continue
        if quiet:
            continue
        if src.status == "already":
            print(f"{name}: already in the store (same SHA-256), skipped")
            continue
        if src.status == "spooled":
            print(f"{name}: {src.format}, {src.records_read:,} read, {src.stored:,} stored "
                  "before the database went away, the rest spooled")
            continue
        line = (f"{name}: {src.format}, {src.records_read:,} read, {src.stored:,} stored, "
                f"{src.duplicates:,} duplicates")
        if src.skipped:
            reasons = ", ".join(f"{r} {n:,}" for r, n in src.skipped.most_common())
            line += f", {src.skipped_total:,} skipped ({printable(reasons)})"
        if src.damage:
            line += f", {_damage_text(src.damage)}"
        print(line)
    if quiet:
        return
    skipped = report.skipped
    rate = report.total("records_read") / report.seconds if report.seconds else 0.0
    print(
        f"\n{len(report.sources)} inputs ({len(report.failed)} unreadable), "
        f"{report.total('records_read'):,} records read, {report.total('stored'):,} stored, "
        f"{report.total('duplicates'):,} duplicates, {sum(skipped.values()):,} skipped"
        f" in {report.seconds:.1f}s ({rate:,.0f} records/s)"
    )
    for reason, n in skipped.most_common():
        print(f"  skipped: {printable(reason)}: {n:,}")
    if report.damaged:
        print(f"  damaged: {report.damaged:,} chunk(s) fail their checksums: their records "
              "are stored as read, each chunk a 'checksum_mismatch' anomaly")


def _damage_text(damage: list[Damage]) -> str:
    """``2 damaged chunk(s) (chunk 3: data CRC, records 201..262; ...)``, three at most."""
    told = "; ".join(
        f"chunk {d.chunk}: {', '.join(d.checks)}"
        + (f", records {d.first_record}..{d.last_record}" if d.first_record is not None
           else "") for d in damage[:3])
    return f"{len(damage):,} damaged chunk(s) ({told}{'; ...' if len(damage) > 3 else ''})"


def _when(us: int | None) -> str:
    if us is None:
        return "unknown"
    return (datetime(1970, 1, 1) + timedelta(microseconds=us)).strftime("%Y-%m-%d %H:%M:%S")


def _stats(args: argparse.Namespace) -> int:
    engine = open_engine(args.db)
    data = stats(engine)
    if args.json:
        sys.stdout.write(orjson.dumps(data).decode() + "\n")
        return EXIT_OK
    print(f"events   {data['events']:,}")
    print(f"sources  {data['sources']:,} ({data['failed_sources']} unreadable)")
    aliases = data["host_aliases"]  # a machine's other names in the logs
    print("hosts    " + ", ".join(
        printable(h) + (f" (also {', '.join(printable(a) for a in aliases[h])})"
                        if h in aliases else "") for h in data["hosts"]))
    print(f"span     {_when(data['first_us'])} .. {_when(data['last_us'])} (UTC)")
    print(f"skipped  {data['skipped']:,}")
    if data["uncorrelated_events"]:
        print(f"         {data['uncorrelated_events']:,} events stored since the last "
              "correlation: run 'proctrail correlate'")
    for reason, n in sorted(data["skip_reasons"].items()):
        print(f"  {printable(reason):<20} {n:,}")
    if data["damaged_chunks"]:  # stored as read; the chunks fail their checksums
        checks = ", ".join(f"{c} {n:,}" for c, n in data["damage_checks"].items())
        print(f"damaged  {data['damaged_chunks']:,} chunk(s) fail their checksums ({checks}): "
              "the 'checksum_mismatch' anomalies")
    if data["unplaced"]:  # read and stored, but about a process none was found for
        print(f"unplaced {sum(data['unplaced'].values()):,} (the 'unplaced_event' anomalies)")
        for reason, n in data["unplaced"].items():
            print(f"  {printable(reason):<45} {n:,}")
    print("kinds")
    for kind, n in data["kinds"].items():
        print(f"  {kind:<20} {n:,}")
    print("\nchannel / event id")
    for row in data["counts"]:
        print(f"  {printable(row['channel']):<45} {row['event_id']:>6} {row['n']:>9,}")
    return EXIT_OK


def _db(args: argparse.Namespace) -> int:
    from proctrail.store.db import HEAD, REVISIONS, schema_state, shown, upgrade, upgrade_command

    engine = open_engine(args.db, create=False, check=False)
    name = shown(engine.url)
    if engine.dialect.name == "sqlite" and name == engine.url.database and \
            not Path(name).is_file():
        _error(f"{name}: no such store")
        return EXIT_SKIPPED
    if args.action == "upgrade":
        start, end = upgrade(engine)
        if start is None:
            print(f"created {name} at {end}")
        elif start == end:
            print(f"{name} is up to date ({end})")
        else:
            print(f"upgraded {name} from {start} to {end}")
        return EXIT_OK
    state = schema_state(engine)
    if state.revision is None:
        note = "empty: no proctrail tables yet"
    elif state.revision == HEAD:
        note = "up to date" if state.stamped else \
            "made before schema versions; opening it stamps it"
    elif state.revision in REVISIONS:
        note = ("older" if state.stamped else "made before schema versions") + \
            f"; run '{upgrade_command(name)}' to bring it to {HEAD}"
    else:
        note = f"newer than this proctrail, which knows up to {HEAD}"
    print(f"{name}: {state.revision or '-'} ({note})")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
