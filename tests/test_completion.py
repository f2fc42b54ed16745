"""``proctrail completion bash|zsh|fish``: scripts read off the parser, that shells run."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess

import pytest

from proctrail.app.cli import build_parser, main
from proctrail.app.cli.completion import spec


def script(shell: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["completion", shell]) == 0
    return out.getvalue()


def commands() -> list[str]:
    return [c.name for c in spec(build_parser())[1:]]


def complete_bash(line: str) -> list[str]:
    """What bash offers for ``line`` (the cursor at its end) with the script sourced."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    done = subprocess.run(
        ["bash", "-c", 'source /dev/stdin <<< "$1"; read -ra COMP_WORDS <<< "$2"; '
         '[[ $2 == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
         '_proctrail; printf "%s\\n" "${COMPREPLY[@]}"', "_", script("bash"), line],
        capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return [w for w in done.stdout.splitlines() if w]


def test_the_spec_is_the_parser() -> None:
    names = commands()
    assert {"ingest", "tree", "export", "completion", "open"} <= set(names)
    ingest = next(c for c in spec(build_parser()) if c.name == "ingest")
    parser = next(o for o in ingest.options if "--parser" in o.names)
    assert parser.value and parser.choices == ["evtx", "python-evtx"]
    assert next(o for o in ingest.options if "--db" in o.names).files
    assert ingest.positionals[0].files and ingest.positionals[0].many


@pytest.mark.parametrize(("line", "offered"), [
    ("proctrail in", ["ingest"]),
    ("proctrail ingest --par", ["--parser"]),
    ("proctrail ingest --parser ", ["evtx", "python-evtx"]),
    ("proctrail --db case.db ex", ["export"]),
    ("proctrail export ", ["processes", "sessions", "findings", "activity", "timeline", "table",
                           "graph", "attack"]),
    ("proctrail export timeline --format c", ["csv"]),
    ("proctrail tree --process 12 --cmd", ["--cmdline"]),
    ("proctrail completion ", ["bash", "zsh", "fish"]),
])
def test_bash_completes_commands_options_and_choices(line: str, offered: list[str]) -> None:
    assert complete_bash(line) == offered


def test_bash_completes_files_for_paths(tmp_path, monkeypatch) -> None:
    (tmp_path / "Security.evtx").write_text("")
    (tmp_path / "notes.txt").write_text("")
    monkeypatch.chdir(tmp_path)
    assert complete_bash("proctrail ingest --quiet Sec") == ["Security.evtx"]
    assert complete_bash("proctrail export processes --out no") == ["notes.txt"]
    assert complete_bash("proctrail ingest --host Sec") == []  # a host name: no files


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_every_command_and_parse(shell: str, tmp_path) -> None:
    text = script(shell)
    for name in commands():
        assert name in text
    assert "parser" in text and "python-evtx" in text
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed: the script's syntax is not checked")
    path = tmp_path / f"proctrail.{shell}"
    path.write_text(text)
    done = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr


def test_fish_completes_commands_and_options() -> None:
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed")
    done = subprocess.run(
        ["fish", "-c", "source (printf '%s\\n' $argv[1] | psub); complete -C 'proctrail in';"
         " complete -C 'proctrail ingest --par'", script("fish")],
        capture_output=True, text=True, timeout=30)
    offered = [line.split("\t")[0] for line in done.stdout.splitlines()]
    assert offered == ["ingest", "--parser"], done.stderr
