"""Every read the CLI, the TUI and exports need: the only read API over the store.

``export`` holds case counts and the export records; ``browse`` the screens' reads
(overview, sessions, trees, process detail, search, stacking); ``filters`` the filter
that narrows them.
"""

from __future__ import annotations

from proctrail.store.queries.export import (
    export_findings,
    export_processes,
    export_sessions,
    process_summaries,
    stats,
)

__all__ = ["export_findings", "export_processes", "export_sessions", "process_summaries", "stats"]
