"""How a lifetime, a session and a time read on one line: pure functions over plain values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.text import Text

from proctrail.store.correlate.signal import EXPECTED, shown
from proctrail.store.timefmt import exact, span
from proctrail.widgets.safe import safe

# Short markers for flags, shown after a process line (the help screen lists them).
FLAG_MARKS = {
    "start_missing": ("nostart", "yellow"), "end_missing": ("noend", "yellow"),
    "pid_reused": ("reused", "cyan"), "parent_mismatch": ("mismatch", "red"),
    "placeholder": ("ghost", "bright_black"), "user_changed": ("runas", "magenta"),
    "token_changed": ("token", "magenta"), "clock_jump": ("clock", "red"),
    "exec": ("exec", "cyan"), "exec_replaced": ("execd", "cyan"),
    "ended_at_boot": ("boot", "yellow"), "logon_missing": ("nologon", "yellow"),
    "well_known": ("system", "bright_black"),
    # Routine (issue 17): never marked in a line, named where a process is shown whole.
    "before_log": ("prelog", "bright_black"), "after_log": ("postlog", "bright_black"),
    "user_changed_service": ("runas", "bright_black"),
    "user_changed_wmi": ("runas", "bright_black"),
    "user_changed_logon": ("runas", "bright_black"),
    "user_changed_broker": ("runas", "bright_black"),
}
SEVERITY_STYLES = {"critical": "bold white on red", "high": "bold red", "medium": "yellow",
                   "low": "cyan", "info": "bright_black"}


def when(us: int | None, with_date: bool = True) -> str:
    """``11-02 08:21:31`` (UTC), or ``?``."""
    if us is None:
        return "?"
    fmt = "%m-%d %H:%M:%S" if with_date else "%H:%M:%S"
    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime(fmt)


def full_time(us: int | None) -> str:
    """``2026-11-02 08:21:31.413462 UTC``, without the fraction's noise (``08:21:31 UTC``
    for a log that keeps whole seconds, ``.326`` for milliseconds), or ``unknown``."""
    return exact(us)


def lifetime(start: int | None, end: int | None) -> Text:
    """``11-02 08:21:31 → 08:22:14 (42.6s)``, with ``…`` for an unknown end."""
    same_day = start is not None and end is not None and when(start)[:5] == when(end)[:5]
    text = Text(when(start))
    text.append(" → ")
    text.append(when(end, with_date=not same_day) if end is not None else "…")
    if start is not None and end is not None:
        text.append(f" ({span(end - start)})", style="dim")
    return text


def flag_marks(flags: tuple[str, ...] | list[str], findings: int = 0) -> Text:
    """The flags as short coloured words, and a star per finding; routine flags
    (:data:`~proctrail.store.correlate.signal.ROUTINE`) are left out."""
    text = Text()
    for flag in shown(flags):
        word, style = FLAG_MARKS.get(flag, (flag, "yellow"))
        text.append(" ")
        text.append(word, style=style)
    if findings:
        text.append(" ")
        text.append("★" * min(findings, 3), style="bold yellow")
    return text


def expected_flags(flags: tuple[str, ...] | list[str]) -> Text:
    """``expected: <why>`` for each routine flag, one a line (empty if none)."""
    text = Text()
    for flag in flags:
        if flag in EXPECTED:
            if text:
                text.append("\n")
            text.append(f"{flag}: expected: {EXPECTED[flag]}", style="dim")
    return text


def process_line(row: Any, show_host: bool = False) -> Text:
    """``powershell.exe  7020  CORP\\alice  11-02 08:21:31 → … flags`` for a lifetime row
    (any object with name, pid, user, start_us, end_us, flags, findings, host)."""
    text = Text()
    if show_host:
        text.append_text(safe(row.host, "dim"))
        text.append(" ")
    text.append_text(safe(row.name, "bold"))
    text.append(f"  {'?' if row.pid is None else row.pid}  ", style="cyan")
    if row.user:
        text.append_text(safe(row.user, "green"))
        text.append("  ")
    text.append_text(lifetime(row.start_us, row.end_us))
    text.append_text(flag_marks(row.flags, getattr(row, "findings", 0)))
    return text
