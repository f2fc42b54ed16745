"""``proctrail detect``: Sigma rules, IOC lists and baselines over the process starts."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from proctrail.app.cli.common import (
    EXIT_OK,
    add_config,
    add_db,
    add_json,
    add_workers,
    print_json,
    settings,
)
from proctrail.store.errors import UsageError
from proctrail.store.text import printable

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from proctrail.store.detect.config import Config
    from proctrail.store.detect.run import DetectReport


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "detect", help="run Sigma rules over the process starts; store the findings",
        description="Match every stored process start (4688, 592, Sysmon 1, auditd execve, "
                    "Sysmon for Linux) against proctrail's built-in Sigma rules and the "
                    "process_creation rules under each --rules folder (a SigmaHQ checkout's "
                    "rules/windows/process_creation, say). Findings of a previous run are "
                    "replaced; bookmarks are kept. Rules that cannot be evaluated are listed "
                    "with the reason.")
    add_db(p)
    p.add_argument("--rules", action="append", type=Path, default=[], metavar="DIR",
                   help="a folder (or file) of Sigma rules; may be repeated")
    p.add_argument("--no-builtin", action="store_true", help="skip the built-in rules")
    add_config(p)
    add_workers(p)
    p.add_argument("--baseline", action="append", default=[], metavar="NAME",
                   help="report the first run of every executable this baseline does not "
                        "know; may be repeated")
    p.add_argument("--ioc", action="append", type=Path, default=[], metavar="FILE",
                   help="a list of SHA256/SHA1/MD5 digests (one a line, or a CSV) to find "
                        "among the processes' hashes; may be repeated")
    p.add_argument("--quiet", "-q", action="store_true", help="the summary only")
    add_json(p, "the pass as one JSON object (rules, events, findings, refused, by_rule)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proctrail.store.db import open_engine

    report = detections(open_engine(args.db), settings(args), rules=args.rules,
                        iocs=args.ioc, baselines=args.baseline, builtin=not args.no_builtin,
                        workers=args.workers, cluster=args.cluster)
    if args.json:
        print_json(report_json(report))
        return EXIT_OK
    print(summary_line(report))
    if not args.quiet:
        reasons: dict[str, int] = {}
        for r in report.refused:
            reasons[r.reason] = reasons.get(r.reason, 0) + 1
        for reason, n in sorted(reasons.items(), key=lambda x: -x[1]):
            print(f"  refused {n:>5}  {printable(reason)}")
        for title, n in report.by_rule.most_common():
            print(f"  {n:>7,}  {printable(title)}")
    return EXIT_OK


def detections(engine: Engine, config: Config, *, rules: list[Path] | None = None,
               iocs: list[Path] | None = None, baselines: list[str] | None = None,
               builtin: bool = True, workers: int | None = None,
               cluster: str | None = None) -> DetectReport:
    """One detection pass as ``proctrail detect`` runs it: the settings' rule folders, IOC
    lists and baselines, and those given beside them; ``workers`` / ``cluster`` as
    :func:`~proctrail.store.detect.run.detect` takes them."""
    from proctrail.store.detect.baseline import BaselineError
    from proctrail.store.detect.ioc import load_iocs
    from proctrail.store.detect.run import detect

    paths = [*config.rules, *(rules or [])]
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"{missing[0]}: no such rule file or folder")
    ioc_files = [*config.iocs, *(iocs or [])]
    try:
        return detect(engine, paths, builtin=config.builtin and builtin,
                      iocs=load_iocs(ioc_files) if ioc_files else None,
                      baselines=[*config.baselines, *(baselines or [])], config=config,
                      workers=workers, cluster=cluster)
    except BaselineError as exc:  # a baseline the case does not have: the command line
        raise UsageError(str(exc)) from exc


def summary_line(report: DetectReport) -> str:
    """``rules: 40 loaded, 0 refused; 120 process starts in 0.1s; 7 findings``."""
    return (f"rules: {report.rules:,} loaded, {len(report.refused):,} refused; "
            f"{report.events:,} process starts in {report.seconds:.1f}s"
            f"{f' ({report.slices:,} machine slices in parallel)' if report.slices else ''}; "
            f"{report.findings:,} findings")


def report_json(report: DetectReport) -> dict[str, object]:
    """The pass as ``detect --json`` prints it (see the README's CLI section)."""
    return {"rules": report.rules, "events": report.events, "findings": report.findings,
            "seconds": round(report.seconds, 3), "slices": report.slices,
            "refused": [{"rule": str(r.path), "reason": r.reason} for r in report.refused],
            "by_rule": [{"rule": title, "findings": n}
                        for title, n in sorted(report.by_rule.items(),
                                               key=lambda item: (-item[1], item[0]))]}

