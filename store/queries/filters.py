"""The filter that narrows tables and trees: host, user, time range, image glob, flags."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select

from proctrail.store.errors import UsageError
from proctrail.store.hosts import on_host
from proctrail.store.models import Finding, LogonSession, Process, ProcessSource
from proctrail.store.text import glob_to_like

__all__ = ["Filter", "FilterError", "glob_to_like", "parse_filter", "split_search"]

FILTER_KEYS = ("host", "user", "image", "flag", "flags", "from", "to", "dest", "port", "file",
               "tactic", "technique")


class FilterError(UsageError):
    """Filter words that cannot be read: the word and what would be understood."""


@dataclass(frozen=True)
class Filter:
    """What the analyst narrowed the view to; empty fields match everything."""

    host: str = ""  # any spelling of a machine's name, any case: the whole machine
    user: str = ""
    start_us: int | None = None
    end_us: int | None = None
    image: str = ""  # a glob, case-insensitive: *\powershell.exe
    flags: frozenset[str] = field(default_factory=frozenset)
    findings: bool = False  # only processes with a finding (bookmark, rule, IOC)
    tactic: str = ""  # ... with a finding of this ATT&CK tactic (a glob: lateral-movement)
    technique: str = ""  # ... with a finding of this ATT&CK technique (a glob: t1059*)
    dest: str = ""  # what processes did: an address or host name they reached (a glob)
    port: int | None = None  # ... a port they connected to (or bound)
    file: str = ""  # ... a file, registry or object path they touched (a glob)

    @property
    def empty(self) -> bool:
        return self == Filter()

    def describe(self) -> str:
        """One line for a status bar: ``host=ws01 user=alice flags=end_missing``."""
        parts = [f"{k}={v}" for k, v in (("host", self.host), ("user", self.user),
                                          ("image", self.image)) if v]
        if self.flags:
            parts.append("flags=" + ",".join(sorted(self.flags)))
        if self.findings:
            parts.append("findings")
        parts += [f"{k}={v}" for k, v in (("tactic", self.tactic),
                                           ("technique", self.technique)) if v]
        parts += [f"{k}={v}" for k, v in (("dest", self.dest), ("port", self.port),
                                           ("file", self.file)) if v not in ("", None)]
        if self.start_us is not None or self.end_us is not None:
            from proctrail.store.timefmt import clock
            parts.append(f"time={clock(self.start_us)}..{clock(self.end_us)}")
        return " ".join(parts) or "no filter"

    def processes(self) -> list[ColumnElement[bool]]:
        """Conditions on :class:`Process`."""
        out: list[ColumnElement[bool]] = []
        if self.host:
            out.append(on_host(Process.host_id, self.host))
        if self.user:
            out.append(func.lower(Process.user).contains(self.user.lower(), autoescape=True))
        if self.image:
            out.append(func.lower(Process.image).like(glob_to_like(self.image.lower()),
                                                      escape="\\"))
        if self.start_us is not None:
            out.append(or_(Process.end_us.is_(None), Process.end_us >= self.start_us))
        if self.end_us is not None:
            out.append(or_(Process.start_us.is_(None), Process.start_us <= self.end_us))
        if self.flags:
            out.append(_has_flag(Process.flags, self.flags))
        if self.findings:
            out.append(Process.id.in_(
                select(ProcessSource.process_id)
                .join(Finding, Finding.anchor_event == ProcessSource.event_pk)
                .where(Finding.target == "process")))
        for pattern in _attack_patterns(self.tactic, self.technique):
            out.append(Process.id.in_(
                select(ProcessSource.process_id)
                .join(Finding, Finding.anchor_event == ProcessSource.event_pk)
                .where(Finding.target == "process", Finding.tags.regexp_match(pattern))))
        from proctrail.store.queries.activity import touched
        did = touched(self.dest, self.port, self.file)
        if did is not None:
            out.append(Process.id.in_(did))
        return out

    def sessions(self) -> list[ColumnElement[bool]]:
        """Conditions on :class:`LogonSession`."""
        out: list[ColumnElement[bool]] = []
        if self.host:
            out.append(on_host(LogonSession.host_id, self.host))
        if self.user:
            out.append(func.lower(LogonSession.user).contains(self.user.lower(),
                                                              autoescape=True))
        if self.start_us is not None:
            out.append(or_(LogonSession.end_us.is_(None), LogonSession.end_us >= self.start_us))
        if self.end_us is not None:
            out.append(or_(LogonSession.start_us.is_(None),
                           LogonSession.start_us <= self.end_us))
        if self.flags:
            out.append(_has_flag(LogonSession.flags, self.flags))
        return out


def _attack_value(key: str, value: str) -> str:
    """A ``tactic=``/``technique=`` glob, lower case as findings store tags
    (``Lateral_Movement`` -> ``lateral-movement``, ``T1059*`` -> ``t1059*``)."""
    value = value.lower().replace("_", "-")
    allowed = r"[a-z*?-]+" if key == "tactic" else r"t[0-9.*?]*|[*?][0-9.*?]*"
    if not re.fullmatch(allowed, value):
        example = "tactic=lateral-movement" if key == "tactic" else "technique=T1059*"
        raise FilterError(f"not an ATT&CK {key}: {value!r} (use e.g. {example})")
    return value


def _attack_patterns(tactic: str, technique: str) -> list[str]:
    """Regular expressions (Python's and PostgreSQL's alike) on a finding's stored tags
    (``attack.execution,attack.t1059.001``): one whole tag matches each glob, ``*`` never
    across a comma."""
    def glob(value: str) -> str:
        return "".join("[^,]*" if c == "*" else "[^,]" if c == "?" else re.escape(c)
                       for c in value)
    out = []
    if tactic:  # a tactic's tag is no technique, group or software id
        out.append(rf"(^|,)attack\.(?![tgs][0-9]){glob(tactic)}(,|$)")
    if technique:
        out.append(rf"(^|,)attack\.(?=t[0-9]){glob(technique)}(,|$)")
    return out


def _has_flag(column: Any, flags: frozenset[str]) -> ColumnElement[bool]:
    """``column`` (comma-separated flags) holds one of ``flags``; a glob
    (``user_changed*``: the plain one and its routine kinds) matches whole flags."""
    listed = "," + column + ","
    return or_(*(listed.like(f"%,{glob_to_like(flag)},%", escape="\\") if "*" in flag
                 or "?" in flag else listed.contains(f",{flag},", autoescape=True)
                 for flag in sorted(flags)))


def parse_filter(text: str) -> Filter:
    """``host=ws01 user=alice image=*\\cmd.exe flags=end_missing,pid_reused
    from=2026-11-02T08:00 to=2026-11-02T09:00 findings``; a bare word filters images
    (``powershell`` → ``*powershell*``), ``findings`` keeps processes with findings;
    ``dest=evil.example port=443 file=*\\Run\\*`` keep processes by what they did.
    Raises ValueError naming what is wrong."""
    from proctrail.store.readers.base import parse_time

    values: dict[str, Any] = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if word.lower() in ("findings", "findings=yes"):
            values["findings"] = True
            continue
        if not sep:
            values["image"] = f"*{word}*" if "*" not in word and "?" not in word else word
            continue
        key = key.lower()
        if key == "host":
            values["host"] = value
        elif key == "user":
            values["user"] = value
        elif key == "image":
            values["image"] = value
        elif key in ("flag", "flags"):
            values["flags"] = frozenset(f for f in value.split(",") if f)
        elif key in ("tactic", "technique"):
            values[key] = _attack_value(key, value)
        elif key in ("dest", "file"):
            values[key] = value
        elif key == "port":
            if not value.isdigit() or int(value) > 65535:
                raise FilterError(f"not a port: {value!r} (use e.g. port=443)")
            values["port"] = int(value)
        elif key in ("from", "to"):
            us = parse_time(value)
            if us is None:
                raise FilterError(f"not a time: {value!r} (use e.g. 2026-11-02T08:00)")
            values["start_us" if key == "from" else "end_us"] = us
        else:
            raise FilterError(f"unknown filter {key!r}: use " + ", ".join(
                k for k in FILTER_KEYS if k != "flag"))
    return Filter(**values)


def split_search(text: str) -> tuple[str, Filter]:
    """A search box's words as people type them: ``powershell | user=alice``, but also
    ``user=alice`` or ``powershell user=alice host=ws0*`` (filter words anywhere, the
    rest is the text to find) and ``| user=alice`` (a filter alone). Raises
    :class:`FilterError` for a filter word it cannot read."""
    head, bar, tail = text.partition("|")
    words, rest = [], []
    for word in head.split():
        key, sep, _value = word.partition("=")
        if (sep and key.lower() in FILTER_KEYS) or word.lower() == "findings":
            words.append(word)
        else:
            rest.append(word)
    flt_text = " ".join(words + ([tail] if bar else []))
    return " ".join(rest), parse_filter(flt_text) if flt_text.strip() else Filter()
