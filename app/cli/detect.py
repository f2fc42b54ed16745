"""``proctrail detect``: Sigma rules, IOC lists and baselines over the process starts."""

from __future__ import annotations

import argparse
from pathlib import Path

from proctrail.app.cli.common import EXIT_OK, add_db
from proctrail.store.errors import UsageError
from proctrail.store.text import printable


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
    p.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help="settings file (default ./proctrail.toml if present): rule folders, "
                        "IOC lists, baselines, track/ignore lists, which integrity "
                        "anomalies become findings")
    p.add_argument("--baseline", action="append", default=[], metavar="NAME",
                   help="report the first run of every executable this baseline does not "
                        "know; may be repeated")
    p.add_argument("--ioc", action="append", type=Path, default=[], metavar="FILE",
                   help="a list of SHA256/SHA1/MD5 digests (one a line, or a CSV) to find "
                        "among the processes' hashes; may be repeated")
    p.add_argument("--quiet", "-q", action="store_true", help="the summary only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proctrail.store.db import open_engine
    from proctrail.store.detect.baseline import BaselineError
    from proctrail.store.detect.config import load_config
    from proctrail.store.detect.ioc import load_iocs
    from proctrail.store.detect.run import detect

    config = load_config(args.config)
    rules = [*config.rules, *args.rules]
    missing = [p for p in rules if not p.exists()]
    if missing:
        raise UsageError(f"{missing[0]}: no such rule file or folder")
    ioc_files = [*config.iocs, *args.ioc]
    iocs = load_iocs(ioc_files) if ioc_files else None
    try:
        report = detect(open_engine(args.db), rules,
                        builtin=config.builtin and not args.no_builtin, iocs=iocs,
                        baselines=[*config.baselines, *args.baseline], config=config)
    except BaselineError as exc:  # a --baseline the case does not have: the command line
        raise UsageError(str(exc)) from exc
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
