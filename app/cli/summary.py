"""What ingest and correlate print when they are done."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proctrail.app.cli.common import error
from proctrail.store.text import printable

if TYPE_CHECKING:
    from proctrail.store.correlate import CorrelationReport
    from proctrail.store.events import Damage
    from proctrail.store.ingest import IngestReport


def print_ingest(report: IngestReport, quiet: bool) -> None:
    for src in report.replayed:
        if not quiet and src.status != "failed":
            print(f"{printable(src.name)}: replayed from the spool, {src.records_read:,} "
                  f"records, {src.stored:,} stored, {src.duplicates:,} duplicates")
    for src in report.sources:
        name = printable(src.name)
        if src.status == "failed":
            error(f"{name}: {src.error}")
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
            line += f", {damage_text(src.damage)}"
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


def damage_text(damage: list[Damage]) -> str:
    """``2 damaged chunk(s) (chunk 3: data CRC, records 201..262; ...)``, three at most."""
    told = "; ".join(
        f"chunk {d.chunk}: {', '.join(d.checks)}"
        + (f", records {d.first_record}..{d.last_record}" if d.first_record is not None
           else "") for d in damage[:3])
    return f"{len(damage):,} damaged chunk(s) ({told}{'; ...' if len(damage) > 3 else ''})"


def print_correlation(result: CorrelationReport) -> None:
    flags = ", ".join(f"{k} {v:,}" for k, v in result.flags.items()) or "none"
    found = ", ".join(f"{k} {v:,}" for k, v in result.anomalies.items()) or "none"
    print(f"correlated: {result.processes:,} process lifetimes, {result.sessions:,} sessions "
          f"(flags: {flags}); integrity anomalies: {found}")
    if result.unplaced:
        why = "; ".join(f"{reason}: {n:,}" for reason, n in result.unplaced.items())
        print(f"unplaced: {result.unplaced_total():,} records speak of a process not found in "
              f"the logs ({why}); the 'unplaced_event' anomalies list them")
    if result.explicit:  # 4648s: linked to the session they opened, or why not
        linked = result.explicit.get("linked", 0)
        why = "; ".join(f"{reason}: {n:,}" for reason, n in result.explicit.items()
                        if reason != "linked")
        total = sum(result.explicit.values())
        print(f"explicit credentials (4648): {linked:,} of {total:,} linked to the session "
              f"they opened" + (f" (not linked: {why})" if why else ""))
