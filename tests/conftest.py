"""Shared fixtures: the public samples beside the project, and fresh stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"


@pytest.fixture(scope="session")
def samples() -> Path:
    """``../shared/samples``; the test is skipped with a clear reason where it is absent."""
    if not SAMPLES.is_dir():
        pytest.skip("../shared/samples is absent (CI has it beside the clone)")
    return SAMPLES


@pytest.fixture(scope="session")
def manifest(samples: Path) -> dict[str, dict]:
    """The samples' manifest by file: source, record count, key event counts, hosts."""
    return {e["file"]: e for e in json.loads((samples / "manifest.json").read_text())}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite store per test."""
    return f"sqlite:///{tmp_path / 'case.db'}"
