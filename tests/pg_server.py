"""A throwaway PostgreSQL server from Debian's packages: initdb into a folder, pg_ctl start
on a Unix socket there, stop and remove. The tests' and the benchmark's real database.

As root (CI, the developers' machines) the server runs as the ``postgres`` user that
Debian's package creates, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

# Settings for a disposable server: fast (nothing here must survive a power cut), and
# enough connections for a test suite that leaves pooled engines behind.
BASE = "-c max_connections=400 -c shared_buffers=256MB -c listen_addresses=''"
FAST = f"-c fsync=off -c synchronous_commit=off -c full_page_writes=off {BASE}"


def pg_bindir() -> Path | None:
    """The server's binaries (initdb, pg_ctl), or None when PostgreSQL is not installed."""
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True):
        return Path(found).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class PgServer:
    """One PostgreSQL server in its own folder, reached on a socket in that folder."""

    def __init__(self, root: Path | None = None, port: int = 55432,
                 durable: bool = False, fast: bool = True) -> None:
        bindir = pg_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found "
                               "(apt-get install postgresql)")
        self.bindir = bindir
        self.root = Path(root or tempfile.mkdtemp(prefix="proctrail-pg-"))
        self.data = self.root / "data"
        self.port = port
        # A crash test needs what was acknowledged to survive an immediate stop; a
        # benchmark (fast=False) PostgreSQL's durable defaults.
        self.settings = FAST if fast else BASE
        if durable:
            self.settings = self.settings.replace("synchronous_commit=off",
                                                  "synchronous_commit=on")
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            pw = pwd.getpwnam(self.user)
            self.root.mkdir(parents=True, exist_ok=True)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.role = self.user or pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL for ``database`` on this server."""
        return (f"postgresql+psycopg://{self.role}@/{database}"
                f"?host={self.root}&port={self.port}")

    def init(self) -> PgServer:
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.role,
                      "-E", "UTF8", "--locale=C.UTF-8")
        return self

    def start(self) -> PgServer:
        """initdb when needed, then start; returns when the server takes connections."""
        self.init()
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.root / "server.log"),
                  "-o", f"{self.settings} -k {self.root} -p {self.port}", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", mode, "stop", check=False)

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
