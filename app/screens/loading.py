"""Reading logs into the case from the TUI: ingest, then correlation, with progress."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Header, ProgressBar, Static
from textual.worker import get_current_worker

from proctrail.app.screens.base import CaseScreen
from proctrail.store.ingest import Progress
from proctrail.store.load import Detect, Listener, load_case
from proctrail.store.text import printable
from proctrail.widgets.key_footer import KeyFooter
from proctrail.widgets.safe import safe


class LoadingScreen(CaseScreen):
    """Ingests ``paths`` in a worker thread, correlates, then opens the overview."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self.paths = paths

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(classes="loading"):
            yield Static(Text("Reading logs…", style="bold"), id="what")
            yield ProgressBar(id="files", show_eta=False)
            yield Static(id="detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "loading"
        self.run_worker(self.work, thread=True, group="ingest", exclusive=True)

    def work(self) -> None:
        started = time.monotonic()
        call = self.app.call_from_thread

        def on_progress(p: Progress) -> None:
            rate = p.total_records / max(time.monotonic() - started, 1e-6)
            call(self.progress, p.index, p.inputs, Text.assemble(
                safe(p.name, "bold"), f"  {p.records:,} records  ({rate:,.0f}/s)"))

        what = self.query_one("#what", Static)
        steps = {"correlate": "Rebuilding process lifetimes and sessions…",
                 # A first look: the built-in rules and the configured anomalies. A later
                 # `proctrail detect` with more rules replaces these.
                 "detect": "Running the built-in detections…"}
        listener = Listener(
            step=lambda s: s in steps and call(what.update, Text(steps[s], style="bold")),
            reading=on_progress,
            correlating=lambda n: call(self.query_one("#detail", Static).update,
                                       Text(f"{n:,} events correlated")))
        follower = None
        if self.case.follow:
            from proctrail.store.detect.config import load_config
            from proctrail.store.follow import Follower

            config = self.case.config or load_config(None)
            follower = Follower(self.engine, self.paths, tracked=config.track_filter,
                                image_loads=config.image_loads)
        try:
            done = load_case(self.engine, self.paths, detection=Detect.IF_NONE,
                             listener=listener, config=self.case.config, follower=follower)
        except Exception as exc:  # the store or a file failed: say so, keep the app up
            # File names (an archive's members too) and errors quote the input: no markup.
            call(self.case.show_error, exc, "Loading failed")
            return
        report = done.ingest
        assert report is not None
        if done.spooled:
            call(self.notify, printable(
                f"The database went away ({report.spool_reason}). What was read and not "
                f"stored is kept in {report.spool}: run 'proctrail ingest --resume' when "
                "it is back."),
                 severity="error", title="Database unreachable", timeout=60, markup=False)
            return
        if get_current_worker().is_cancelled:
            return
        problems = [f"{s.name}: {s.error}" for s in report.failed][:3]
        skipped = sum(report.skipped.values())
        if skipped or problems:
            call(self.notify, "\n".join(map(printable, problems)) or
                 f"{skipped:,} record(s) skipped (see `proctrail stats`)",
                 severity="warning", title="Some input could not be read", timeout=15,
                 markup=False)
        call(self.case.loaded)
        if follower is not None:
            call(self.case.follow_with, follower)

    def progress(self, index: int, inputs: int, detail: Text) -> None:
        bar = self.query_one(ProgressBar)
        bar.update(total=inputs, progress=index)
        self.query_one("#detail", Static).update(detail)
