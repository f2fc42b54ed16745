"""The same plain tasks on a Dask distributed cluster (``--cluster tcp://HOST:8786``).

An :class:`~proctrail.store.tasks.Executor` whose workers are a Dask cluster's: reading an
input (:func:`~proctrail.store.reading.read_input`) and correlating a machine
(:func:`~proctrail.store.correlate.tasks.correlate_machine`) run there, and the results
come back here, in task order, to the single writer, which stores them exactly as a local
run does: dedup, counters, the spool, stable ids and the case locks hold unchanged. A
worker that dies mid-task is Dask's to handle (the scheduler runs the task again on
another; a task is a function of its data, so running it twice is harmless). If the
cluster itself goes away, :class:`BrokenProcessPool` is raised, as a local pool's death
is: the writer does the rest here.

Into a PostgreSQL case the workers store what they read themselves
(:func:`ingest_on_cluster`: a task is one file, ingested as ``proctrail ingest FILE`` would
on that worker; ingests of different files into one PostgreSQL case may run at once, and
a task run again after its worker died finds its source row and stores nothing twice):
the command only schedules and gathers the per-file reports. ``dask`` and
``distributed`` are an optional extra (``pip install 'proctrail[cluster]'``).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from proctrail.store.errors import UsageError

if TYPE_CHECKING:
    from proctrail.store.ingest import Ingestor, IngestReport
    from proctrail.store.readers.base import ReaderError, ReadOptions
    from proctrail.store.readers.sniff import Input

T = TypeVar("T")
R = TypeVar("R")

CONNECT_SECONDS = 5
RETRIES = 2  # a task that failed on a worker (not one lost with it: Dask reruns those)


class ClusterError(UsageError):
    """The cluster cannot be used: one line naming the address and why."""


class Cluster:
    """Tasks on the Dask cluster whose scheduler is at ``address`` (``tcp://``, or
    ``tls://`` with Dask's security settings); at most two tasks a worker thread in
    flight, so the writer's memory stays bounded."""

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError as exc:
            raise ClusterError(f"{address}: Dask is not installed here: pip install "
                               "'proctrail[cluster]'") from exc
        self.address = address
        try:
            self.client: Any = Client(address, timeout=CONNECT_SECONDS,
                                      set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"{address}: no Dask scheduler answers "
                               f"({type(exc).__name__}: {exc})") from exc
        threads = self.client.nthreads()
        if not threads:
            self.client.close()
            raise ClusterError(f"{address}: the scheduler has no workers")
        self.workers = max(1, sum(threads.values()))
        self.submitted = 0  # tasks handed to the cluster (for the report and tests)

    def map(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        pending: deque[Any] = deque()
        try:
            for task in tasks:
                pending.append(self.client.submit(fn, task, pure=False, retries=RETRIES))
                self.submitted += 1
                if len(pending) > 2 * self.workers:
                    yield self._result(pending.popleft())
            while pending:
                yield self._result(pending.popleft())
        finally:
            for future in pending:
                future.cancel()

    def _result(self, future: Any) -> Any:
        try:
            return future.result()
        except (OSError, TimeoutError, RuntimeError) as exc:  # the cluster went away
            raise BrokenProcessPool(f"{self.address}: {type(exc).__name__}: {exc}") from exc
        except Exception as exc:
            if type(exc).__name__ in ("KilledWorker", "CommClosedError", "CancelledError",
                                      "FutureCancelledError"):
                raise BrokenProcessPool(f"{self.address}: {type(exc).__name__}") from exc
            raise

    def close(self) -> None:
        with contextlib.suppress(OSError, TimeoutError, RuntimeError):  # already gone
            self.client.close()


@dataclass(frozen=True)
class IngestTask:
    """One file for a worker to ingest into the case at ``url``."""

    url: str
    path: str
    options: ReadOptions
    force: bool


def ingest_file(task: IngestTask) -> IngestReport | None:
    """A worker's ingest of one file (its archive members too) into the case; None when
    the file is not there for this worker (not on its shares): the command reads it."""
    import os

    from proctrail.store.db import open_engine
    from proctrail.store.ingest import Ingestor

    if not os.path.exists(task.path):
        return None
    engine = open_engine(task.url)
    try:
        return Ingestor(engine, task.options, force=task.force, workers=1,
                        keys=False).run([task.path])  # the command has the keys
    finally:
        engine.dispose()


def ingest_on_cluster(ingestor: Ingestor, items: list[Input | ReaderError],
                      report: IngestReport) -> None:
    """Every file of ``items`` ingested by the cluster's workers, their reports gathered
    into ``report`` in file order; a file the cluster could not do (it went away) is
    ingested here."""
    from proctrail.store.ingest import SourceReport
    from proctrail.store.readers.base import ReaderError

    url = ingestor.engine.url.render_as_string(hide_password=False)
    files: list[str] = []
    for item in items:
        if isinstance(item, ReaderError):
            report.sources.append(SourceReport(item.path, status="failed", error=item.reason))
        elif item.path not in files:
            files.append(item.path)
    cluster = Cluster(ingestor.cluster or "")
    done = 0
    here = type(ingestor)(ingestor.engine, ingestor.opts, force=ingestor.force, workers=1,
                          keys=False)

    def gather(part: IngestReport) -> None:
        report.sources += part.sources
        if part.spool is not None:  # the database went away under that worker
            report.spool, report.spool_reason = part.spool, part.spool_reason

    try:
        for part in cluster.map(ingest_file, (IngestTask(url, f, ingestor.opts, ingestor.force)
                                               for f in files)):
            if part is None:  # the worker does not see the file: read here
                gather(here.run([files[done]]))
                report.here += 1
            else:
                gather(part)
            done += 1
    except BrokenProcessPool:  # the cluster went away: the rest here
        gather(here.run(files[done:]))
        report.here += len(files) - done
    finally:
        report.cluster_tasks = cluster.submitted - report.here
        cluster.close()
