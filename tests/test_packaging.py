"""The card's folders install under one import name, in a plain wheel too."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once for the tests here."""
    return built_wheel(tmp_path_factory.mktemp("dist"))


def test_wheel_installs_under_proctrail_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"proctrail"}
    for module in ("proctrail/app/cli/__init__.py", "proctrail/store/ingest.py",
                   "proctrail/store/readers/evtx_rust.py", "proctrail/widgets/__init__.py"):
        assert module in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "proctrail = proctrail.app.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def built_wheel(folder: Path) -> Path:
    """The project built as a wheel into ``folder``."""
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "-w", str(folder), str(ROOT)],
        capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    return next(folder.glob("proctrail-*.whl"))


PILOT = '''
import asyncio, sys
import proctrail.app
from proctrail.app.tui import ProctrailApp
from proctrail.store.db import open_engine

async def main() -> None:
    app = ProctrailApp(open_engine(sys.argv[1]), ingest=[sys.argv[2]])
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(60):
            for _ in range(3):
                await pilot.pause()
                await app.workers.wait_for_complete()
            await pilot.pause()
            shown = type(app.screen).__name__ == "OverviewScreen"
            if shown and "200 processes" in app.export_screenshot():
                break
        print(proctrail.app.__file__, type(app.screen).__name__, app.return_code)

asyncio.run(main())
'''


def test_the_built_wheel_opens_the_tui(wheel: Path, tmp_path: Path) -> None:
    """The wheel as pip installs it (its files only, the venv's dependencies): the TUI
    opens on sample_logs/ with its styles, from the installed copy."""
    assert "proctrail/app/tui.tcss" in zipfile.ZipFile(wheel).namelist()
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target",
         str(site), str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    script = tmp_path / "pilot.py"
    script.write_text(PILOT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(site)}
    ran = subprocess.run(
        [sys.executable, str(script), f"sqlite:///{tmp_path / 'case.db'}",
         str(ROOT / "sample_logs")], capture_output=True, text=True, timeout=300,
        env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    where, screen, code = ran.stdout.split()
    assert where.startswith(str(site)) and screen == "OverviewScreen" and code == "None"


def test_a_fresh_venv_installs_the_wheel_and_opens_the_tui(wheel: Path, tmp_path: Path
                                                           ) -> None:
    """As ``pip install proctrail`` or ``pipx`` would: a new venv, the wheel and its
    dependencies from the package index (or pip's cache), then the TUI headless on
    sample_logs/ and the ``proctrail`` command, from that install only."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel)],
                               capture_output=True, text=True, timeout=900)
    if installed.returncode != 0:
        offline = ("No matching distribution" in installed.stderr
                   or "connection" in installed.stderr.lower())
        if os.environ.get("CI") or not offline:
            pytest.fail(installed.stderr[-3000:])
        pytest.skip("the package index is out of reach: " + installed.stderr[-200:])
    script = tmp_path / "pilot.py"
    script.write_text(PILOT, encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    ran = subprocess.run(
        [str(python), str(script), f"sqlite:///{tmp_path / 'case.db'}",
         str(ROOT / "sample_logs")], capture_output=True, text=True, timeout=300,
        env=clean, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    where, screen, code = ran.stdout.split()
    assert where.startswith(str(venv)) and screen == "OverviewScreen" and code == "None"
    stats = subprocess.run([str(venv / "bin" / "proctrail"), "stats", "--db",
                            str(tmp_path / "case.db")], capture_output=True, text=True,
                           timeout=120, env=clean, cwd=tmp_path)
    assert stats.returncode == 0 and "200" in stats.stdout, stats.stderr


def test_a_tui_that_crashes_exits_non_zero(tmp_path: Path, monkeypatch, capsys) -> None:
    """Textual prints the traceback and returns; the command must not then say success."""
    from proctrail.app.cli import main
    from proctrail.app.tui import ProctrailApp

    def crashed(self: ProctrailApp, *args: object, **kwargs: object) -> None:
        self._return_code = 1  # what App.run leaves after an unhandled exception

    monkeypatch.setattr(ProctrailApp, "run", crashed)
    assert main(["open", "--db", str(tmp_path / "case.db")]) == 1
    assert "the TUI stopped on an error" in capsys.readouterr().err
