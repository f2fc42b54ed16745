"""``proctrail generate``: scenario logs with known truth (the demo, or any size)."""

from __future__ import annotations

import argparse
from pathlib import Path

from proctrail.app.cli.common import EXIT_OK, EXIT_USAGE, error


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate", help="write scenario logs with known truth (demo, or any size)",
        description="Write a scenario's logs and its truth file into a folder: 'demo' (a "
                    "small intrusion over four hosts: the bundled sample_logs/), "
                    "'collectors' (the shapes real collectors write: Sysmon without "
                    "ProcessId, header lag, NetBIOS/FQDN names, target logons, boots) or "
                    "'scale' (process trees of any size, streamed, for benchmarks). Seeded: "
                    "the same seed writes the same bytes.")
    p.add_argument("scenario", choices=("demo", "collectors", "scale"),
                   help="which logs: the demo intrusion, collector shapes, or a scaled tree")
    p.add_argument("--out", required=True, type=Path, help="folder to write into")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: fixed)")
    p.add_argument("--format", default="evtx", metavar="LIST",
                     help="Windows log formats, comma-separated: evtx, xml, jsonl; or mixed "
                          "(demo: the first Windows host as XML exports, the others as "
                          "EVTX, as sample_logs/ holds it). Default evtx; Linux hosts "
                          "always write raw auditd")
    p.add_argument("--truth", type=Path, default=None,
                     help="where the truth file goes (default: beside the folder, "
                          "OUT.truth.json or OUT.truth.jsonl for scale)")
    p.add_argument("--processes", type=int, default=10_000, help="scale: processes in all")
    p.add_argument("--hosts", type=int, default=1, help="scale: Windows hosts")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proctrail.generate.formats import FORMATS
    from proctrail.generate.scale import write_scale
    from proctrail.generate.scenarios import default_truth, write_collectors, write_demo

    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    unknown = [f for f in formats if f not in (*FORMATS, "mixed")]
    if unknown or not formats:
        error(f"unknown log format {unknown[0] if unknown else args.format!r}: use "
              f"{', '.join(FORMATS)}")
        return EXIT_USAGE
    seeded = {"seed": args.seed} if args.seed is not None else {}
    if args.scenario == "demo":
        truth = args.truth or default_truth(args.out)
        files = write_demo(args.out, **seeded, formats=formats, truth_path=truth)
    elif args.scenario == "collectors":
        if "mixed" in formats:
            error("--format mixed is for the demo; collectors takes evtx, xml, jsonl")
            return EXIT_USAGE
        truth = args.truth or default_truth(args.out)
        files = write_collectors(args.out, **seeded, formats=formats, truth_path=truth)
    else:
        if "mixed" in formats:
            error("--format mixed is for the demo; scale takes evtx, xml, jsonl")
            return EXIT_USAGE
        if args.processes < 1 or args.hosts < 1:
            error("--processes and --hosts must be at least 1")
            return EXIT_USAGE
        truth = args.truth or default_truth(args.out, ".jsonl")
        files = write_scale(args.out, args.processes, args.hosts,
                            seed=args.seed if args.seed is not None else 1, formats=formats,
                            truth_path=truth)
    size = sum(f.stat().st_size for f in files)
    print(f"wrote {len(files)} log file(s), {size / 1e6:.1f} MB, into {args.out}; "
          f"truth in {truth}")
    return EXIT_OK
