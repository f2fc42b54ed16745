"""Ingest benchmark: the bare Rust EVTX parser against a full proctrail ingest.

    python bench/ingest_bench.py [PATHS...] [--db URL] [--parser evtx|python-evtx]
                                 [--repeat N] [--scale K] [--tracemalloc] [--profile N] [--json]

With no PATHS, every ``*.evtx`` under ``../shared/samples`` (next to the repository).
Every measured run is a fresh child process (this script with a hidden ``--child`` flag,
its spec as JSON on stdin) that times its own work with ``time.perf_counter`` after its
imports and reports its own peak RSS (``VmHWM``; see :func:`_peak_rss_mb`), so the bare
parser's and the ingest's numbers are taken the same way. Rates are the best of
``--repeat`` runs; peak RSS is the highest seen. See bench/README.md for what every
number means.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "samples"
EVTX_MAGIC = b"ElfFile\x00"
PARSERS = ("evtx", "python-evtx")
TARGET_RATIO = 0.5
TARGET_PEAK_MB = 500.0
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Spec = dict[str, Any]


# -- child side: one measured run, one JSON line on stdout -----------------------------------


def _peak_rss_mb() -> float | None:
    """This process image's peak resident set size in MB.

    Linux: ``VmHWM`` of /proc/self/status. Not ``ru_maxrss``: Linux carries the spawning
    process's peak over fork and exec into it (and so into ``RUSAGE_CHILDREN``), so a
    child started by a 50 MB parent never reports less than 50 MB. Elsewhere ru_maxrss
    (KiB, bytes on macOS), with that caveat.
    """
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def _open_input(item: Spec) -> Any:
    """A path or a binary stream for the Rust parser, as the ingest opens the same input."""
    if item["kind"] == "file":
        return item["path"]
    if item["kind"] == "zip":
        import zipfile

        with zipfile.ZipFile(item["path"]) as archive:
            return io.BytesIO(archive.read(item["member"]))
    import gzip

    with gzip.open(item["path"], "rb") as stream:
        return io.BytesIO(stream.read())


def _run_bare(spec: Spec) -> dict[str, Any]:
    """records_json() of every EVTX input iterated to the end; errors counted, not raised."""
    import evtx

    records = errors = 0
    started = time.perf_counter()
    for item in spec["inputs"]:
        try:
            parser = evtx.PyEvtxParser(_open_input(item))
            it = iter(parser.records_json())
        except (OSError, RuntimeError, ValueError):
            errors += 1
            continue
        while True:
            try:
                next(it)
            except StopIteration:
                break
            except (OSError, RuntimeError, ValueError):
                errors += 1
                continue
            records += 1
    return {"seconds": time.perf_counter() - started, "records": records, "errors": errors}


def _run_reader(spec: Spec) -> dict[str, Any]:
    """proctrail's readers alone (parse, JSON decode, normalize): every input, no store."""
    from proctrail.store.events import Event, Skip
    from proctrail.store.readers.base import ReaderError, ReadOptions
    from proctrail.store.readers.sniff import iter_inputs, open_records

    opts = ReadOptions(parser=spec["parser"])
    records = skipped = failed = 0
    started = time.perf_counter()
    for item in iter_inputs(spec["paths"]):
        if isinstance(item, ReaderError):
            failed += 1
            continue
        try:
            with item.open() as stream:
                _fmt, events = open_records(item, stream, opts)
                for event in events:
                    if isinstance(event, Skip):
                        skipped += 1
                    elif isinstance(event, Event):  # not a damaged chunk's report
                        records += 1
        except (ReaderError, OSError, EOFError, ValueError):
            failed += 1
    return {"seconds": time.perf_counter() - started, "records": records,
            "skipped": skipped, "failed": failed}


def _db_size_mb(url: str) -> float | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    files = [Path(parsed.database + suffix) for suffix in ("", "-wal", "-shm")]
    return sum(f.stat().st_size for f in files if f.exists()) / (1 << 20)


