"""One executor interface for proctrail's parallel work.

Work is cut into plain tasks (a function of data: one machine to correlate, later one file
or chunk range to read) whose results come back **in task order**, so the single writer
stores them exactly as a serial run would. :class:`Inline` runs them here, one after
another (``--workers 1``: the serial path, and the one small cases take); :class:`Processes`
runs them in a pool of worker processes on this machine, a few tasks ahead of the writer
so memory stays bounded; :class:`~proctrail.store.cluster.Cluster` hands the same tasks
to a Dask cluster behind the same two methods (:func:`executor`).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Runs tasks and hands their results back in task order."""

    workers: int

    def map(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]: ...

    def close(self) -> None: ...


class Inline:
    """Every task here, in order: no process, no pickling."""

    workers = 1

    def map(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        return (fn(task) for task in tasks)

    def close(self) -> None:
        pass


class Processes:
    """A pool of ``workers`` processes (started by a fork server: never a fork of a
    process holding database connections and threads); at most ``workers + 1`` tasks in
    flight, results yielded in task order."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["proctrail.store.correlate.tasks",
                                         "proctrail.store.reading",
                                         "proctrail.store.detect.matching"])
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)

    def map(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        pending: deque[Future[R]] = deque()
        try:
            for task in tasks:
                pending.append(self.pool.submit(fn, task))
                if len(pending) > self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def default_workers() -> int:
    """The cores this process may run on (``PROCTRAIL_WORKERS`` overrides)."""
    env = os.environ.get("PROCTRAIL_WORKERS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def local_executor(workers: int | None = None) -> Executor:
    """:class:`Processes` for more than one worker, else :class:`Inline`."""
    n = workers if workers is not None else default_workers()
    return Processes(n) if n > 1 else Inline()


def executor(workers: int | None = None, cluster: str | None = None) -> Executor:
    """The Dask cluster at ``cluster`` if given (:mod:`proctrail.store.cluster`), else
    :func:`local_executor`."""
    if cluster:
        from proctrail.store.cluster import Cluster

        return Cluster(cluster)
    return local_executor(workers)
