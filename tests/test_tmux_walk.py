"""The README's first command in a real terminal (tmux, 80x24): open the demo, and walk to
alice's chain OUTLOOK → WINWORD → hidden PowerShell → regsvr32 with only keys the footer
shows. What a new analyst over SSH would do, end to end, through the installed entry
point."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SESSION = "proctrail-walk"



def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True,
                          text=True).stdout


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def wait_for(found: Callable[[str], bool], what: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    text = ""
    while time.monotonic() < deadline:
        text = screen()
        if found(text):
            return text
        time.sleep(0.2)
    raise AssertionError(f"waited {seconds:.0f}s for {what}; the screen:\n{text}")


def footer(text: str) -> str:
    """The terminal's last line (the footer), blank while a screen is being drawn."""
    lines = text.splitlines()
    return lines[23] if len(lines) >= 24 else ""


def keys(*sent: str) -> None:
    for key in sent:
        tmux("send-keys", "-t", SESSION, key)
        time.sleep(0.1)


@pytest.fixture
def terminal(tmp_path: Path):
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail(".ci/run installs tmux: this walk must run under CI")
        pytest.skip("tmux is not installed (.ci/run installs it)")
    proctrail = Path(sys.executable).with_name("proctrail")
    command = f"{proctrail} open --db {tmp_path / 'demo.db'} {ROOT / 'sample_logs'}"
    env = {**os.environ, "TERM": "xterm-256color", "PROCTRAIL_WORKERS": "1"}
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
    subprocess.run(["tmux", "new-session", "-d", "-s", SESSION, "-x", "80", "-y", "24",
                    command], check=True, env=env, cwd=tmp_path)
    yield
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)


def test_the_readme_command_walks_to_alices_chain(terminal: None) -> None:
    text = wait_for(lambda t: "overview" in t and "Sessions" in footer(t), "the overview")
    assert "2 Sessions" in footer(text) and "/ Search" in footer(text)
    keys("2")
    wait_for(lambda t: "logon sessions" in t and "alice" in t and "f Filter" in footer(t),
             "the sessions, with f Filter in the footer")
    keys("f", "user=alice", "Enter")
    text = wait_for(lambda t: "user=alice" in t and "lnx01" in t, "alice's sessions")
    rows = [line for line in text.splitlines() if "alice" in line and "CORP" in line]
    assert rows, text
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if "alice" in line and
                 ("CORP" in line or "lnx01" in line))
    down = next(i for i, line in enumerate(lines) if "CORP\\alice" in line) - first
    keys(*["Down"] * down, "Enter")
    wait_for(lambda t: "userinit.exe" in t and "e Expand" in footer(t),
             "alice's tree, with e Expand in the footer")
    keys("e")
    text = wait_for(lambda t: "regsvr32.exe" in t, "the expanded tree")
    chain = ["userinit.exe", "explorer.exe", "OUTLOOK.EXE", "WINWORD.EXE", "powershell.exe",
             "regsvr32.exe"]
    at = [next(i for i, line in enumerate(text.splitlines()) if name in line)
          for name in chain]
    assert at == sorted(at), text  # each below its parent
    keys("q")
