"""The footer every screen shows: its keys, tight enough that ``/ Search`` still fits at
80 columns (``ctrl+p`` opens every action by name and ``?`` lists all keys, so the
command palette's own hint is left out)."""

from __future__ import annotations

from typing import Any

from textual.widgets import Footer


class KeyFooter(Footer):
    """A compact :class:`Footer` without the command palette's hint."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("compact", True)
        kwargs.setdefault("show_command_palette", False)
        super().__init__(**kwargs)
