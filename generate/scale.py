"""The ``scale`` scenario: realistic process trees on Windows hosts, to any size, streamed.

Each host runs services (svchost), a few user sessions (explorer, shells, a browser that
starts many short children) over simulated hours; processes are generated and written in
time order from a heap of pending ends, so memory holds only what is running, whatever
the number of processes. PIDs come from a small pool and are reused; one process in 200
ends without a logged end, so its PID's next process is ``pid_reused`` (and it
``end_missing``; ``after_log`` where no start takes its PID again, like every process still
running when the log ends). services.exe, the parent of the first processes, is a
``before_log`` placeholder. The truth is written alongside, one lifetime a line
(``OUT.truth.jsonl``).
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from pathlib import Path
from typing import Any, TextIO

import orjson

from proctrail.generate.formats import ChannelFiles
from proctrail.generate.model import (
    SECOND,
    SECURITY,
    SECURITY_PROVIDER,
    SYSMON,
    SYSMON_PROVIDER,
    Account,
    Record,
)
from proctrail.generate.truth import lifetime_key
from proctrail.generate.windows import SYSTEM
from proctrail.store.timefmt import iso

START = 1_800_000_000 * SECOND  # 2027-01-15
SYS32 = "C:\\Windows\\System32\\"
# kind: (image, command line, mean life in s, child kinds and weights)
KINDS: dict[str, tuple[str, str, float, dict[str, int]]] = {
    "svchost": (SYS32 + "svchost.exe", "svchost.exe -k netsvcs -p", 36_000,
                {"task": 6, "wmi": 2}),
    "task": (SYS32 + "taskhostw.exe", "taskhostw.exe", 20, {}),
    "wmi": (SYS32 + "wbem\\WmiPrvSE.exe", "WmiPrvSE.exe -secured -Embedding", 120, {}),
    "explorer": ("C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE", 30_000,
                 {"cmd": 3, "browser": 2, "office": 2}),
    "cmd": (SYS32 + "cmd.exe", "cmd.exe", 600, {"tool": 5}),
    "tool": (SYS32 + "ipconfig.exe", "ipconfig /all", 2, {}),
    "browser": ("C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", "chrome.exe",
                5_000, {"renderer": 10}),
    "renderer": ("C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
                 "chrome.exe --type=renderer", 90, {}),
    "office": ("C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
               "WINWORD.EXE /n", 1_800, {"splwow": 1}),
    "splwow": (SYS32 + "splwow64.exe", "splwow64.exe 8192", 30, {}),
}


class _Proc:
    __slots__ = ("account", "children", "ends_unlogged", "guid", "key", "kind", "parent_key",
                 "pid", "pimage", "ppid", "reused", "start")

    def __init__(self, kind: str, pid: int, start: int, account: Account, parent: Any) -> None:
        self.kind = kind
        self.pid = pid
        self.start = start
        self.account = account
        self.ppid = parent.pid if parent else 0x2E8
        self.pimage = KINDS[parent.kind][0] if parent else SYS32 + "services.exe"
        self.parent_key = parent.key if parent else ""
        self.guid = ""
        self.key = ""
        self.ends_unlogged = False
        self.reused = False
        self.children = 0


class ScaleHost:
    """One host's stream of processes, written as they happen."""

    def __init__(self, number: int, rng: random.Random, out: Path, formats: tuple[str, ...],
                 truth: TextIO) -> None:
        self.host_no = number
        name = self.name = f"HOST{number:03d}.corp.example"
        self.rng = rng
        self.truth = truth
        short = name.split(".")[0]
        self.files = {SECURITY: ChannelFiles(out / f"{short}-Security", formats),
                      SYSMON: ChannelFiles(out / f"{short}-Sysmon", formats)}
        self.record_ids = {SECURITY: 0, SYSMON: 0}
        self.free = list(range(0x100, 0x100 + 4 * 4096, 4))
        rng.shuffle(self.free)
        self.cooling: deque[tuple[int, int]] = deque()  # (free again at, pid)
        # PID -> its last process, which ended without a record: its truth waits for the
        # next start of the PID (then it is end_missing) or the end (after_log).
        self.unlogged: dict[int, _Proc] = {}
        self.running: dict[int, _Proc] = {}
        self.heap: list[tuple[int, int, str, Any]] = []
        self.seq = 0
        self.started = 0
        self.services_key = lifetime_key(name, 0x2E8, SYS32 + "services.exe", None, None)
        self.placeholder = False

    def _push(self, at: int, what: str, item: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, what, item))

    def _emit(self, at: int, channel: str, event_id: int, data: list[tuple[str | None, str]],
              **extra: Any) -> None:
        self.record_ids[channel] += 1
        provider = SECURITY_PROVIDER if channel == SECURITY else SYSMON_PROVIDER
        self.files[channel].write(Record(at, at, self.name, channel, provider, event_id, data,
                                         record_id=self.record_ids[channel], **extra))

    def _pid(self, at: int) -> int | None:
        """A free PID: one freed a few seconds ago first (Windows reuses them soon)."""
        if self.cooling and self.cooling[0][0] <= at:
            return self.cooling.popleft()[1]
        return self.free.pop() if self.free else None

    def start(self, at: int, kind: str, parent: _Proc | None, account: Account) -> None:
        pid = self._pid(at)
        if pid is None:
            return
        p = _Proc(kind, pid, at, account, parent)
        if pid in self.unlogged:
            self._truth(self.unlogged.pop(pid), None, "end_missing")
            p.reused = True
        image, cmd, life, _ = KINDS[kind]
        p.guid = f"{{{self.host_no:08x}-0000-0000-0000-{self.started:012x}}}"
        self.started += 1
        sec = at + self.rng.randrange(200, 3000)
        self._emit(sec, SECURITY, 4688, [
            ("SubjectUserSid", account.sid), ("SubjectUserName", account.name),
            ("SubjectDomainName", account.domain), ("SubjectLogonId", hex(account.logon_id)),
            ("NewProcessId", hex(pid)), ("NewProcessName", image), ("ProcessId", hex(p.ppid)),
            ("CommandLine", f"{cmd} {self.started}"), ("ParentProcessName", p.pimage)],
            version=2, task=13312)
        self._emit(at + 500, SYSMON, 1, [
            ("ProcessGuid", p.guid), ("ProcessId", str(pid)), ("Image", image),
            ("CommandLine", f"{cmd} {self.started}"), ("User", account.user),
            ("LogonId", hex(account.logon_id)), ("ParentProcessId", str(p.ppid)),
            ("ParentImage", p.pimage)], version=5, level=4, keywords=0x8000000000000000)
        p.start = min(sec, at + 500)
        p.key = lifetime_key(self.name, pid, image, iso(p.start), None)
        self.running[pid] = p
        if parent is None:
            self.placeholder = True
        else:
            parent.children += 1
        p.ends_unlogged = self.rng.random() < 0.005
        if parent is not None:  # services and shells run all through the logs
            self._push(at + int(self.rng.expovariate(1 / life) * SECOND) + 1000, "end", p)
        if KINDS[kind][3]:
            self._push(at + int(self.rng.expovariate(1 / 60) * SECOND), "spawn", p)

    def end(self, at: int, p: _Proc) -> None:
        if self.running.get(p.pid) is not p:
            return
        del self.running[p.pid]
        self.cooling.append((at + 5 * SECOND, p.pid))
        if p.ends_unlogged:
            self.unlogged[p.pid] = p
        end = None
        if not p.ends_unlogged:
            sec = at + self.rng.randrange(200, 3000)
            image = KINDS[p.kind][0]
            self._emit(sec, SECURITY, 4689, [
                ("SubjectUserSid", p.account.sid), ("SubjectUserName", p.account.name),
                ("SubjectDomainName", p.account.domain),
                ("SubjectLogonId", hex(p.account.logon_id)), ("Status", "0x0"),
                ("ProcessId", hex(p.pid)), ("ProcessName", image)], task=13313)
            self._emit(at + 500, SYSMON, 5, [("ProcessGuid", p.guid), ("ProcessId", str(p.pid)),
                                             ("Image", image)],
                       version=3, level=4, keywords=0x8000000000000000)
            end = min(sec, at + 500)
            self._truth(p, end)

    def _truth(self, p: _Proc, end: int | None, missing: str = "") -> None:
        """``p``'s truth line; ``missing``: how its end is missing, where it is."""
        image = KINDS[p.kind][0]
        flags = [missing] if missing else []
        if p.reused:
            flags.append("pid_reused")
        self.truth.write(orjson.dumps({
            "key": p.key, "host": self.name, "pid": p.pid, "image": image,
            "start": iso(p.start), "end": iso(end), "user": p.account.user,
            "logon_id": hex(p.account.logon_id), "flags": sorted(flags),
            "parent": p.parent_key or self.services_key}).decode() + "\n")

    def run(self, processes: int) -> None:
        t = START
        users = [Account("CORP", f"user{i}", f"S-1-5-21-1-2-3-{1100 + i}", 0x100000 + i)
                 for i in range(3)]
        for _ in range(4):
            self.start(t, "svchost", None, SYSTEM)
        for user in users:
            self.start(t + SECOND, "explorer", None, user)
        budget = processes - 7
        while self.heap and self.started < processes:
            at, _seq, what, item = heapq.heappop(self.heap)
            if what == "end":
                self.end(at, item)
                continue
            parent: _Proc = item
            if self.running.get(parent.pid) is not parent or budget <= 0:
                continue
            children = KINDS[parent.kind][3]
            kind = self.rng.choices(list(children), weights=list(children.values()))[0]
            self.start(at, kind, parent, parent.account)
            budget -= 1
            self._push(at + int(self.rng.expovariate(1 / 30) * SECOND) + 1, "spawn", parent)
        # Running, or ended unseen with its PID not taken again: nothing tells it from one
        # still running when the log ends.
        for p in [*self.running.values(), *self.unlogged.values()]:
            self._truth(p, None, "after_log")
        self.running.clear()
        self.unlogged.clear()
        if self.placeholder:
            self.truth.write(orjson.dumps({
                "key": self.services_key, "host": self.name, "pid": 0x2E8,
                "image": SYS32 + "services.exe", "start": None, "end": None, "user": "",
                "logon_id": "", "flags": ["after_log", "before_log", "placeholder"],
                "parent": None}).decode() + "\n")

    def close(self) -> list[Path]:
        return [path for files in self.files.values() for path in files.close()]


def write_scale(out: Path, processes: int, hosts: int = 1, seed: int = 1,
                formats: tuple[str, ...] = ("evtx",), truth_path: Path | None = None
                ) -> list[Path]:
    """``processes`` processes over ``hosts`` Windows hosts into ``out``; the truth, one
    lifetime a line, beside it (``OUT.truth.jsonl``) or at ``truth_path``."""
    from proctrail.generate.scenarios import default_truth

    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    files: list[Path] = []
    with (truth_path or default_truth(out, ".jsonl")).open("w", encoding="utf-8") as truth:
        for i in range(hosts):
            host = ScaleHost(i, random.Random(rng.random()), out, formats, truth)
            host.run(processes // hosts)
            files += host.close()
    return files
