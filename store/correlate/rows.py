"""Final lifetimes and sessions as the store's rows: what a machine's correlation hands
the single writer, in this process or from a worker."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from proctrail.store.correlate.extract import Unplaced
from proctrail.store.correlate.lifetimes import ACT_FIELDS, Lifetime
from proctrail.store.correlate.sessions import Session

PROCESS_COLUMNS = ("id", "host_id", "pid", "process_guid", "image", "command_line", "cwd",
                   "hashes", "integrity", "user", "creator_user", "end_user", "logon_id",
                   "session_id", "start_us", "end_us", "exit_status", "parent_id",
                   "parent_pid", "parent_image", "flags", "token_changes")
SESSION_COLUMNS = ("id", "host_id", "logon_id", "user", "logon_type", "source_ip",
                   "workstation", "auth_package", "elevated", "start_us", "end_us",
                   "logon_event", "logoff_event", "flags", "remote")
SOURCE_COLUMNS = ("process_id", "event_pk", "role")
ACTIVITY_COLUMNS = ("process_id", "host_id", *ACT_FIELDS)
Row = tuple[object, ...]


@dataclass
class Rows:
    """Rows waiting for the writer, and what was counted on the way."""

    sessions: list[Row] = field(default_factory=list)
    processes: list[Row] = field(default_factory=list)
    sources: list[Row] = field(default_factory=list)
    activity: list[Row] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)
    flags: Counter[str] = field(default_factory=Counter)
    process_count: int = 0
    session_count: int = 0
    events: int = 0  # a machine's events read (set by whoever ran it)


class RowSink:
    """A correlation sink that turns what is final into rows; processes whose image
    ``tracked`` rejects (the track/ignore lists) are left out, their children hung under
    the nearest kept ancestor."""

    def __init__(self, tracked: Callable[[str], bool] | None = None) -> None:
        self.tracked = tracked
        self.rows = Rows()

    def _kept(self, lt: Lifetime | None) -> Lifetime | None:
        """``lt``, or its nearest ancestor the track/ignore lists keep."""
        seen = 0
        while lt is not None and self.tracked is not None and not self.tracked(lt.image) \
                and seen < 256:
            lt, seen = lt.parent, seen + 1
        return lt

    def lifetimes(self, done: list[Lifetime]) -> None:
        if self.tracked is not None:
            done = [lt for lt in done if self.tracked(lt.image)]
            for lt in done:  # an ignored parent's children hang under its nearest kept one
                lt.parent = self._kept(lt.parent)
        rows = self.rows
        for lt in done:
            rows.processes.append(process_row(lt))
            rows.sources.extend(
                (lt.id, pk, role)
                for role, pks in (("start", lt.start_events), ("end", lt.end_events),
                                  ("activity", lt.activity_events),
                                  ("token", lt.token_events))
                for pk in pks)
            rows.activity.extend((lt.id, lt.host_id, *a) for a in lt.acts)
            lt.acts.clear()
            rows.flags.update(lt.flags)
        rows.process_count += len(done)

    def activity(self, running: list[Lifetime]) -> None:
        """What running lifetimes did so far (their ids do not change): written before
        they end, so that a busy process's activity is not held until it does."""
        rows = self.rows
        for lt in running:
            if self.tracked is None or self.tracked(lt.image):
                rows.activity.extend((lt.id, lt.host_id, *a) for a in lt.acts)
            lt.acts.clear()

    def sessions(self, done: list[Session]) -> None:
        self.rows.sessions.extend(session_row(s) for s in done)
        self.rows.session_count += len(done)

    def unplaced(self, found: list[Unplaced]) -> None:
        self.rows.unplaced.extend(found)


def process_row(lt: Lifetime) -> Row:
    return (lt.id, lt.host_id, lt.pid, lt.guid, lt.image, lt.command_line, lt.cwd, lt.hashes,
            lt.integrity, lt.user, lt.creator_user, lt.end_user, lt.logon_id, lt.session_id,
            lt.start_us, lt.end_us, lt.exit_status, lt.parent.id if lt.parent else None,
            lt.parent_pid, lt.parent_image, ",".join(sorted(lt.flags)),
            orjson.dumps(lt.token_changes).decode() if lt.token_changes else "")


def session_row(s: Session) -> Row:
    return (s.id, s.host_id, s.logon_id, s.user, s.logon_type, s.source_ip, s.workstation,
            s.auth_package, s.elevated, s.start_us, s.end_us, s.logon_event, s.logoff_event,
            ",".join(sorted(s.flags)), orjson.dumps(s.remote).decode() if s.remote else "")
