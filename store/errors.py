"""One error type for everything proctrail refuses, and the exit codes it maps to.

Every layer's error (a reader's, the store's, a config file's, an IOC list's, a
baseline's, a finding's, a rule pySigma cannot read) subclasses :class:`ProctrailError`:
a one-line message naming what it is about, and the exit status the command ends with.
The CLI catches it in one place (``app/cli/common.py``) and the TUI turns it into one
notification. This module is the bottom layer: it imports nothing of proctrail's.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_SKIPPED = 1  # something was not done: a file unread, a store refused, nothing found
EXIT_USAGE = 2  # the command line (or a file it names) cannot be used as given
EXIT_SPOOLED = 3  # the database went away: what was read waits in the local spool


class ProctrailError(Exception):
    """Something proctrail cannot do, said in one line; ``exit_code`` is the status a
    command ends with when it is not caught sooner."""

    exit_code = EXIT_SKIPPED

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self)


class UsageError(ProctrailError, ValueError):
    """A command line, pattern or named file that cannot be used as given."""

    exit_code = EXIT_USAGE