def _run_ingest(spec: Spec) -> dict[str, Any]:
    """``Ingestor(open_engine(url), ReadOptions(parser=...)).run(paths)``, timed whole."""
    from proctrail.store.db import database_url, open_engine
    from proctrail.store.ingest import Ingestor
    from proctrail.store.readers.base import ReadOptions

    url = database_url(spec["db"])
    profiler = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    engine = open_engine(url)
    report = Ingestor(engine, ReadOptions(parser=spec["parser"]), force=spec["force"]).run(
        spec["paths"])
    seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(spec["profile"])
    engine.dispose()
    return {
        "seconds": seconds,
        "records": report.total("records_read"),
        "stored": report.total("stored"),
        "duplicates": report.total("duplicates"),
        "skipped": sum(report.skipped.values()),
        "failed": len(report.failed),
        "inputs": len(report.sources),
        "db_mb": _db_size_mb(url),
    }


def _child() -> int:
    spec = json.loads(sys.stdin.read())
    tracing = spec.get("tracemalloc", False)
    # Import everything the run needs before measuring, so the timer sees only the work.
    preload = {"bare": "evtx", "reader": "proctrail.store.readers.sniff",
               "ingest": "proctrail.store.ingest"}
    importlib.import_module(preload[spec["mode"]])
    baseline = _peak_rss_mb()
    if tracing:
        import tracemalloc

        tracemalloc.start()
    run = {"bare": _run_bare, "reader": _run_reader, "ingest": _run_ingest}[spec["mode"]]
    out = run(spec)
    if tracing:
        out["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / (1 << 20)
        tracemalloc.stop()
    out["baseline_rss_mb"] = baseline
    out["peak_rss_mb"] = _peak_rss_mb()
    sys.stdout.write(json.dumps(out) + "\n")
    return EXIT_OK


# -- parent side: inputs, runs, report ---------------------------------------------------------


class BenchError(Exception):
    """A child run failed: the message says which and why."""


def _spawn(spec: Spec) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return what it reports."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child"]
    done = subprocess.run(cmd, input=json.dumps(spec), capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise BenchError(f"{spec['mode']} run failed (exit {done.returncode}):\n{tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _files(paths: list[str]) -> list[Path]:
    """Every file below ``paths``, folders walked in sorted order as the ingest does."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs.sort()
                out.extend(Path(root) / name for name in sorted(names))
        else:
            out.append(path)
    return out


def _inputs_of(file: Path) -> list[Spec] | None:
    """The EVTX inputs of one file (itself, or its archive members); None if any is not EVTX."""
    from proctrail.store.readers.base import ReaderError
    from proctrail.store.readers.sniff import iter_inputs

    specs: list[Spec] = []
    for item in iter_inputs([str(file)]):
        if isinstance(item, ReaderError):
            return None
        try:
            with item.open() as stream:
                magic = stream.read(len(EVTX_MAGIC))
        except (OSError, EOFError, ValueError):
            return None
        if magic != EVTX_MAGIC:
            return None
        specs.append({"path": item.path, "member": item.member, "kind": item.kind,
                      "sha256": item.sha256()})
    return specs or None


def _groups(paths: list[str]) -> dict[str, dict[str, list[Any]]]:
    """Files split into the EVTX group (bare parser comparable) and everything else.

    An EVTX input whose content (SHA-256) came earlier is left out of the bare runs, as
    the ingest reads it once only: both then read the same records.
    """
    groups: dict[str, dict[str, list[Any]]] = {}
    seen: set[str] = set()
    for file in _files(paths):
        specs = _inputs_of(file)
        name = "evtx" if specs is not None else "other"
        group = groups.setdefault(name, {"files": [], "inputs": [], "same_content": []})
        group["files"].append(str(file))
        for spec in specs or []:
            if spec["sha256"] in seen:
                group["same_content"].append(spec)
            else:
                seen.add(spec["sha256"])
                group["inputs"].append(spec)
    return dict(sorted(groups.items()))


def _link_copies(files: list[str], k: int, where: Path) -> list[str]:
    """``k`` differently named hard links (or copies) of every file, under ``where``."""
    out: list[str] = []
    for copy in range(k):
        folder = where / f"copy{copy:03d}"
        folder.mkdir(parents=True)
        for index, file in enumerate(files):
            target = folder / f"{index:05d}-{copy:03d}-{Path(file).name}"
            try:
                os.link(file, target)
            except OSError:
                shutil.copyfile(file, target)
            out.append(str(target))
    return out


def _fresh_db(args: argparse.Namespace, tmp: Path, tag: str) -> str:
    return args.db if args.db else str(tmp / f"{tag}.db")


def _drop_db(args: argparse.Namespace, db: str) -> None:
    if args.db:
        return
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(db + suffix)


def _log(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr, flush=True)


def _measure_group(args: argparse.Namespace, name: str, group: dict[str, list[Any]],
                   tmp: Path) -> dict[str, Any]:
    evtx_group = name == "evtx"
    bare_runs: list[dict[str, Any]] = []
    reader_runs: list[dict[str, Any]] = []
    ingest_runs: list[dict[str, Any]] = []
    for run in range(1, args.repeat + 1):
        if evtx_group:
            bare = _spawn({"mode": "bare", "inputs": group["inputs"]})
            bare_runs.append(bare)
            _log(args, f"  [{name} {run}/{args.repeat}] bare: {bare['records']:,} records "
                       f"in {bare['seconds']:.2f}s, peak {bare['peak_rss_mb']:.0f} MB")
        if not args.no_reader:
            reader = _spawn({"mode": "reader", "paths": group["files"], "parser": args.parser})
            reader_runs.append(reader)
            _log(args, f"  [{name} {run}/{args.repeat}] reader: {reader['records']:,} records "
                       f"in {reader['seconds']:.2f}s, peak {reader['peak_rss_mb']:.0f} MB")
        db = _fresh_db(args, tmp, f"{name}-run{run}")
        ingest = _spawn({"mode": "ingest", "paths": group["files"], "db": db,
                         "parser": args.parser, "force": bool(args.db)})
        _drop_db(args, db)
        ingest_runs.append(ingest)
        _log(args, f"  [{name} {run}/{args.repeat}] ingest: {ingest['records']:,} records "
                   f"in {ingest['seconds']:.2f}s, peak {ingest['peak_rss_mb']:.0f} MB")

    best_ingest = min(ingest_runs, key=lambda r: r["seconds"])
    result: dict[str, Any] = {
        "group": name,
        "files": len(group["files"]),
        "inputs": (len(group["inputs"]) + len(group["same_content"]) if evtx_group
                   else best_ingest["inputs"]),
        "same_content_inputs": len(group["same_content"]),
        "records": best_ingest["records"],
        "stored": best_ingest["stored"],
        "duplicates": best_ingest["duplicates"],
        "skipped": best_ingest["skipped"],
        "failed_inputs": best_ingest["failed"],
        "ingest_seconds": best_ingest["seconds"],
        "ingest_rec_s": _rate(best_ingest),
        "ingest_peak_rss_mb": max(r["peak_rss_mb"] or 0.0 for r in ingest_runs),
        "ingest_baseline_rss_mb": best_ingest["baseline_rss_mb"],
        "db_mb": best_ingest["db_mb"],
        "reader_rec_s": None,
        "reader_seconds": None,
        "reader_peak_rss_mb": None,
        "bare_records": None,
        "bare_errors": None,
        "bare_seconds": None,
        "bare_rec_s": None,
        "bare_peak_rss_mb": None,
        "bare_baseline_rss_mb": None,
        "ratio": None,
    }
    if reader_runs:
        best_reader = min(reader_runs, key=lambda r: r["seconds"])
        result.update(
            reader_rec_s=_rate(best_reader),
            reader_seconds=best_reader["seconds"],
            reader_peak_rss_mb=max(r["peak_rss_mb"] or 0.0 for r in reader_runs),
        )
    if bare_runs:
        best_bare = min(bare_runs, key=lambda r: r["seconds"])
        result.update(
            bare_records=best_bare["records"],
            bare_errors=best_bare["errors"],
            bare_seconds=best_bare["seconds"],
            bare_rec_s=_rate(best_bare),
            bare_peak_rss_mb=max(r["peak_rss_mb"] or 0.0 for r in bare_runs),
            bare_baseline_rss_mb=best_bare["baseline_rss_mb"],
        )
        if result["bare_rec_s"]:
            result["ratio"] = result["ingest_rec_s"] / result["bare_rec_s"]

    if args.tracemalloc:
        if evtx_group:
            traced = _spawn({"mode": "bare", "inputs": group["inputs"], "tracemalloc": True})
            result["bare_tracemalloc_peak_mb"] = traced["tracemalloc_peak_mb"]
        db = _fresh_db(args, tmp, f"{name}-traced")
        traced = _spawn({"mode": "ingest", "paths": group["files"], "db": db,
                         "parser": args.parser, "force": bool(args.db), "tracemalloc": True})
        _drop_db(args, db)
        result["ingest_tracemalloc_peak_mb"] = traced["tracemalloc_peak_mb"]
        _log(args, f"  [{name}] tracemalloc peak: ingest "
                   f"{traced['tracemalloc_peak_mb']:.1f} MB")

    if args.scale > 1:
        copies = _link_copies(group["files"], args.scale, tmp / f"{name}-copies")
        db = _fresh_db(args, tmp, f"{name}-scale")
        scaled = _spawn({"mode": "ingest", "paths": copies, "db": db, "parser": args.parser,
                         "force": True})
        _drop_db(args, db)
        shutil.rmtree(tmp / f"{name}-copies")
        result["scale"] = {
            "k": args.scale,
            "records": scaled["records"],
            "stored": scaled["stored"],
            "duplicates": scaled["duplicates"],
            "seconds": scaled["seconds"],
            "rec_s": _rate(scaled),
            "peak_rss_mb_k1": result["ingest_peak_rss_mb"],
            "peak_rss_mb_k": scaled["peak_rss_mb"],
            "db_mb": scaled["db_mb"],
        }
        _log(args, f"  [{name}] scale x{args.scale}: {scaled['records']:,} records in "
                   f"{scaled['seconds']:.1f}s, peak {scaled['peak_rss_mb']:.0f} MB")

    if args.profile:
        stats_file = tmp / f"{name}.prof"
        db = _fresh_db(args, tmp, f"{name}-profile")
        _spawn({"mode": "ingest", "paths": group["files"], "db": db, "parser": args.parser,
                "force": bool(args.db), "profile": str(stats_file)})
        _drop_db(args, db)
        result["profile"] = _profile_top(stats_file, args.profile)
    return result


def _rate(run: dict[str, Any]) -> float:
    return run["records"] / run["seconds"] if run["seconds"] > 0 else 0.0


def _profile_top(stats_file: Path, n: int) -> dict[str, Any]:
    """The top ``n`` functions by cumulative and by own time of a cProfile dump."""
    import pstats

    profile = pstats.Stats(str(stats_file), stream=io.StringIO()).get_stats_profile()
    total = profile.total_tt or 1.0
    rows = [
        {
            "function": _short_name(name, fp.file_name, fp.line_number),
            "ncalls": fp.ncalls,
            "tottime": fp.tottime,
            "cumtime": fp.cumtime,
            "cum_pct": 100.0 * fp.cumtime / total,
        }
        for name, fp in profile.func_profiles.items()
    ]
    return {
        "total_seconds": total,
        "by_cumtime": sorted(rows, key=lambda r: -r["cumtime"])[:n],
        "by_tottime": sorted(rows, key=lambda r: -r["tottime"])[:n],
    }


def _short_name(func: str, file_name: str, line: int) -> str:
    if file_name == "~":  # a builtin: pstats names it "<built-in method ...>"
        return func
    path = file_name.replace(os.sep, "/")
    for marker in ("/site-packages/", "/lib/python"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        if "/proctrail/" in path:  # an installed or unpacked copy: name it from the package
            path = path.rsplit("/proctrail/", 1)[1]
        with contextlib.suppress(ValueError):
            path = str(Path(file_name).resolve().relative_to(REPO))
    return f"{path}:{line}({func})"


def _machine(args: argparse.Namespace) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    def ver(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "evtx": ver("evtx"),
        "python-evtx": ver("python-evtx"),
        "sqlalchemy": ver("sqlalchemy"),
        "parser": args.parser,
        "repeat": args.repeat,
        "db": args.db or "fresh SQLite file in a temp dir",
        **_code_measured(),
    }


def _code_measured() -> dict[str, Any]:
    """Which proctrail the children import, and its git commit (``+dirty`` if edited)."""
    spec = importlib.util.find_spec("proctrail.store.ingest")
    if spec is None or spec.origin is None:
        return {"proctrail": None, "commit": None}
    where = Path(spec.origin).resolve().parents[1]
    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--",
                                "store", "app"], capture_output=True, text=True,
                               check=True).stdout.strip()
        commit = head + ("+dirty" if dirty else "")
    return {"proctrail": str(where), "commit": commit}


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _print_table(result: dict[str, Any]) -> None:
    m = result["machine"]
    print(f"proctrail ingest benchmark: --parser {m['parser']}, best of {m['repeat']}, "
          f"{m['cpus']} CPUs, Python {m['python']}, evtx {m['evtx']}, "
          f"SQLAlchemy {m['sqlalchemy']}")
    print(f"proctrail from {m['proctrail']}" + (f" at {m['commit']}" if m["commit"] else ""))
    head = ("group", "inputs", "records", "bare rec/s", "reader rec/s", "ingest rec/s", "ratio",
            "bare peak MB", "ingest peak MB", "DB MB")
    rows = [head]
    for g in result["groups"]:
        rows.append((
            g["group"], f"{g['inputs']:,}", f"{g['records']:,}",
            _fmt(g["bare_rec_s"], ",.0f"), _fmt(g["reader_rec_s"], ",.0f"),
            _fmt(g["ingest_rec_s"], ",.0f"),
            _fmt(g["ratio"], ".2f"), _fmt(g["bare_peak_rss_mb"], ".0f"),
            _fmt(g["ingest_peak_rss_mb"], ".0f"), _fmt(g["db_mb"], ".1f"),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    for g in result["groups"]:
        notes = []
        if g["bare_rec_s"] is not None:
            notes.append(f"bare {g['bare_records']:,} records + {g['bare_errors']} errors "
                         f"in {g['bare_seconds']:.2f}s")
        if g["reader_rec_s"] is not None:
            notes.append(f"reader {g['reader_seconds']:.2f}s, "
                         f"peak {g['reader_peak_rss_mb']:.0f} MB")
        notes += [f"ingest {g['ingest_seconds']:.2f}s", f"{g['stored']:,} stored",
                  f"{g['duplicates']:,} duplicates", f"{g['skipped']:,} skipped",
                  f"{g['failed_inputs']} unreadable"]
        rss = f"RSS after imports: ingest {g['ingest_baseline_rss_mb']:.0f} MB"
        if g["bare_baseline_rss_mb"] is not None:
            rss += f", bare {g['bare_baseline_rss_mb']:.0f} MB"
        notes.append(rss)
        if g["same_content_inputs"]:
            notes.append(f"{g['same_content_inputs']} inputs repeat earlier content: read "
                         "once by the ingest (same SHA-256), left out of the bare runs")
        if "ingest_tracemalloc_peak_mb" in g:
            traced = f"tracemalloc peak: ingest {g['ingest_tracemalloc_peak_mb']:.1f} MB"
            if "bare_tracemalloc_peak_mb" in g:
                traced += f", bare {g['bare_tracemalloc_peak_mb']:.1f} MB"
            notes.append(traced)
        print(f"\n{g['group']}: " + "; ".join(notes))
        if "scale" in g:
            s = g["scale"]
            print(f"{g['group']} x{s['k']}: {s['records']:,} records read "
                  f"({s['stored']:,} stored, {s['duplicates']:,} duplicates) in "
                  f"{s['seconds']:.1f}s = {s['rec_s']:,.0f} rec/s; peak RSS "
                  f"{s['peak_rss_mb_k']:.0f} MB at x{s['k']} vs {s['peak_rss_mb_k1']:.0f} MB "
                  f"at x1; DB {_fmt(s['db_mb'], '.1f')} MB")
    print("\ntargets:")
    for line in result["verdicts"]:
        print(f"  {line}")
    for g in result["groups"]:
        if "profile" not in g:
            continue
        prof = g["profile"]
        total = prof["total_seconds"]
        for key, title in (("by_cumtime", "cumulative"), ("by_tottime", "own time")):
            print(f"\nprofile of the {g['group']} ingest ({total:.2f}s under cProfile), "
                  f"top {len(prof[key])} by {title}:")
            print(f"  {'ncalls':>10} {'tottime':>8} {'cumtime':>8} {'cum%':>5}  function")
            for r in prof[key]:
                print(f"  {r['ncalls']:>10} {r['tottime']:8.3f} {r['cumtime']:8.3f} "
                      f"{r['cum_pct']:5.1f}  {r['function']}")


def _verdicts(groups: list[dict[str, Any]]) -> list[str]:
    out = []
    for g in groups:
        if g["ratio"] is not None:
            ok = g["ratio"] >= TARGET_RATIO
            out.append(f"{g['group']}: ingest/bare {g['ratio']:.2f} "
                       f"{'meets' if ok else 'MISSES'} >= {TARGET_RATIO}")
        peaks = [g["ingest_peak_rss_mb"]]
        if "scale" in g:
            peaks.append(g["scale"]["peak_rss_mb_k"])
        peak = max(peaks)
        ok = peak < TARGET_PEAK_MB
        out.append(f"{g['group']}: peak RSS {peak:.0f} MB "
                   f"{'meets' if ok else 'MISSES'} < {TARGET_PEAK_MB:.0f} MB")
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ingest_bench.py",
        description="Bare Rust EVTX parser vs full proctrail ingest: records/s, peak RSS, "
                    "DB size. Default inputs: every *.evtx under ../shared/samples.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="log files, folders or archives (default: the shared samples' "
                             "*.evtx)")
    parser.add_argument("--db", help="store to ingest into (SQLite file or SQLAlchemy URL); "
                                     "default a fresh SQLite file per run in a temp dir. "
                                     "With --db every run re-reads with force=True, so runs "
                                     "after the first find only duplicates")
    parser.add_argument("--parser", choices=PARSERS, default="evtx",
                        help="EVTX parser of the ingest (default evtx, the Rust one)")
    parser.add_argument("--repeat", type=_positive, default=3, metavar="N",
                        help="runs per measurement; rates are the best (default 3)")
    parser.add_argument("--scale", type=_positive, default=1, metavar="K",
                        help="also ingest K differently named links of every input into one "
                             "store (force=True) and compare peak RSS with K=1")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="one more (untimed) run per measurement with tracemalloc on: "
                             "peak of Python allocations")
    parser.add_argument("--profile", type=_positive, default=0, metavar="N",
                        help="one more (untimed) ingest under cProfile: top N functions")
    parser.add_argument("--no-reader", action="store_true",
                        help="skip the reader-only runs (proctrail's readers without the store)")
    parser.add_argument("--generate", type=_positive, default=0, metavar="EVENTS",
                        help="measure on a generated 'scale' case of about EVENTS events "
                             "(EVTX, Security and Sysmon; one host per 2M events) instead "
                             "of PATHS")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:  # a measured run: its spec on stdin, its numbers as JSON on stdout
        return _child()
    paths = args.paths
    generated: tempfile.TemporaryDirectory[str] | None = None
    if args.generate:
        from proctrail.generate.scale import write_scale

        generated = tempfile.TemporaryDirectory(prefix="proctrail-scale-")
        out = Path(generated.name) / "scale"
        _log(args, f"generating about {args.generate:,} events into {out}")
        paths = [str(p) for p in write_scale(out, max(1, args.generate // 4),
                                             hosts=max(1, args.generate // 2_000_000))]
    if not paths:
        if not SAMPLES.is_dir():
            print(f"ingest_bench: no PATHS given and no samples folder at {SAMPLES}; "
                  "pass log files or folders to measure", file=sys.stderr)
            return EXIT_USAGE
        paths = [str(p) for p in sorted(SAMPLES.rglob("*.evtx"))]
        if not paths:
            print(f"ingest_bench: no *.evtx under {SAMPLES}", file=sys.stderr)
            return EXIT_USAGE
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        for p in missing:
            print(f"ingest_bench: {p}: no such file or folder", file=sys.stderr)
        return EXIT_USAGE

    groups = _groups(paths)
    result: dict[str, Any] = {"machine": _machine(args), "groups": []}
    try:
        with tempfile.TemporaryDirectory(prefix="proctrail-bench-") as tmp:
            for name, group in groups.items():
                _log(args, f"{name}: {len(group['files']):,} files")
                result["groups"].append(_measure_group(args, name, group, Path(tmp)))
    except BenchError as exc:
        print(f"ingest_bench: {exc}", file=sys.stderr)
        return EXIT_FAILED
    result["verdicts"] = _verdicts(result["groups"])
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        _print_table(result)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
