"""The card's folders install under one import name, in a plain wheel too."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_under_proctrail_only(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr
    wheel = next(tmp_path.glob("proctrail-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"proctrail"}
    for module in ("proctrail/app/cli.py", "proctrail/store/ingest.py",
                   "proctrail/store/readers/evtx_rust.py", "proctrail/widgets/__init__.py"):
        assert module in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "proctrail = proctrail.app.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
