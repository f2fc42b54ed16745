"""IOC hash lists: SHA256, SHA1 and MD5 digests, one a line or anywhere in a CSV, matched
against the hashes Sysmon records for each process (``Hashes: SHA1=..,MD5=..``)."""

from __future__ import annotations

import re
from pathlib import Path

from proctrail.store.errors import UsageError

_DIGEST = re.compile(r"\b([0-9a-fA-F]{64}|[0-9a-fA-F]{40}|[0-9a-fA-F]{32})\b")
ALGORITHMS = {32: "MD5", 40: "SHA1", 64: "SHA256"}


class IocError(UsageError):
    """An IOC file that cannot be used: a one-line reason naming it."""


def load_iocs(paths: list[Path]) -> dict[str, str]:
    """Every digest in the files, lower-case, mapped to the file that listed it."""
    out: dict[str, str] = {}
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise IocError(f"{path}: cannot read the IOC list: {exc.strerror}") from exc
        found = {m.lower() for m in _DIGEST.findall(text)}
        if not found:
            raise IocError(f"{path}: no MD5, SHA1 or SHA256 digest in it")
        for digest in found:
            out.setdefault(digest, str(path))
    return out


def hashes_of(value: str) -> list[tuple[str, str]]:
    """``SHA1=AB..,MD5=CD..`` (Sysmon) as (algorithm, lower-case digest) pairs; a bare
    digest is recognised by its length."""
    out = []
    for part in re.split(r"[,;\s]+", value.strip()):
        name, sep, digest = part.partition("=")
        if not sep:
            name, digest = ALGORITHMS.get(len(part), ""), part
        if digest and _DIGEST.fullmatch(digest):
            out.append((name.upper(), digest.lower()))
    return out
