"""Access masks, protocols and message ids as an analyst reads them: ``0x1010`` is
``PROCESS_VM_READ | PROCESS_QUERY_LIMITED_INFORMATION``, ``6`` is ``tcp``, ``%%14593`` is
outbound. Pure functions over the text a log carries; what is not known stays as logged.
"""

from __future__ import annotations

from functools import lru_cache

# Process access rights (winnt.h), lowest bit first.
PROCESS_RIGHTS: tuple[tuple[int, str], ...] = (
    (0x0001, "PROCESS_TERMINATE"),
    (0x0002, "PROCESS_CREATE_THREAD"),
    (0x0004, "PROCESS_SET_SESSIONID"),
    (0x0008, "PROCESS_VM_OPERATION"),
    (0x0010, "PROCESS_VM_READ"),
    (0x0020, "PROCESS_VM_WRITE"),
    (0x0040, "PROCESS_DUP_HANDLE"),
    (0x0080, "PROCESS_CREATE_PROCESS"),
    (0x0100, "PROCESS_SET_QUOTA"),
    (0x0200, "PROCESS_SET_INFORMATION"),
    (0x0400, "PROCESS_QUERY_INFORMATION"),
    (0x0800, "PROCESS_SUSPEND_RESUME"),
    (0x1000, "PROCESS_QUERY_LIMITED_INFORMATION"),
    (0x2000, "PROCESS_SET_LIMITED_INFORMATION"),
    (0x10000, "DELETE"),
    (0x20000, "READ_CONTROL"),
    (0x40000, "WRITE_DAC"),
    (0x80000, "WRITE_OWNER"),
    (0x100000, "SYNCHRONIZE"),
)
PROCESS_ALL_ACCESS = 0x1FFFFF
# What reads or changes another process's memory: with lsass as the target, credentials.
MEMORY_RIGHTS = 0x0010 | 0x0020 | 0x0008 | 0x0002

# Security audit message ids an AccessList holds (4663), as Windows words them.
ACCESS_MESSAGES = {
    "%%1537": "DELETE", "%%1538": "READ_CONTROL", "%%1539": "WRITE_DAC",
    "%%1540": "WRITE_OWNER", "%%1541": "SYNCHRONIZE", "%%1542": "ACCESS_SYS_SEC",
    "%%4416": "ReadData", "%%4417": "WriteData", "%%4418": "AppendData",
    "%%4419": "ReadEA", "%%4420": "WriteEA", "%%4421": "Execute", "%%4422": "DeleteChild",
    "%%4423": "ReadAttributes", "%%4424": "WriteAttributes",
    "%%4432": "QueryValue", "%%4433": "SetValue", "%%4434": "CreateSubKey",
    "%%4435": "EnumerateSubKeys", "%%4436": "Notify", "%%4437": "CreateLink",
    "%%4480": "Terminate", "%%4481": "CreateThread", "%%4482": "SetSessionId",
    "%%4483": "VmOperation", "%%4484": "VmRead", "%%4485": "VmWrite", "%%4486": "DupHandle",
    "%%4487": "CreateProcess", "%%4488": "SetQuota", "%%4489": "SetInformation",
    "%%4490": "QueryInformation", "%%4491": "SetPort", "%%4492": "SuspendResume",
    "%%4493": "QueryLimitedInformation",
}
PROTOCOLS = {"1": "icmp", "6": "tcp", "17": "udp", "58": "icmpv6"}
DIRECTIONS = {"%%14592": "in", "%%14593": "out", "inbound": "in", "outbound": "out",
              "true": "out", "false": "in"}


def mask_of(text: str | None) -> int | None:
    """An access mask as logged (``0x1010``, ``4112``), or None."""
    if not text:
        return None
    text = text.strip()
    try:
        return int(text, 16) if text[:2].lower() == "0x" else int(text)
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def process_rights(text: str | None) -> str:
    """A process access mask named: ``0x1010 PROCESS_VM_READ |
    PROCESS_QUERY_LIMITED_INFORMATION``; ``PROCESS_ALL_ACCESS`` for all; bits without a name
    kept in hex; text that is no number kept as logged."""
    mask = mask_of(text)
    if mask is None:
        return (text or "").strip()
    if mask & PROCESS_ALL_ACCESS == PROCESS_ALL_ACCESS:
        names = ["PROCESS_ALL_ACCESS"]
        rest = mask & ~PROCESS_ALL_ACCESS
    else:
        names = [name for bit, name in PROCESS_RIGHTS if mask & bit]
        rest = mask & ~sum(bit for bit, _ in PROCESS_RIGHTS)
    if rest:
        names.append(hex(rest))
    return f"{hex(mask)} {' | '.join(names)}" if names else hex(mask)


def reads_memory(text: str | None) -> bool:
    """Whether a process access mask reads, writes or runs code in the target's memory."""
    mask = mask_of(text)
    return mask is not None and bool(mask & MEMORY_RIGHTS)


@lru_cache(maxsize=4096)
def access_list(mask: str | None, messages: str | None) -> str:
    """A 4663's access: its mask and the rights its AccessList names (``0x10 VmRead``)."""
    words = [ACCESS_MESSAGES.get(w, w) for w in (messages or "").split()]
    return " ".join(p for p in ((mask or "").strip(), " | ".join(words)) if p)


def protocol(text: str | None) -> str:
    """``tcp``/``udp`` for an IANA number (5156) or a name (Sysmon 3), lower case."""
    value = (text or "").strip().lower()
    return PROTOCOLS.get(value, value)


def direction(text: str | None) -> str:
    """``out`` or ``in``: Sysmon 3's Initiated, 5156's Direction (message id or word);
    ``""`` when unknown."""
    return DIRECTIONS.get((text or "").strip().lower(), "")


def port(text: str | None) -> int | None:
    """A port number, or None."""
    value = (text or "").strip()
    return int(value) if value.isdigit() and len(value) <= 5 else None
