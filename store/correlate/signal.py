"""Which flags are signal and which are routine: how Windows starts its own processes.

A flag stays a fact of the lifetime (exports keep it), but some are expected and drown the
ones worth a look (issue 17). Routine flags carry their own names, so the process-flag
findings and tree marks of ``user_changed``/``start_missing``/``end_missing`` are left to
what is unexplained:

- ``before_log``: no start in the logs, and its first sign of life lies within
  :data:`~proctrail.store.correlate.lifetimes.EDGE_US` of the log's beginning: it was
  already running when the log (a slice, an export) begins;
- ``after_log``: no end, and still running when its log ends;
- ``user_changed_*``: it runs as another account than its creator, the way Windows does
  it: see :data:`EXPECTED` and :func:`expected_user_change`.
"""

from __future__ import annotations

import re

from proctrail.store.images import norm_image

# The routine flags, and why each is expected (the detail screen says it after "expected:").
EXPECTED = {
    "before_log": "already running when the log begins (no start recorded: the log is a "
                  "slice, its earlier records are not in the case)",
    "after_log": "still running when the log ends (no end recorded: the log stops here)",
    "user_changed_service": "a service started by the service control manager (or a "
                            "service host) under a service account",
    "user_changed_wmi": "the WMI provider host, started by svchost (DcomLaunch) under a "
                        "service account",
    "user_changed_logon": "the user's shell, started in the new logon by winlogon "
                          "(userinit) or userinit (explorer)",
    "user_changed_broker": "a Windows host process (COM surrogate, broker, task host) that "
                           "svchost starts in the user's session",
}
ROUTINE = frozenset(EXPECTED)
# What each routine flag stands for, where a reader asks for the raw fact.
RAW = {"before_log": "start_missing", "after_log": "end_missing",
       **{f: "user_changed" for f in EXPECTED if f.startswith("user_changed_")}}

_SYSTEM_DIR = re.compile(r"^(?:[a-z]:\\windows|\\systemroot|%systemroot%)"
                         r"\\(?:system32|syswow64)(?:\\wbem)?\\[^\\]+$")
_WINDOWS_DIR = re.compile(r"^[a-z]:\\windows\\[^\\]+$")
SERVICE_ACCOUNTS = frozenset(("nt authority\\system", "nt authority\\local service",
                              "nt authority\\network service", "system", "local service",
                              "network service"))
SERVICE_PARENTS = frozenset(("services.exe", "svchost.exe", "wininit.exe"))
# What runs the attacker's text: a service that is one of these is never routine.
INTERPRETERS = frozenset(("cmd.exe", "powershell.exe", "pwsh.exe", "rundll32.exe",
                          "regsvr32.exe", "mshta.exe", "wscript.exe", "cscript.exe",
                          "msiexec.exe", "certutil.exe", "bitsadmin.exe", "wmic.exe"))
# Started by svchost in the user's session as a matter of course (System32 copies only).
BROKERED = frozenset(("dllhost.exe", "runtimebroker.exe", "taskhostw.exe",
                      "backgroundtaskhost.exe", "smartscreen.exe", "backgroundtransferhost.exe",
                      "consent.exe"))


def _system(image: str) -> str:
    """The file name of an image in Windows' system folder, or ``""``."""
    path = norm_image(image)
    return path.rsplit("\\", 1)[-1] if _SYSTEM_DIR.match(path) else ""


def service_account(user: str) -> bool:
    """SYSTEM, LOCAL SERVICE, NETWORK SERVICE, a virtual service account, a machine
    account (``DOMAIN\\HOST$``)."""
    name = user.strip().lower()
    return name in SERVICE_ACCOUNTS or name.startswith("nt service\\") or (
        name.endswith("$") and len(name) > 1)


def expected_user_change(image: str, parent_image: str, user: str) -> str | None:
    """The routine flag for a process that runs as ``user``, not as its creator, started
    by ``parent_image``; None where nothing explains it (it stays ``user_changed``).

    Both images must be the system folder's own (a ``svchost.exe`` in a user's folder
    explains nothing, nor does a third-party service), and a service that is a shell or
    script host (:data:`INTERPRETERS`) is what an attacker's service looks like.
    """
    name, parent = _system(image), _system(parent_image)
    if parent == "winlogon.exe" and name == "userinit.exe" and not service_account(user):
        return "user_changed_logon"
    if parent == "userinit.exe" and _WINDOWS_DIR.match(norm_image(image)) \
            and norm_image(image).endswith("\\explorer.exe") and not service_account(user):
        return "user_changed_logon"
    if parent == "svchost.exe" and name == "wmiprvse.exe" and service_account(user):
        return "user_changed_wmi"
    if parent in SERVICE_PARENTS and service_account(user) and name \
            and name not in INTERPRETERS:
        return "user_changed_service"
    if parent == "svchost.exe" and name in BROKERED and user and not service_account(user):
        return "user_changed_broker"
    return None


def shown(flags: list[str] | tuple[str, ...] | set[str]) -> list[str]:
    """The flags worth a mark: the routine ones left out, order kept."""
    return [f for f in flags if f not in ROUTINE]
