"""Stacking the files processes wrote by the writer's parent → child pair (the stacking
screen's "files written" tab): a rare pair first, then a rarely written file, an unknown
parent last; profile names folded; Sysmon 11 and 15 and auditd writes; the demo (which
writes no file), two OTRF intrusions, and the tab at 80x24 (reverse, Enter lists the
writers)."""

from __future__ import annotations

from pathlib import Path

from conftest import event_xml
from textual.widgets import DataTable

from proctrail.store.queries.activity import file_key, pair_counts, stack_written_files

SYSMON = ("Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon")
OTRF = ("empire_psremoting_stager.zip", "cmd_mshta_vbscript_execute_psh.zip")
_IDS = ("items={} ppid=1 pid=4242 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 "
        "fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm=\"curl\" "
        "exe=\"/usr/bin/curl\" key=(null)")
_PATH = "inode={} dev=08:01 mode={} ouid=1000 ogid=1000 rdev=00:00 nametype={}"
AUDIT = "\n".join((  # curl (its parent not in the log) writes in alice's home
    "type=SYSCALL msg=audit(1714557600.100:10): arch=c000003e syscall=59 success=yes "
    "exit=0 a0=1 a1=2 a2=3 a3=4 " + _IDS.format(1),
    'type=EXECVE msg=audit(1714557600.100:10): argc=2 a0="curl" a1="http://203.0.113.7/x"',
    "type=SYSCALL msg=audit(1714557602.000:12): arch=c000003e syscall=257 success=yes "
    "exit=3 a0=ffffff9c a1=7ffe a2=241 a3=1b6 " + _IDS.format(2),
    'type=PATH msg=audit(1714557602.000:12): item=0 name="/home/alice/" '
    + _PATH.format(1, "041777", "PARENT"),
    'type=PATH msg=audit(1714557602.000:12): item=1 name="/home/alice/.x" '
    + _PATH.format(2, "0100644", "CREATE"), ""))
EXPLORER, CMD = "C:\\Windows\\explorer.exe", "C:\\Windows\\System32\\cmd.exe"
WORD = "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"
PS = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
X_TMP = "C:\\Users\\{}\\AppData\\Local\\Temp\\x.tmp"


class Host:
    """One machine's Sysmon records: process starts and the files they write."""

    def __init__(self, name: str) -> None:
        self.name, self.events, self.second = name, [], 0

    def _add(self, eid: int, data: dict[str, str]) -> None:
        self.second += 1
        when = f"2024-05-01T10:00:{self.second:02d}"
        self.events.append(event_xml(eid, len(self.events) + 1, when + ".000Z",
                                     {"UtcTime": when.replace("T", " ") + ".000", **data},
                                     channel=SYSMON[0], provider=SYSMON[1], host=self.name))

    def start(self, guid: str, pid: int, image: str, parent: tuple[str, int, str] | None
              ) -> tuple[str, int, str]:
        pguid, ppid, pimage = parent or ("", 0, "")
        self._add(1, {"ProcessGuid": guid, "ProcessId": str(pid), "Image": image,
                      "CommandLine": image, "User": "CORP\\alice", "LogonId": "0x1",
                      "ParentProcessGuid": pguid, "ParentProcessId": str(ppid),
                      "ParentImage": pimage})
        return guid, pid, image

    def write(self, proc: tuple[str, int, str], path: str, stream: bool = False) -> None:
        guid, pid, image = proc
        self._add(15 if stream else 11, {"ProcessGuid": guid, "ProcessId": str(pid),
                                         "Image": image, "TargetFilename": path})


def written_case(case_of, xml_log, tmp_path: Path):
    """WS1: explorer starts three cmd.exe (two write x.tmp in two users' profiles, one a
    log), Word starts PowerShell (writes a DLL twice, its stream, and x.tmp); WS2:
    explorer's cmd.exe writes the same log; lnx01: curl writes in alice's home."""
    ws1, ws2 = Host("WS1"), Host("WS2")
    explorer = ws1.start("{e}", 100, EXPLORER, None)
    for n, path in enumerate((X_TMP.format("alice"), X_TMP.format("BOB").upper(),
                              "C:\\Windows\\Temp\\common.log")):
        ws1.write(ws1.start(f"{{c{n}}}", 200 + n, CMD, explorer), path)
    word = ws1.start("{w}", 300, WORD, None)
    ps = ws1.start("{p}", 301, PS, word)
    ws1.write(ps, "C:\\ProgramData\\evil.dll")
    ws1.write(ps, "C:\\ProgramData\\evil.dll")
    ws1.write(ps, "C:\\ProgramData\\evil.dll:Zone.Identifier", stream=True)
    ws1.write(ps, X_TMP.format("alice"))
    explorer2 = ws2.start("{e2}", 100, EXPLORER, None)
    ws2.write(ws2.start("{c9}", 209, CMD, explorer2), "c:\\windows\\temp\\COMMON.log")
    audit = tmp_path / "audit.log"
    audit.write_text(AUDIT)
    return case_of(xml_log("ws1.xml", ws1.events), xml_log("ws2.xml", ws2.events), audit)


