"""What every case screen shares: the engine, and loads that run in worker threads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine
from textual.screen import Screen
from textual.widgets import DataTable
from textual.worker import Worker, get_current_worker

from proctrail.store.queries.browse import generation
from proctrail.store.queries.filters import Filter, FilterError, parse_filter
from proctrail.widgets.filter_bar import FilterBar

if TYPE_CHECKING:
    from proctrail.app.tui import ProctrailApp

T = TypeVar("T")


class CaseScreen(Screen[Any]):
    """A screen over the case store; reads go through :meth:`load`, never on the UI thread."""

    flt: Filter = Filter()
    # The correlation generation this screen's rows come from (None: nothing read yet).
    # A read that finds another one is not shown: rows of two cases never mix.
    generation: int | None = None

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
        except FilterError as exc:
            self.case.show_error(exc, "Filter")
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
        one-line notification, never a crash. A read made while a correlation replaced
        the case, or from another generation than the rows on screen, is dropped and the
        app says the case changed (``r`` reloads).
        """
        def job() -> None:
            try:
                before = generation(self.engine)
                result = read(self.engine, *args)
                after = generation(self.engine)
            except Exception as exc:  # the store went away, a bad query: say so
                self.app.call_from_thread(self.case.show_error, exc, "Could not read the case")
                return
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self._loaded, before, after, then, result)

        self.run_worker(job, thread=True, group=group, exclusive=True)

    def _loaded(self, before: int, after: int, then: Callable[[T], None], result: T) -> None:
        if self.generation is None and before == after:
            self.generation = before
        if before != after or before != self.generation:
            self.case.case_changed(max(before, after))
            return
        then(result)

    def load_pages(self, read: Callable[..., Iterator[T]], *args: Any,
                   then: Callable[[T], bool], done: Callable[[], None],
                   group: str) -> Worker[None]:
        """Run ``read(engine, *args)`` in a thread and hand each page it yields to
        ``then`` on the UI thread (which returns False to stop), then call ``done``.

        The UI stays live between pages and the worker can be cancelled (its pages stop);
        pages are read from this screen's generation only.
        """
        def job() -> None:
            worker = get_current_worker()
            try:
                current = generation(self.engine)
                if current != self.generation:
                    self.app.call_from_thread(self.case.case_changed, current)
                    return
                for page in read(self.engine, *args):
                    now = generation(self.engine)
                    if now != current:
                        self.app.call_from_thread(self.case.case_changed, now)
                        return
                    if worker.is_cancelled or not self.app.call_from_thread(then, page):
                        return
            except Exception as exc:  # the store went away, a bad query: say so
                self.app.call_from_thread(self.case.show_error, exc, "Could not read the case")
            finally:
                if not worker.is_cancelled:
                    self.app.call_from_thread(done)

        return self.run_worker(job, thread=True, group=group, exclusive=True)

    def on_screen_resume(self) -> None:
        self.case.show_generation()

    def reread(self) -> None:
        """Forget the rows on screen and read them from the case as it is now."""
        self.generation = None
        self.reload()
