"""The ingest progress line on stderr."""

from __future__ import annotations

from typing import Any

from proctrail.store.ingest import Progress
from proctrail.store.text import printable


class ProgressBar:
    """A rich progress line on stderr: the current file, records and records/s."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._progress = RichProgress(
                TextColumn("[{task.fields[index]}/{task.fields[inputs]}]"),
                TextColumn("{task.fields[name]}", markup=False),
                BarColumn(bar_width=20),
                TextColumn("{task.completed:,.0f} records"),
                TextColumn("{task.fields[rate]:,.0f} rec/s"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("ingest", total=None, index=0, inputs=0,
                                                 name="", rate=0.0)
        return self

    def update(self, p: Progress) -> None:
        if self._progress is None or self._task is None:
            return
        elapsed = self._progress.tasks[0].elapsed or 0.0
        rate = p.total_records / elapsed if elapsed > 0 else 0.0
        name = printable(p.name)
        self._progress.update(self._task, completed=p.total_records, index=p.index,
                              inputs=p.inputs, name=name[-40:], rate=rate)

    def stop(self) -> None:
        """End the line (before a summary prints); idempotent."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __exit__(self, *exc: object) -> None:
        self.stop()
