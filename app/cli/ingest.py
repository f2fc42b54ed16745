"""``proctrail ingest``: read logs into the case, then correlate."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from proctrail.app.cli.common import (
    EXIT_OK,
    EXIT_SKIPPED,
    EXIT_SPOOLED,
    EXIT_USAGE,
    add_config,
    add_db,
    add_workers,
    error,
    settings,
)
from proctrail.store.readers.base import PARSERS

if TYPE_CHECKING:
    from sqlalchemy import Engine


def utc_offset(text: str) -> timedelta:
    """``UTC``, ``+02:00``, ``-0500`` or ``+2`` as a UTC offset."""
    if text.upper() in ("UTC", "Z", "GMT"):
        return timedelta(0)
    m = re.fullmatch(r"([+-])(\d{1,2})(?::?(\d{2}))?", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"not a UTC offset: {text!r} (use e.g. +02:00 or UTC)")
    sign = -1 if m.group(1) == "-" else 1
    return sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))


def byte_size(text: str) -> int:
    """``1048576``, ``512M``, ``20G`` as bytes."""
    m = re.fullmatch(r"(\d+)\s*([KMGT]?)i?B?", text.strip(), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 20G or 500M)")
    return int(m.group(1)) << (10 * " KMGT".index(m.group(2).upper() or " "))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
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
    p.add_argument("paths", nargs="*", metavar="PATH", help="log files, folders or archives")
    p.add_argument("--resume", action="store_true",
                   help="replay what earlier runs spooled while the database was away "
                        "(every ingest does this first), then read PATHs if given")
    add_db(p)
    p.add_argument("--parser", choices=PARSERS, default="evtx",
                   help="EVTX parser: the fast Rust 'evtx' (default) or the reference "
                        "'python-evtx'")
    p.add_argument("--host", default="unknown",
                   help="host name for records that carry none (raw auditd without node=)")
    p.add_argument("--tz", type=utc_offset, default=None, metavar="OFFSET",
                   help="UTC offset of local times written without a zone (ausearch -i "
                        "output, collectors' local time when it cannot be derived); "
                        "default UTC")
    p.add_argument("--max-member-size", type=byte_size, default=None, metavar="BYTES",
                   help="largest archive member to unpack to a temporary file (EVTX "
                        "needs random access), e.g. 20G; default 250 times its "
                        "compressed size, at most 8G")
    p.add_argument("--force", action="store_true",
                   help="read files again even if their content is already in the store")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress, no summary")
    add_workers(p)
    p.add_argument("--no-correlate", action="store_true",
                   help="do not rebuild process lifetimes and sessions after reading "
                        "(nor run the detections)")
    p.add_argument("--no-detect", action="store_true",
                   help="do not run the detections after correlating (by default they run "
                        "as 'proctrail detect' would, with the settings' rules, IOC lists "
                        "and baselines, when something new was correlated or the case has "
                        "no findings yet)")
    p.add_argument("--follow", "-f", action="store_true",
                   help="keep reading: files that grow and files dropped into the folders "
                        "are stored within a second, and the correlation of the machines "
                        "they are about is brought up to date (an open TUI shows it); "
                        "ctrl+c stops between two steps, nothing lost or doubled")
    add_config(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proctrail.app.cli.progress import ProgressBar
    from proctrail.app.cli.summary import print_correlation, print_ingest
    from proctrail.store.db import open_engine
    from proctrail.store.ingest import IngestReport
    from proctrail.store.load import Listener, load_case
    from proctrail.store.readers.base import ReadOptions

    if not args.paths and not args.resume:
        error("ingest: give PATHs to read, or --resume to replay the spool")
        return EXIT_USAGE
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        for p in missing:
            error(f"{p}: no such file or folder")
        return EXIT_USAGE
    config = settings(args)  # a config that cannot be used: exit 2 before reading anything
    engine = open_engine(args.db)
    opts = ReadOptions(default_host=args.host, local_offset=args.tz, parser=args.parser,
                       max_member_size=args.max_member_size)
    show = not args.quiet and sys.stderr.isatty()

    def read(report: IngestReport) -> None:
        bar.stop()  # the summary prints on a clean line
        print_ingest(report, quiet=args.quiet)
        if args.resume and not report.replayed and not args.quiet and report.spool is None:
            print("nothing was spooled for this case")

    if args.follow and (args.no_correlate or not args.paths):
        error("ingest --follow: give PATHs to follow, and let it correlate")
        return EXIT_USAGE
    follower = None
    if args.follow:
        from proctrail.store.follow import Follower

        follower = Follower(engine, args.paths, opts, config.track_filter,
                            image_loads=config.image_loads)
    with ProgressBar(enabled=show) as bar:
        done = load_case(engine, args.paths, options=opts, force=args.force,
                         correlation=not args.no_correlate, workers=args.workers,
                         config=config, listener=Listener(reading=bar.update, read=read),
                         follower=follower, cluster=args.cluster)
    report = done.ingest
    assert report is not None
    if done.spooled:
        db = engine.url.render_as_string(hide_password=True)
        error(f"{db}: the database went away ({report.spool_reason}); "
              f"{report.total('records_read'):,} records read are safe, those not stored "
              f"are kept in {report.spool}; run 'proctrail ingest --resume' when it is back")
        return EXIT_SPOOLED
    if args.cluster and not args.quiet:
        print(f"cluster {args.cluster}: {report.cluster_tasks:,} of "
              f"{len(report.sources):,} inputs read there" + (
                  f"; {report.here:,} files read here (not on the workers' shares, or the "
                  "cluster went away)" if report.here else ""))
    if follower is not None:
        from proctrail.app.cli.follow import follow

        assert done.correlation is not None
        return follow(engine, args, follower, done.correlation)
    if not args.quiet:
        if done.correlation is not None:
            print_correlation(done.correlation)
        elif not args.no_correlate:
            print("nothing new since the last correlation: kept ('proctrail correlate' "
                  "rebuilds it)")
    if not (args.no_correlate or args.no_detect):
        detect_after(engine, args, fresh=done.correlation is not None)
    return EXIT_OK if report.clean else EXIT_SKIPPED


def detect_after(engine: Engine, args: argparse.Namespace, fresh: bool) -> None:
    """The detections after reading, so that a case read by ``ingest`` opens with its
    findings: when this run correlated something new, or no pass has left findings yet (a
    re-run that stored nothing keeps the findings it has, as it keeps the correlation)."""
    from proctrail.app.cli.detect import detections, summary_line
    from proctrail.store.detect.run import has_detections

    if not fresh and has_detections(engine):
        if not args.quiet:
            print("nothing new to detect on: findings kept ('proctrail detect' reruns them)")
        return
    report = detections(engine, settings(args), workers=args.workers, cluster=args.cluster)
    if not args.quiet:
        print("detect: " + summary_line(report))
