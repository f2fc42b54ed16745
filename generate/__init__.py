"""Log generators: scenario logs with known truth, written as EVTX, XML, JSON lines and auditd."""
