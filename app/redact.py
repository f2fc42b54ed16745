"""Secrets in command lines (passwords, keys, connection strings) masked for display and
export: ``--redact``. Each pattern's second group is what is masked; more patterns can be
added (``--redact-pattern``), each a regular expression with two groups."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "********"
DEFAULT_PATTERNS = (
    # -p secret, /password:secret, --token=secret, -Password "a b"
    r"(?i)((?:^|\s)(?:-{1,2}|/)(?:p|pw|pwd|pass|passwd|password|secret|token|apikey|"
    r"api-key|key)(?:[:=]|\s+))(\"[^\"]*\"|'[^']*'|\S+)",
    # Password=...; Pwd=... in connection strings
    r"(?i)((?:password|passwd|pwd)\s*=\s*)([^;'\"\s]+)",
    # net use \\server\share secret /user:...
    r"(?i)(\bnet(?:\.exe)?\s+use\s+\S+\s+)((?!/)\S+)",
    # scheme://user:secret@host, curl -u user:secret
    r"(://[^/:@\s]+:)([^@/\s]+)(?=@)",
    r"(?i)((?:^|\s)-u\s+[^:\s]+:)(\S+)",
)


class Redactor:
    """Masks the secrets its patterns find."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.patterns = []
        for text in (*DEFAULT_PATTERNS, *extra):
            try:
                pattern = re.compile(text)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {text!r}: {exc}") from exc
            if pattern.groups < 2:
                raise ValueError(f"a redaction pattern needs two groups (prefix, secret): "
                                 f"{text!r}")
            self.patterns.append(pattern)

    def __call__(self, text: str) -> str:
        for pattern in self.patterns:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        return text


def redact_record(record: dict, redactor: Redactor,
                  fields: tuple[str, ...] = ("command_line", "CommandLine",
                                             "ParentCommandLine", "parent_command_line")
                  ) -> dict:
    """A copy of an export record with its command lines (also nested) masked."""
    out = {}
    for key, value in record.items():
        if isinstance(value, str) and key in fields:
            out[key] = redactor(value)
        elif isinstance(value, dict):
            out[key] = redact_record(value, redactor, fields)
        elif isinstance(value, list):
            out[key] = [redact_record(v, redactor, fields) if isinstance(v, dict) else v
                        for v in value]
        else:
            out[key] = value
    return out
