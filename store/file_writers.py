"""Into PostgreSQL, files ingested by workers that each write their own.

A PostgreSQL case takes ingests of different files at once (each file's rows are its own
transactions; the natural key's unique index settles a record two files share), so a
parallel ingest into it need not funnel every row through one writer: each worker (a
local process, or a Dask cluster's, :mod:`.cluster`) ingests whole files as ``proctrail
ingest FILE`` would there, on a connection of its own: one writer connection per
independent stream of files. The command only schedules and gathers the per-file
reports, in file order. A task run again after its worker died finds its source row and
stores nothing twice. The events' keys and indexes are the command's
(:mod:`.pg_load`): workers leave them as they find them.
"""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from proctrail.store.ingest import Ingestor, IngestReport
    from proctrail.store.readers.base import ReaderError, ReadOptions
    from proctrail.store.readers.sniff import Input
    from proctrail.store.tasks import Executor


@dataclass(frozen=True)
class IngestTask:
    """One file for a worker to ingest into the case at ``url``."""

    url: str
    path: str
    options: ReadOptions
    force: bool


def ingest_file(task: IngestTask) -> IngestReport | None:
    """A worker's ingest of one file (its archive members too) into the case; None when
    the file is not there for this worker (a cluster worker without that share): the
    command reads it."""
    import os

    from proctrail.store.db import open_engine
    from proctrail.store.ingest import Ingestor

    if not os.path.exists(task.path):
        return None
    engine = _ENGINES.get(task.url)
    if engine is None:  # opened (schema checked) once a worker process, not once a file:
        engine = _ENGINES[task.url] = open_engine(task.url)  # 692 small files 7.3 -> 3.0 s
    else:
        _fresh_connections(engine)
    return Ingestor(engine, task.options, force=task.force, workers=1,
                    keys=False).run([task.path])  # the command has the keys


_ENGINES: dict[str, Engine] = {}  # this worker process's engines, by URL


def _fresh_connections(engine: Engine) -> None:
    """The pooled connections dropped if the server no longer answers on them (it was
    restarted between two tasks): the ingest then connects anew instead of spooling."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except SQLAlchemyError:
        engine.dispose()


def ingest_in_workers(ingestor: Ingestor, items: list[Input | ReaderError],
                      report: IngestReport, pool: Executor) -> None:
    """Every file of ``items`` ingested by ``pool``'s workers, their reports gathered into
    ``report`` in file order (``ingestor.progress`` hears each file done); a file the
    workers could not do (not on their shares, or the pool went away) is ingested here."""
    from proctrail.store.ingest import Progress, SourceReport
    from proctrail.store.readers.base import ReaderError

    url = ingestor.engine.url.render_as_string(hide_password=False)
    paths: dict[str, None] = {}  # each file once (an archive's members are one task)
    for item in items:
        if isinstance(item, ReaderError):
            report.sources.append(SourceReport(item.path, status="failed", error=item.reason))
        else:
            paths[item.path] = None
    files = list(paths)
    done = 0  # files whose report is in
    here = type(ingestor)(ingestor.engine, ingestor.opts, force=ingestor.force, workers=1,
                          keys=False)

    def gather(part: IngestReport) -> None:
        report.sources += part.sources
        if part.spool is not None:  # the database went away under that worker
            report.spool, report.spool_reason = part.spool, part.spool_reason
        if ingestor.progress is not None and part.sources:
            last = part.sources[-1]
            ingestor.progress(Progress(last.name, done + 1, len(files), last.records_read,
                                       report.total("records_read"), done=True))

    tasks = (IngestTask(url, f, ingestor.opts, ingestor.force) for f in files)
    try:
        for part in pool.map(ingest_file, tasks):
            if part is None:  # the worker does not see the file: read here
                gather(here.run([files[done]]))
                report.here += 1
            else:
                gather(part)
                report.stored_by_workers += 1
            done += 1
    except BrokenProcessPool:  # the pool or cluster went away: the rest here
        gather(here.run(files[done:]))
        report.here += len(files) - done
    finally:
        if ingestor.cluster:
            report.cluster_tasks = report.stored_by_workers
        pool.close()
