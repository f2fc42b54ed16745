"""One case pipeline: read logs in, rebuild lifetimes and sessions, run the detections.

The CLI's ``ingest``, the TUI's loading screen (and, later, a follow mode) all go
through :func:`load_case`; they differ only in what they show, which they say through
the :class:`Listener` they pass. A database that goes away mid-read stops the pipeline
after reading: what was read waits in the spool, and correlating half a case would
only mislead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Engine

from proctrail.store.correlate import CorrelationReport, correlate
from proctrail.store.detect.config import Config, load_config
from proctrail.store.ingest import Ingestor, IngestReport, Progress
from proctrail.store.readers.base import ReadOptions

if TYPE_CHECKING:
    from proctrail.store.detect.run import DetectReport
    from proctrail.store.follow import Follower

T = TypeVar("T")


class Detect(Enum):
    """When the pipeline runs the detections after correlating."""

    NEVER = "never"
    IF_NONE = "if-none"  # a first look: the built-in rules, when no pass has run yet
    ALWAYS = "always"


@dataclass
class Listener:
    """What a caller hears as the pipeline goes; every hook is optional."""

    step: Callable[[str], None] | None = None  # "read", "correlate", "detect"
    reading: Callable[[Progress], None] | None = None  # per input and batch
    read: Callable[[IngestReport], None] | None = None  # reading is done
    correlating: Callable[[int], None] | None = None  # events correlated so far


@dataclass
class CaseLoad:
    """What each step did; a step that did not run is None."""

    ingest: IngestReport | None = None
    correlation: CorrelationReport | None = None
    detection: DetectReport | None = None

    @property
    def spooled(self) -> bool:
        """The database went away while reading: nothing after reading ran."""
        return self.ingest is not None and self.ingest.spool is not None


def load_case(engine: Engine, paths: Iterable[str], *, options: ReadOptions | None = None,
              force: bool = False, correlation: bool = True, detection: Detect = Detect.NEVER,
              config: Config | None = None, listener: Listener | None = None,
              workers: int | None = None, follower: Follower | None = None,
              cluster: str | None = None) -> CaseLoad:
    """Read ``paths`` (and any spool left by an earlier run) into the case, then correlate
    (when something new was stored) and detect as asked, with ``config`` (default
    ./proctrail.toml if present) giving the track/ignore lists and the detections'
    settings; ``workers`` processes read and correlate (default: the cores), or the Dask
    cluster whose scheduler is at ``cluster``. With a
    ``follower``, the case is correlated by it, always, and left open for what comes."""
    hear = listener or Listener()
    config = config if config is not None else load_config(None)
    done = CaseLoad()
    _say(hear.step, "read")
    done.ingest = Ingestor(engine, options, force=force, progress=hear.reading,
                           workers=workers, cluster=cluster).run(paths)
    _say(hear.read, done.ingest)
    if done.spooled or not correlation:
        return done
    if follower is not None:
        _say(hear.step, "correlate")
        follower.live.progress = hear.correlating
        done.correlation = follower.start()
    elif _news(engine):
        _say(hear.step, "correlate")
        done.correlation = correlate(engine, progress=hear.correlating,
                                     tracked=config.track_filter, workers=workers,
                                     image_loads=config.image_loads, cluster=cluster)
    from proctrail.store.detect.run import detect, has_detections  # pySigma: 0.05 s

    if detection is Detect.ALWAYS or (detection is Detect.IF_NONE
                                      and not has_detections(engine)):
        _say(hear.step, "detect")
        done.detection = detect(engine, config=config, workers=workers, cluster=cluster)
    return done


def _say(hook: Callable[[T], None] | None, value: T) -> None:
    if hook is not None:
        hook(value)


def _news(engine: Engine) -> bool:
    """Whether events were stored since the last correlation (or it never ran): a re-run
    that stored nothing new keeps the correlation it has (``proctrail correlate`` rebuilds
    it at will), instead of rebuilding a big case for nothing."""
    from proctrail.store.queries.export import uncorrelated_events

    with engine.connect() as conn:
        return uncorrelated_events(conn) > 0
