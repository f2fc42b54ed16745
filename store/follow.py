"""Logs that keep arriving: ``proctrail ingest --follow`` and the TUI's ``open --follow``.

A :class:`Follower` watches files and folders. Each :meth:`Follower.step` looks at every
file below them (size and modification time, a ``stat`` each: no reading), reads the ones
that grew or appeared into the case through the usual :class:`~proctrail.store.ingest.
Ingestor` (a grown file into the source row its path already has; what was stored before
is recognised by its natural key and not stored twice, so a file rewritten or rotated
under the same name is safe too), then brings the correlation up to date for the machines
that got events (:class:`~proctrail.store.correlate.live.LiveCase`). Stopping between two
steps loses nothing: every step's rows are committed or not at all, and the next run
reads what is still new.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from proctrail.store.correlate.live import LiveCase, LiveUpdate
from proctrail.store.ingest import Ingestor, IngestReport
from proctrail.store.readers.base import ReadOptions
from proctrail.store.readers.sniff import files_below

if TYPE_CHECKING:
    from proctrail.store.correlate import CorrelationReport

POLL_SECONDS = 0.5  # how often files are looked at: new records land within a second
# The detections run over the whole case: after news, at most this often, and never more
# than a tenth of the time (a big case's pass takes seconds).
DETECT_SECONDS = 30.0


@dataclass
class FollowStep:
    """What one step read and correlated."""

    files: list[str] = field(default_factory=list)  # the files that grew or appeared
    ingest: IngestReport | None = None
    update: LiveUpdate | None = None
    detection: object | None = None  # what the detections said, when they ran after it

    @property
    def stored(self) -> int:
        return self.ingest.total("stored") if self.ingest is not None else 0


class Follower:
    """Keeps a case up to date with files that grow and folders that fill."""

    def __init__(self, engine: Engine, paths: list[str], options: ReadOptions | None = None,
                 tracked: Callable[[str], bool] | None = None,
                 image_loads: bool = False) -> None:
        self.engine = engine
        self.paths = list(paths)
        self.options = options
        self.live = LiveCase(engine, tracked, image_loads=image_loads)
        self.seen: dict[str, tuple[int, int]] = {}  # path: (size, modification time)
        self._exclude = Ingestor(engine).store_files()

    def start(self) -> CorrelationReport:
        """Note the files as they are now (read already) and correlate the case, keeping
        every machine open for what comes."""
        self.seen = dict(self._files())
        return self.live.rebuild()  # type: ignore[return-value]

    def changed(self) -> list[str]:
        """The files that grew, shrank, were rewritten or appeared since the last look."""
        now = dict(self._files())
        out = [path for path, sig in now.items() if self.seen.get(path) != sig]
        self.seen = now
        return out

    def step(self) -> FollowStep:
        """Read what changed; correlate what it brought."""
        done = FollowStep(self.changed())
        if done.files:
            done.ingest = Ingestor(self.engine, self.options, follow=True).run(done.files)
        done.update = self.live.update()
        return done

    def run(self, stop: threading.Event, each: Callable[[FollowStep], None],
            every: float = POLL_SECONDS, detect: Callable[[], object] | None = None) -> None:
        """Step until ``stop`` is set (between steps: a step is never cut in two); after
        news, ``detect`` runs (see :data:`DETECT_SECONDS`) and once more at the end if news
        came since it last did."""
        due = False
        next_detect = 0.0
        while not stop.is_set():
            started = time.monotonic()
            done = self.step()
            due = due or done.update is not None
            if due and detect is not None and started >= next_detect:
                began = time.monotonic()
                done.detection, due = detect(), False
                took = time.monotonic() - began
                next_detect = began + max(DETECT_SECONDS, 10 * took)
            if done.files or done.update is not None or done.detection is not None:
                each(done)
            stop.wait(max(0.0, every - (time.monotonic() - started)))
        if due and detect is not None:
            each(FollowStep(detection=detect()))

    def _files(self) -> Iterator[tuple[str, tuple[int, int]]]:
        for path in files_below(self.paths, self._exclude):
            try:
                info = path.stat()
            except OSError:  # gone between listing and looking (rotated away)
                continue
            yield str(path), (info.st_size, info.st_mtime_ns)
