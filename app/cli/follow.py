"""``proctrail ingest --follow``: after the first read, keep the case up to date."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING

from proctrail.app.cli.common import EXIT_OK

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from proctrail.store.correlate import CorrelationReport
    from proctrail.store.follow import Follower, FollowStep


def step_line(done: FollowStep) -> str:
    """One line a step: what it read and what correlation did with it."""
    when = time.strftime("%H:%M:%S")
    read = ""
    if done.ingest is not None:
        failed = [s for s in done.ingest.sources if s.status == "failed"]
        read = (f"+{done.stored:,} events from {len(done.files)} "
                f"file{'s' if len(done.files) != 1 else ''}")
        if failed:
            read += "; " + "; ".join(f"{s.name}: {s.error}" for s in failed[:3])
    update = done.update
    if update is None:
        return f"{when} {read or 'nothing new'}"
    if update.rebuilt:
        how = "the whole case correlated again (a machine is known by a new name)"
    else:
        parts = []
        if update.appended:
            parts.append(f"{len(update.appended)} machine"
                         f"{'s' if len(update.appended) != 1 else ''} brought up to date")
        if update.again:
            parts.append(f"{len(update.again)} correlated whole (new, older events "
                         "came in late, or its clock jumped)")
        how = ", ".join(parts) or "nothing to correlate"
    return f"{when} {read + '; ' if read else ''}{how} in {update.seconds:.2f} s"


def follow(engine: Engine, args: argparse.Namespace, follower: Follower,
           report: CorrelationReport) -> int:
    """After the first read and correlation: detect, then follow until ctrl+c; detect
    once more on the way out if anything came."""
    from proctrail.app.cli.common import settings
    from proctrail.app.cli.detect import detections, summary_line
    from proctrail.app.cli.ingest import detect_after
    from proctrail.app.cli.summary import print_correlation

    if not args.quiet:
        print_correlation(report)
    if not args.no_detect:
        detect_after(engine, args, fresh=True)
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    previous_term = signal.getsignal(signal.SIGTERM)

    def interrupted(_signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():  # a second ctrl+c: the user means it
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    if not args.quiet:
        print(f"following {len(follower.seen):,} files; ctrl+c stops", flush=True)
    took = 0

    def each(done: FollowStep) -> None:
        nonlocal took
        took += done.stored
        if args.quiet:
            return
        if done.files or done.update is not None:
            print(step_line(done), flush=True)
        if done.detection is not None:
            print("detect: " + summary_line(done.detection), flush=True)  # type: ignore[arg-type]

    def detect() -> object:
        return detections(engine, settings(args))

    try:
        follower.run(stop, each, detect=None if args.no_detect else detect)
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
    if not args.quiet:
        print(f"stopped: {took:,} events stored while following; nothing half-stored")
    return EXIT_OK
