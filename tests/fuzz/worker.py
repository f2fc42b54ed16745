"""The worker process every fuzzed input is read in (``python -m tests.fuzz.worker``), so a
hang ends in a timeout and a dead interpreter (a Rust abort) is seen; :class:`Worker` is
its parent side, :func:`check` asserts what it reports."""

from __future__ import annotations

import io
import os
import pickle
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.fuzz.checks import HANG_LIMIT, TIME_LIMIT, item_problems, memory_limit
from tests.fuzz.targets import open_reader, read_sniffed

ROOT = Path(__file__).resolve().parents[2]


def run_one(request: dict[str, Any], work: Path) -> dict[str, Any]:
    """Read one input as asked and check every item; the summary."""
    from proctrail.store.events import Event, Skip
    from proctrail.store.readers.base import ReaderError

    data: bytes = request["data"]
    mode: str = request["mode"]
    options: dict[str, Any] = request.get("options", {})
    path = work / request.get("filename", "input.log")
    path.write_bytes(data)
    # No text can be longer than the input makes it (an archive's members may be, though).
    max_chars = 2 * len(data) + 64 if mode != "sniff" else sys.maxsize
    result: dict[str, Any] = {"events": 0, "skips": Counter(), "problems": [],
                              "outcome": "ok", "error": "", "errors": Counter()}
    _reset_peak()
    base = _rss()
    started = time.perf_counter()
    try:
        with open(path, "rb") as handle:
            stream: Any = io.BytesIO(data) if options.get("in_memory") else handle
            if mode == "sniff":
                records: Iterable[Any] = read_sniffed(path, options)
            else:
                records = open_reader(mode, stream, request.get("name", "input"), options)
            limit = 2 * len(data) + 16
            for n, item in enumerate(records):
                if isinstance(item, tuple):  # sniff: an input that could not be read
                    result["errors"][item[0]] += 1
                    continue
                for problem in item_problems(item, max_chars):
                    if len(result["problems"]) < 10:
                        result["problems"].append(problem)
                if isinstance(item, Skip):
                    result["skips"][item.reason] += 1
                elif isinstance(item, Event):
                    result["events"] += 1
                if n > limit:
                    result["problems"].append(f"more than {limit} items from {len(data)} bytes")
                    break
    except ReaderError as exc:
        result["outcome"], result["error"] = "reader_error", exc.reason
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        result["outcome"] = "crash"
        result["error"] = "".join(traceback.format_exception(exc))[-4000:]
    result["elapsed"] = time.perf_counter() - started
    result["memory"] = _peak() - base
    path.unlink()
    return result


def run_ingest(request: dict[str, Any]) -> dict[str, Any]:
    """Ingest the given files into the store at ``url``; the report, or the crash."""
    from proctrail.store.db import open_engine
    from proctrail.store.ingest import Ingestor
    from proctrail.store.readers.base import ReadOptions

    try:
        engine = open_engine(request["url"])
        report = Ingestor(engine, ReadOptions(threads=1)).run(request["paths"])
        engine.dispose()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return {"crash": "".join(traceback.format_exception(exc))[-4000:]}
    return {"sources": [dict(name=s.name, status=s.status, format=s.format,
                             records_read=s.records_read, stored=s.stored,
                             duplicates=s.duplicates, skipped=dict(s.skipped), error=s.error)
                        for s in report.sources]}


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _status(key: str) -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _rss() -> int:
    return _status("VmRSS:")


def _peak() -> int:
    return _status("VmHWM:")


def worker_main() -> None:
    """Serve requests on stdin (length-prefixed pickles), answers on the original stdout."""
    import resource

    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the answers
    inp = sys.stdin.buffer
    soft = 4 << 30
    resource.setrlimit(resource.RLIMIT_AS, (soft, resource.getrlimit(resource.RLIMIT_AS)[1]))
    work = Path(tempfile.mkdtemp(prefix="proctrail-fuzz-worker-"))
    try:
        while True:
            head = inp.read(4)
            if len(head) < 4:
                return
            request = pickle.loads(inp.read(struct.unpack("<I", head)[0]))
            ingest = request["mode"] == "ingest"
            answer = run_ingest(request) if ingest else run_one(request, work)
            body = pickle.dumps(answer)
            out.write(struct.pack("<I", len(body)) + body)
            out.flush()
    finally:
        shutil.rmtree(work, ignore_errors=True)