def _short(rows: list[dict]) -> list[tuple]:
    return [(r["pair"], r["path"], r["pair_count"], r["file_count"], r["processes"],
             r["hosts"], r["count"]) for r in rows]


def test_rare_pairs_first_then_rare_files(case_of, xml_log, tmp_path: Path) -> None:
    engine = written_case(case_of, xml_log, tmp_path)
    x_tmp = "c:\\users\\*\\appdata\\local\\temp\\x.tmp"
    pairs = pair_counts(engine)
    assert (pairs["explorer.exe → cmd.exe"], pairs["winword.exe → powershell.exe"],
            pairs["? → explorer.exe"], pairs["? → curl"]) == (4, 1, 2, 1)
    rows = stack_written_files(engine)
    assert _short(rows) == [
        ("winword.exe → powershell.exe", "c:\\programdata\\evil.dll", 1, 1, 1, 1, 2),
        ("winword.exe → powershell.exe", "c:\\programdata\\evil.dll:zone.identifier",
         1, 1, 1, 1, 1),
        ("winword.exe → powershell.exe", x_tmp, 1, 3, 1, 1, 1),  # two cmd.exe wrote it too
        ("explorer.exe → cmd.exe", "c:\\windows\\temp\\common.log", 4, 2, 2, 2, 2),
        ("explorer.exe → cmd.exe", x_tmp, 4, 3, 2, 1, 2),  # alice's and BOB's
        ("? → curl", "/home/*/.x", 1, 1, 1, 1, 1)]  # its parent unknown: last
    assert len({i for r in rows for i in r["process_ids"]}) == 6  # curl, PS, four cmd
    common = stack_written_files(engine, rarest_first=False)
    assert common == [rows[i] for i in (4, 3, 2, 0, 1, 5)]  # ties stay in name order
    assert [r["path"] for r in stack_written_files(engine, limit=2)] == \
        ["c:\\programdata\\evil.dll", "c:\\programdata\\evil.dll:zone.identifier"]


def test_file_key_folds_profiles_only() -> None:
    assert file_key("C:\\Users\\Alice\\AppData\\x.TMP") == "c:\\users\\*\\appdata\\x.tmp"
    assert file_key("/home/bob/.ssh/authorized_keys") == "/home/*/.ssh/authorized_keys"
    assert file_key("C:\\Users\\x.txt") == "c:\\users\\x.txt"  # no profile folder
    assert file_key("D:\\Data\\Users\\a\\b") == "d:\\data\\users\\a\\b"


def test_demo_writes_no_file_and_otrf_stacks_by_pair(demo_case, samples: Path,
                                                     case_of) -> None:
    """The demo's Sysmon logs no file creation (1, 3, 5, 22 only): the stack is empty.
    Two OTRF intrusions: PowerShell under mshta and under wsmprovhost, wsmprovhost under
    svchost, each pair once in the case, writing PowerShell's policy-test files."""
    assert stack_written_files(demo_case) == []
    engine = case_of(*(samples / "otrf" / n for n in OTRF))
    rows = stack_written_files(engine)
    assert len(rows) == 9 and {r["pair_count"] for r in rows} == {1}
    by_pair: dict[str, int] = {}
    for r in rows:
        by_pair[r["pair"]] = by_pair.get(r["pair"], 0) + 1
        assert r["path"].startswith("c:\\users\\*\\appdata\\"), r["path"]
    assert by_pair == {"mshta.exe → powershell.exe": 4, "wsmprovhost.exe → powershell.exe": 3,
                       "svchost.exe → wsmprovhost.exe": 2}
    assert [r["pair"] for r in rows] == sorted(r["pair"] for r in rows)  # ties: by name


async def test_files_written_tab_at_80x24(case_of, xml_log, tmp_path: Path) -> None:
    from proctrail.app.screens.lists import ProcessListScreen
    from proctrail.app.screens.stacking import StackingScreen
    from proctrail.app.tui import ProctrailApp
    from tests.test_tui import screen_text, settle

    engine = written_case(case_of, xml_log, tmp_path)
    app = ProctrailApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        assert isinstance(app.screen, StackingScreen)
        app.screen.query_one("#stacks").active = "tab-files"
        await settle(pilot)
        table = app.screen.query_one("#stack-files", DataTable)
        assert table.row_count == 6
        shown = screen_text(app)
        assert "files written" in shown and "evil.dll" in shown
        assert "winword → powershell" in shown  # 80 columns: ".exe" left out
        table.focus()
        await pilot.press("v")
        await settle(pilot)
        assert "commonest" in screen_text(app)
        first = [c.plain for c in table.get_row_at(0)]
        assert first[:4] == ["4", "3", "2", "1"] and first[5].endswith("x.tmp")
        table.move_cursor(row=0)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ProcessListScreen)
        listed = screen_text(app)
        assert "wrote c:\\users\\*\\" in listed and "2 process(es)" in listed
        assert listed.count("cmd.exe") == 2  # the two writers (the title is cut first)
