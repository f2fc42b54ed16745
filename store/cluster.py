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

Into a PostgreSQL case the workers store what they read themselves, each file on a
connection of its own (:mod:`.file_writers`, as local worker processes do): the command
only schedules and gathers the per-file reports. ``dask`` and
``distributed`` are an optional extra (``pip install 'proctrail[cluster]'``).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from proctrail.store.errors import UsageError

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
