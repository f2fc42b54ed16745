"""What proctrail writes for people and other tools: findings (Markdown, JSON, CSV), rows
(JSON lines, CSV), process graphs (GraphML, DOT), tree text and the case report.

Shared by the CLI and the TUI; neither imports the other. Writers read through
``store/queries`` and take an optional redactor; none prints on its own.
"""