class Worker:
    """A worker process: each request read in it, killed and restarted on a hang."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - the worker's stderr, closed last

    def _start(self) -> subprocess.Popen[bytes]:
        if self.proc is None or self.proc.poll() is not None:
            env = dict(os.environ, PYTHONFAULTHANDLER="1", RUST_BACKTRACE="0")
            self.proc = subprocess.Popen([sys.executable, "-m", "tests.fuzz.worker"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self.log, env=env, cwd=ROOT)
        return self.proc

    def ask(self, request: dict[str, Any], timeout: float = HANG_LIMIT) -> dict[str, Any]:
        proc = self._start()
        body = pickle.dumps(request)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(struct.pack("<I", len(body)) + body)
            proc.stdin.flush()
        except BrokenPipeError:
            return self._dead(proc)
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready:
            proc.kill()
            proc.wait()
            return {"outcome": "hang", "error": f"no answer within {timeout:.0f} s"}
        head = proc.stdout.read(4)
        if len(head) < 4:
            return self._dead(proc)
        return pickle.loads(proc.stdout.read(struct.unpack("<I", head)[0]))

    def _dead(self, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
        code = proc.wait()
        self.log.seek(0, 2)
        size = self.log.tell()
        self.log.seek(max(0, size - 3000))
        tail = self.log.read().decode(errors="replace")
        return {"outcome": "died", "error": f"worker exited with {code}:\n{tail}"}

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def check(worker: Worker, mode: str, data: bytes, **options: Any) -> dict[str, Any]:
    """Read ``data`` in the worker and assert every property; the summary."""
    filename = options.pop("filename", "input.log")
    result = worker.ask({"mode": mode, "data": data, "options": options, "filename": filename,
                         "name": filename})
    where = f"{mode} reader, {len(data)} bytes, {options}"
    assert result["outcome"] in ("ok", "reader_error"), \
        f"{where}: {result['outcome']}\n{result['error']}"
    assert not result["problems"], f"{where}: {result['problems']}"
    assert result["elapsed"] < TIME_LIMIT, f"{where}: took {result['elapsed']:.1f} s"
    assert result["memory"] < memory_limit(len(data)), \
        f"{where}: peak memory grew by {result['memory'] >> 20} MB"
    return result


def assert_ingest_consistent(worker: Worker, url: str, paths: list[Path]) -> tuple[int, int]:
    """Ingest ``paths`` into ``url``: no exception, and the report adds up with what the
    readers alone yield and with what the store holds."""
    expected = {}
    for path in paths:
        alone = worker.ask({"mode": "sniff", "data": path.read_bytes(), "filename": path.name,
                            "options": {}})
        assert alone["outcome"] == "ok", alone["error"]
        expected[str(path)] = alone
    answer = worker.ask({"mode": "ingest", "url": url, "paths": [str(p) for p in paths]})
    assert "crash" not in answer, answer.get("crash") or answer.get("error")
    assert "outcome" not in answer, answer["error"]
    stored = 0
    for source in answer["sources"]:
        assert source["status"] in ("complete", "failed", "already"), source
        assert source["records_read"] == source["stored"] + source["duplicates"], source
        stored += source["stored"]
        alone = expected.get(source["name"])
        if alone is not None and source["status"] == "complete" and not alone["errors"]:
            assert source["records_read"] == alone["events"], source
            assert Counter(source["skipped"]) == alone["skips"], source
        if source["status"] == "failed":
            assert source["error"], source
    return stored, events_in(url)


def events_in(url: str) -> int:
    """How many events the store at ``url`` holds."""
    from sqlalchemy import func, select

    from proctrail.store.db import open_engine
    from proctrail.store.models import EventRow

    engine = open_engine(url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(EventRow)).scalar_one()
    engine.dispose()
    return n


if __name__ == "__main__":
    worker_main()
