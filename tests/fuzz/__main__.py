"""``python -m tests.fuzz MODE CORPUS [libFuzzer flags]``: coverage-guided fuzzing of one
reader with atheris (see :func:`atheris_main`)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from tests.fuzz.checks import item_problems
from tests.fuzz.seeds import OWN_ALL, OWN_EVTX_SMALL, seed_bytes, seed_format
from tests.fuzz.targets import open_reader


def atheris_main(mode: str, corpus: str, flags: list[str]) -> None:
    """Coverage-guided fuzzing of one reader with atheris (``pip install atheris``):
    ``python -m tests.fuzz MODE CORPUS [libFuzzer flags]`` from the project's folder, MODE
    one of evtx, python-evtx, xml, jsonl, auditd, sysmon-syslog. An empty CORPUS folder
    gets our own seeds of that format. A crash is any exception but ReaderError (or a
    problem :func:`item_problems` finds); libFuzzer's -timeout and -rss_limit_mb catch
    hangs and memory."""
    import atheris

    with atheris.instrument_imports(include=["proctrail", "Evtx"]):
        from proctrail.store.readers import (  # noqa: F401 - instrumented for open_reader
            auditd,
            evtx_python,
            evtx_rust,
            jsonl,
            sniff,
            xml,
        )
        from proctrail.store.readers.base import ReaderError

    folder = Path(corpus)
    folder.mkdir(parents=True, exist_ok=True)
    if not any(folder.iterdir()):
        fmt = "evtx" if mode == "python-evtx" else mode
        small = OWN_EVTX_SMALL if mode == "python-evtx" else OWN_ALL
        for name in small:
            if seed_format(name) == fmt:
                (folder / name).write_bytes(seed_bytes(name))

    def one(data: bytes) -> None:
        try:
            for item in open_reader(mode, io.BytesIO(data), "atheris", {"threads": 1}):
                problems = item_problems(item, 2 * len(data) + 64)
                if problems:
                    raise AssertionError(problems)
        except ReaderError:
            pass

    atheris.Setup([sys.argv[0], corpus, *flags], one)
    atheris.Fuzz()


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    atheris_main(sys.argv[1], sys.argv[2], sys.argv[3:])
