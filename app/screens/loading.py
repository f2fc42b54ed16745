"""Reading logs into the case from the TUI: ingest, then correlation, with progress."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Footer, Header, ProgressBar, Static
from textual.worker import get_current_worker

from proctrail.app.screens.base import CaseScreen
from proctrail.store.correlate import correlate
from proctrail.store.ingest import Ingestor, Progress
from proctrail.store.text import first_line, printable
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
        yield Footer()

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

        try:
            report = Ingestor(self.engine, progress=on_progress).run(self.paths)
            if report.spool is not None:
                call(self.notify, printable(
                    f"The database went away ({report.spool_reason}). What was read and not "
                    f"stored is kept in {report.spool}: run 'proctrail ingest --resume' when "
                    "it is back."),
                     severity="error", title="Database unreachable", timeout=60, markup=False)
                return
            call(self.query_one("#what", Static).update,
                 Text("Rebuilding process lifetimes and sessions…", style="bold"))
            from proctrail.store.detect.config import load_config
            from proctrail.store.detect.run import detect, has_detections

            config = load_config(None)
            correlate(self.engine, tracked=config.track_filter, progress=lambda n: call(
                self.query_one("#detail", Static).update, Text(f"{n:,} events correlated")))
            if not has_detections(self.engine):
                # A first look: the built-in rules and the configured anomalies. A later
                # `proctrail detect` with more rules replaces these.
                call(self.query_one("#what", Static).update,
                     Text("Running the built-in detections…", style="bold"))
                detect(self.engine, config=config)
        except Exception as exc:  # the store or a file failed: say so, keep the app up
            # File names (an archive's members too) and errors quote the input: no markup.
            call(self.notify, printable(first_line(exc)),
                 severity="error", title="Loading failed", timeout=30, markup=False)
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

    def progress(self, index: int, inputs: int, detail: Text) -> None:
        bar = self.query_one(ProgressBar)
        bar.update(total=inputs, progress=index)
        self.query_one("#detail", Static).update(detail)
