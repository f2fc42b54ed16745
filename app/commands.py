"""The command palette (ctrl+p): every action of the app, searchable by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (name, help, app action)
ACTIONS = (
    ("Overview", "hosts, counts, integrity anomalies, findings", "overview"),
    ("Logon sessions", "every session in a table; enter opens its process tree", "sessions"),
    ("Search processes", "image, command line, user, PID, hash across the case", "search"),
    ("Findings", "bookmarked processes and sessions", "findings"),
    ("Stacking", "rarest images, command lines, parent → child; starts over time",
     "stacking"),
    ("Integrity anomalies", "record gaps, cleared logs, clock changes, audit stops",
     "anomalies"),
    ("Export findings", "Markdown, JSON or CSV with ancestor chains and evidence", "export"),
    ("Keys", "show the keys of this screen", "show_help_panel"),
    ("Reload", "read the screen again (new data, a colleague's re-correlation)", "reload"),
    ("Quit", "leave proctrail", "quit"),
)


class ProctrailCommands(Provider):
    """proctrail's actions for the command palette."""

    async def discover(self) -> Hits:
        for name, help_text, action in ACTIONS:
            yield DiscoveryHit(name, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, action in ACTIONS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self.app.run_action, action),
                          help=help_text)
