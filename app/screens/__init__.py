"""The TUI's screens: each composes widgets and loads its data in workers through queries."""
