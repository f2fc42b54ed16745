"""ATT&CK, as proctrail needs it: technique ids to names and tactics, and Sigma tags read.

The catalogue is ATT&CK Enterprise v19 (the version SigmaHQ's rules are tagged with since
Defense Evasion was split into Stealth and Defense Impairment), limited to the techniques
the built-in rules, the discovery bursts, the integrity findings and SigmaHQ's
process-creation and auditd rules name. Names only, written here; a technique outside the
catalogue is shown by its id. Ids revoked before v19 (``T1070.001``, ``T1562.*``) are read
as their successors, and the retired tactic ``defense-evasion`` as what its techniques are
now filed under, so older rules land on the same techniques.

A finding stores its tags comma-separated, lower case, Sigma's spelling
(``attack.execution,attack.t1059.001``): :func:`finding_tags` writes them,
:func:`techniques_of` and :func:`tactics_of` read them back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

ATTACK_VERSION = "19"

# Tactic shortname -> (id, name), in the matrix's order.
TACTICS: dict[str, tuple[str, str]] = {
    "reconnaissance": ("TA0043", "Reconnaissance"),
    "resource-development": ("TA0042", "Resource Development"),
    "initial-access": ("TA0001", "Initial Access"),
    "execution": ("TA0002", "Execution"),
    "persistence": ("TA0003", "Persistence"),
    "privilege-escalation": ("TA0004", "Privilege Escalation"),
    "stealth": ("TA0005", "Stealth"),
    "defense-impairment": ("TA0112", "Defense Impairment"),
    "credential-access": ("TA0006", "Credential Access"),
    "discovery": ("TA0007", "Discovery"),
    "lateral-movement": ("TA0008", "Lateral Movement"),
    "collection": ("TA0009", "Collection"),
    "command-and-control": ("TA0011", "Command and Control"),
    "exfiltration": ("TA0010", "Exfiltration"),
    "impact": ("TA0040", "Impact"),
}
_SHORT = {"recon": "reconnaissance", "resdev": "resource-development",
          "ia": "initial-access", "exec": "execution", "pers": "persistence",
          "pe": "privilege-escalation", "st": "stealth", "dim": "defense-impairment",
          "ca": "credential-access", "disc": "discovery", "lm": "lateral-movement",
          "coll": "collection", "c2": "command-and-control", "exfil": "exfiltration",
          "imp": "impact"}

# id  name  | tactics (the abbreviations above). A sub-technique carries its own name only.
_CATALOGUE = """
T1003 OS Credential Dumping|ca
T1003.001 LSASS Memory|ca
T1003.002 Security Account Manager|ca
T1003.003 NTDS|ca
T1003.004 LSA Secrets|ca
T1003.005 Cached Domain Credentials|ca
T1003.006 DCSync|ca
T1005 Data from Local System|coll
T1007 System Service Discovery|disc
T1012 Query Registry|disc
T1014 Rootkit|st
T1016 System Network Configuration Discovery|disc
T1018 Remote System Discovery|disc
T1021 Remote Services|lm
T1021.001 Remote Desktop Protocol|lm
T1021.002 SMB/Windows Admin Shares|lm
T1021.003 Distributed Component Object Model|lm
T1021.004 SSH|lm
T1021.005 VNC|lm
T1021.006 Windows Remote Management|lm
T1027 Obfuscated Files or Information|st
T1027.001 Binary Padding|st
T1027.003 Steganography|st
T1027.004 Compile After Delivery|st
T1027.005 Indicator Removal from Tools|st
T1027.009 Embedded Payloads|st
T1027.010 Command Obfuscation|st
T1027.011 Fileless Storage|st
T1030 Data Transfer Size Limits|exfil
T1033 System Owner/User Discovery|disc
T1036 Masquerading|st
T1036.002 Right-to-Left Override|st
T1036.003 Rename Legitimate Utilities|st
T1036.004 Masquerade Task or Service|st
T1036.005 Match Legitimate Resource Name or Location|st
T1036.007 Double File Extension|st
T1037.001 Logon Script (Windows)|pers,pe
T1039 Data from Network Shared Drive|coll
T1040 Network Sniffing|ca,disc
T1046 Network Service Discovery|disc
T1047 Windows Management Instrumentation|exec
T1048 Exfiltration Over Alternative Protocol|exfil
T1048.001 Exfiltration Over Symmetric Encrypted Non-C2 Protocol|exfil
T1048.003 Exfiltration Over Unencrypted Non-C2 Protocol|exfil
T1049 System Network Connections Discovery|disc
T1053 Scheduled Task/Job|exec,pers,pe
T1053.002 At|exec,pers,pe
T1053.003 Cron|exec,pers,pe
T1053.005 Scheduled Task|exec,pers,pe
T1055 Process Injection|pe,st
T1055.001 Dynamic-link Library Injection|pe,st
T1055.009 Proc Memory|pe,st
T1055.012 Process Hollowing|pe,st
T1056.001 Keylogging|coll,ca
T1056.002 GUI Input Capture|coll,ca
T1057 Process Discovery|disc
T1059 Command and Scripting Interpreter|exec
T1059.001 PowerShell|exec
T1059.003 Windows Command Shell|exec
T1059.004 Unix Shell|exec
T1059.005 Visual Basic|exec
T1059.006 Python|exec
T1059.007 JavaScript|exec
T1059.012 Hypervisor CLI|exec
T1068 Exploitation for Privilege Escalation|pe
T1069 Permission Groups Discovery|disc
T1069.001 Local Groups|disc
T1069.002 Domain Groups|disc
T1070 Indicator Removal|st
T1070.003 Clear Command History|st
T1070.004 File Deletion|st
T1070.005 Network Share Connection Removal|st
T1070.006 Timestomp|st
T1071 Application Layer Protocol|c2
T1071.001 Web Protocols|c2
T1071.004 DNS|c2
T1072 Software Deployment Tools|exec,lm
T1074.001 Local Data Staging|coll
T1078 Valid Accounts|ia,pers,pe,st
T1078.002 Domain Accounts|ia,pers,pe,st
T1082 System Information Discovery|disc
T1083 File and Directory Discovery|disc
T1087 Account Discovery|disc
T1087.001 Local Account|disc
T1087.002 Domain Account|disc
T1090 Proxy|c2
T1090.001 Internal Proxy|c2
T1090.003 Multi-hop Proxy|c2
T1095 Non-Application Layer Protocol|c2
T1098 Account Manipulation|pers,pe
T1102 Web Service|c2
T1102.002 Bidirectional Communication|c2
T1105 Ingress Tool Transfer|c2
T1106 Native API|exec
T1110 Brute Force|ca
T1110.001 Password Guessing|ca
T1110.002 Password Cracking|ca
T1112 Modify Registry|pers,dim
T1113 Screen Capture|coll
T1114 Email Collection|coll
T1115 Clipboard Data|coll
T1119 Automated Collection|coll
T1120 Peripheral Device Discovery|disc
T1123 Audio Capture|coll
T1124 System Time Discovery|disc
T1127 Trusted Developer Utilities Proxy Execution|st
T1127.001 MSBuild|st
T1132.001 Standard Encoding|c2
T1133 External Remote Services|ia,pers
T1134 Access Token Manipulation|pe,st
T1134.001 Token Impersonation/Theft|pe,st
T1134.002 Create Process with Token|pe,st
T1134.003 Make and Impersonate Token|pe,st
T1134.004 Parent PID Spoofing|pe,st
T1135 Network Share Discovery|disc
T1136 Create Account|pers
T1136.001 Local Account|pers
T1140 Deobfuscate/Decode Files or Information|st
T1176.001 Browser Extensions|pers
T1185 Browser Session Hijacking|coll
T1187 Forced Authentication|ca
T1190 Exploit Public-Facing Application|ia
T1195.002 Compromise Software Supply Chain|ia
T1197 BITS Jobs|pers,st
T1201 Password Policy Discovery|disc
T1202 Indirect Command Execution|st
T1203 Exploitation for Client Execution|exec
T1204 User Execution|exec
T1204.001 Malicious Link|exec
T1204.002 Malicious File|exec
T1204.004 Malicious Copy and Paste|exec
T1210 Exploitation of Remote Services|lm
T1211 Exploitation for Stealth|st
T1212 Exploitation for Credential Access|ca
T1216 System Script Proxy Execution|st
T1216.001 PubPrn|st
T1217 Browser Information Discovery|disc
T1218 System Binary Proxy Execution|st
T1218.001 Compiled HTML File|st
T1218.002 Control Panel|st
T1218.003 CMSTP|st
T1218.004 InstallUtil|st
T1218.005 Mshta|st
T1218.007 Msiexec|st
T1218.008 Odbcconf|st
T1218.009 Regsvcs/Regasm|st
T1218.010 Regsvr32|st
T1218.011 Rundll32|st
T1218.013 Mavinject|st
T1218.014 MMC|st
T1219 Remote Access Tools|c2
T1219.002 Remote Desktop Software|c2
T1220 XSL Script Processing|st
T1222.001 Windows File and Directory Permissions Modification|dim
T1222.002 Linux and Mac File and Directory Permissions Modification|dim
T1482 Domain Trust Discovery|disc
T1484.001 Group Policy Modification|pe,dim
T1485 Data Destruction|imp
T1486 Data Encrypted for Impact|imp
T1489 Service Stop|imp
T1490 Inhibit System Recovery|imp
T1491.001 Internal Defacement|imp
T1496 Resource Hijacking|imp
T1499 Endpoint Denial of Service|imp
T1505.002 Transport Agent|pers
T1505.003 Web Shell|pers
T1505.004 IIS Components|pers
T1505.005 Terminal Services DLL|pers
T1518 Software Discovery|disc
T1518.001 Security Software Discovery|disc
T1526 Cloud Service Discovery|disc
T1528 Steal Application Access Token|ca
T1529 System Shutdown/Reboot|imp
T1531 Account Access Removal|imp
T1539 Steal Web Session Cookie|ca
T1542.001 System Firmware|pers,st
T1542.003 Bootkit|pers,st
T1543 Create or Modify System Process|pers,pe
T1543.002 Systemd Service|pers,pe
T1543.003 Windows Service|pers,pe
T1546 Event Triggered Execution|pers,pe
T1546.001 Change Default File Association|pers,pe
T1546.002 Screensaver|pers,pe
T1546.003 Windows Management Instrumentation Event Subscription|pers,pe
T1546.004 Unix Shell Configuration Modification|pers,pe
T1546.007 Netsh Helper DLL|pers,pe
T1546.008 Accessibility Features|pers,pe
T1546.011 Application Shimming|pers,pe
T1546.015 Component Object Model Hijacking|pers,pe
T1547 Boot or Logon Autostart Execution|pers,pe
T1547.001 Registry Run Keys / Startup Folder|pers,pe
T1547.002 Authentication Package|pers,pe
T1547.006 Kernel Modules and Extensions|pers,pe
T1547.010 Port Monitors|pers,pe
T1547.014 Active Setup|pers,pe
T1548 Abuse Elevation Control Mechanism|pe
T1548.001 Setuid and Setgid|pe
T1548.002 Bypass User Account Control|pe
T1550.003 Pass the Ticket|lm
T1552 Unsecured Credentials|ca
T1552.001 Credentials In Files|ca
T1552.002 Credentials in Registry|ca
T1552.003 Shell History|ca
T1552.004 Private Keys|ca
T1552.006 Group Policy Preferences|ca
T1553 Subvert Trust Controls|dim
T1553.004 Install Root Certificate|dim
T1553.005 Mark-of-the-Web Bypass|dim
T1554 Compromise Host Software Binary|pers
T1555 Credentials from Password Stores|ca
T1555.003 Credentials from Web Browsers|ca
T1555.004 Windows Credential Manager|ca
T1556.002 Password Filter DLL|ca,pers,dim
T1557 Adversary-in-the-Middle|ca,coll
T1557.001 LLMNR/NBT-NS Poisoning and SMB Relay|ca,coll
T1558.003 Kerberoasting|ca
T1560 Archive Collected Data|coll
T1560.001 Archive via Utility|coll
T1563.002 RDP Hijacking|lm
T1564 Hide Artifacts|st
T1564.001 Hidden Files and Directories|st
T1564.002 Hidden Users|st
T1564.003 Hidden Window|st
T1564.004 NTFS File Attributes|st
T1564.006 Run Virtual Instance|st
T1565.001 Stored Data Manipulation|imp
T1566 Phishing|ia
T1566.001 Spearphishing Attachment|ia
T1567 Exfiltration Over Web Service|exfil
T1567.002 Exfiltration to Cloud Storage|exfil
T1569 System Services|exec
T1569.002 Service Execution|exec
T1570 Lateral Tool Transfer|lm
T1572 Protocol Tunneling|c2
T1574 Hijack Execution Flow|pers,pe,st
T1574.001 DLL|pers,pe,st
T1574.005 Executable Installer File Permissions Weakness|pers,pe,st
T1574.006 Dynamic Linker Hijacking|pers,pe,st
T1574.007 Path Interception by PATH Environment Variable|pers,pe,st
T1574.008 Path Interception by Search Order Hijacking|pers,pe,st
T1574.011 Services Registry Permissions Weakness|pers,pe,st
T1584 Compromise Infrastructure|resdev
T1587 Develop Capabilities|resdev
T1587.001 Malware|resdev
T1588.002 Tool|resdev
T1590.001 Domain Properties|recon
T1592.004 Client Configurations|recon
T1593.003 Code Repositories|recon
T1595 Active Scanning|recon
T1608 Stage Capabilities|resdev
T1614.001 System Language Discovery|disc
T1615 Group Policy Discovery|disc
T1620 Reflective Code Loading|st
T1622 Debugger Evasion|st,disc
T1649 Steal or Forge Authentication Certificates|ca
T1653 Power Settings|pers
T1685 Disable or Modify Tools|dim
T1685.001 Disable or Modify Windows Event Log|dim
T1685.002 Disable or Modify Cloud Log|dim
T1685.003 Modify or Spoof Tool UI|dim
T1685.004 Disable or Modify Linux Audit System Log|dim
T1685.005 Clear Windows Event Logs|dim
T1685.006 Clear Linux or Mac System Logs|dim
T1686 Disable or Modify System Firewall|dim
T1686.001 Cloud Firewall|dim
T1686.002 Network Device Firewall|dim
T1686.003 Windows Host Firewall|dim
T1688 Safe Mode Boot|dim
T1689 Downgrade Attack|dim
T1690 Prevent Command History Logging|dim
"""

# Ids ATT&CK revoked before v19, read as the technique that replaced them.
REVOKED = {"T1562": "T1685", "T1562.001": "T1685", "T1562.006": "T1685",
           "T1562.002": "T1685.001", "T1562.003": "T1690", "T1562.004": "T1686",
           "T1562.007": "T1686.001", "T1562.008": "T1685.002", "T1562.009": "T1688",
           "T1562.010": "T1689", "T1562.011": "T1685.003", "T1562.012": "T1685.004",
           "T1562.013": "T1686.002", "T1070.001": "T1685.005", "T1070.002": "T1685.006",
           "T1053.001": "T1053.002", "T1574.002": "T1574.001"}


@dataclass(frozen=True)
class Technique:
    """One technique of the catalogue."""

    id: str  # T1059.001
    name: str  # PowerShell (a sub-technique's own name)
    tactics: tuple[str, ...]  # shortnames: ("execution",)

    @property
    def parent(self) -> str:
        """The technique a sub-technique belongs to (itself for a technique)."""
        return self.id.split(".")[0]


def _catalogue() -> dict[str, Technique]:
    out: dict[str, Technique] = {}
    for line in _CATALOGUE.strip().splitlines():
        head, _bar, tactics = line.partition("|")
        tid, _sp, name = head.partition(" ")
        out[tid] = Technique(tid, name, tuple(_SHORT[t] for t in tactics.split(",")))
    return out


TECHNIQUES = _catalogue()

# Integrity anomalies and process flags that become findings (config.py), as tags. A
# flag that says only what the log lacks names no technique.
FIXED: dict[str, tuple[str, ...]] = {
    "log_cleared": ("T1685.005",),  # Clear Windows Event Logs (T1070.001 before v19)
    "audit_stopped": ("T1685.001",),  # Disable or Modify Windows Event Log (T1562.002)
    "clock_changed": ("T1070.006",),  # as SigmaHQ tags system time changes (4616)
    "clock_jump": ("T1070.006",),  # the clock seen going back in record order
    "record_gap": ("T1070",),  # records missing: removed how, the log cannot say
}

_TECHNIQUE_TAG = re.compile(r"attack\.(t\d{4}(?:\.\d{3})?)")
_OTHER_ATTACK = re.compile(r"attack\.[gs]\d{4}")  # groups and software: kept as written
_LEGACY_EVASION = "defense-evasion"


def technique_id(text: str) -> str | None:
    """``T1059.001`` from ``attack.t1059.001``, ``t1059.001`` or ``T1059.001``; a revoked
    id as its successor; None for anything else."""
    text = text.strip().lower()
    if not text.startswith("attack."):
        text = "attack." + text
    m = _TECHNIQUE_TAG.fullmatch(text)
    if m is None:
        return None
    tid = m.group(1).upper()
    return REVOKED.get(tid, tid)


def tactic_of_tag(tag: str) -> str | None:
    """``lateral-movement`` from ``attack.lateral_movement``; None if the tag is no
    tactic (``defense-evasion``, retired, is returned as it is for the caller to place)."""
    tag = tag.strip().lower()
    if not tag.startswith("attack.") or _TECHNIQUE_TAG.fullmatch(tag) or \
            _OTHER_ATTACK.fullmatch(tag):
        return None
    name = tag.removeprefix("attack.").replace("_", "-")
    return name if name in TACTICS or name == _LEGACY_EVASION else None


def finding_tags(tags: Iterable[str]) -> str:
    """A rule's Sigma tags as a finding stores them: ATT&CK tactics then techniques in
    Sigma's spelling, revoked ids replaced, the retired ``defense-evasion`` read as the
    Stealth or Defense Impairment tactics of the rule's techniques (Stealth when they say
    nothing), each technique's catalogue tactics added when the rule names none of them;
    other tags (``car.``, ``cve.``) kept after them, lower case."""
    techniques: list[str] = []
    tactics: list[str] = []
    other: list[str] = []
    legacy = False
    for tag in tags:
        tid = technique_id(tag) if tag.strip().lower().startswith("attack.t") else None
        tactic = tactic_of_tag(tag)
        if tid is not None:
            if tid not in techniques:
                techniques.append(tid)
        elif tactic == _LEGACY_EVASION:
            legacy = True
        elif tactic is not None:
            if tactic not in tactics:
                tactics.append(tactic)
        elif tag.strip() and tag.strip().lower() not in other:
            other.append(tag.strip().lower())
    known = [TECHNIQUES[t] for t in techniques if t in TECHNIQUES]
    if legacy:
        split = [a for t in known for a in t.tactics if a in ("stealth", "defense-impairment")]
        tactics += [a for a in dict.fromkeys(split or ["stealth"]) if a not in tactics]
    for t in known:
        if not set(t.tactics) & set(tactics):
            tactics += [a for a in t.tactics if a not in tactics]
    return ",".join([*(f"attack.{a}" for a in tactics),
                     *(f"attack.{t.lower()}" for t in techniques), *other])


def fixed_tags(kind: str) -> str:
    """The stored tags of an integrity or process-flag finding of ``kind`` ("" if none)."""
    return finding_tags(f"attack.{t}" for t in FIXED.get(kind, ()))


def techniques_of(tags: str) -> list[str]:
    """The technique ids of stored tags (``["T1059.001", "T1027"]``), in their order."""
    out: list[str] = []
    for tag in tags.split(","):
        tid = technique_id(tag) if tag.strip().lower().startswith("attack.t") else None
        if tid is not None and tid not in out:
            out.append(tid)
    return out


def tactics_of(tags: str) -> list[str]:
    """The tactic shortnames of stored tags, in the matrix's order."""
    found = set(finding_tags(tags.split(",")).split(","))
    return [t for t in TACTICS if f"attack.{t}" in found]


def technique_name(tid: str) -> str:
    """The catalogue's name of ``tid`` ("" for a technique it does not hold)."""
    known = TECHNIQUES.get(tid)
    return known.name if known else ""


def label(tid: str) -> str:
    """``T1059.001 PowerShell`` (the id alone outside the catalogue)."""
    name = technique_name(tid)
    return f"{tid} {name}" if name else tid


def tactic_name(shortname: str) -> str:
    """``Lateral Movement`` for ``lateral-movement``."""
    known = TACTICS.get(shortname)
    return known[1] if known else shortname
