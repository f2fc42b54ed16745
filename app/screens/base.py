"""What every case screen shares: the engine, and loads that run in worker threads."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine
from textual.screen import Screen
from textual.widgets import DataTable
from textual.worker import get_current_worker

from proctrail.store.queries.filters import Filter, parse_filter
from proctrail.widgets.filter_bar import FilterBar
from proctrail.widgets.safe import printable

if TYPE_CHECKING:
    from proctrail.app.tui import ProctrailApp

T = TypeVar("T")


class CaseScreen(Screen[Any]):
    """A screen over the case store; reads go through :meth:`load`, never on the UI thread."""

    flt: Filter = Filter()

    def reload(self) -> None:
        """Read the screen's data again (screens that show data override this)."""

    def cursor_key(self) -> str | None:
        """The key of the row under the cursor in the screen's table, or None."""
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def action_filter(self) -> None:
        self.query_one(FilterBar).reveal()

    def apply_filter(self, text: str) -> None:
        """Parse the filter bar's words; on success hide it and reload, else say why."""
        try:
            self.flt = parse_filter(text)
        except ValueError as exc:
            self.notify(printable(exc), severity="error", title="Filter", markup=False)
            return
        self.query_one(FilterBar).action_hide()
        self.reload()

    @property
    def case(self) -> ProctrailApp:
        return self.app  # type: ignore[return-value]

    @property
    def engine(self) -> Engine:
        return self.case.engine

    def load(self, read: Callable[..., T], *args: Any, then: Callable[[T], None],
             group: str = "load") -> None:
        """Run ``read(engine, *args)`` in a thread, then ``then(result)`` on the UI thread.

        A newer load in the same group supersedes an older one; a failure becomes a
        one-line notification, never a crash.
        """
        def job() -> None:
            try:
                result = read(self.engine, *args)
            except Exception as exc:  # the store went away, a bad query: say so
                line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                self.app.call_from_thread(self.notify, printable(line), severity="error",
                                          title="Could not read the case", markup=False)
                return
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(then, result)

        self.run_worker(job, thread=True, group=group, exclusive=True)
