"""A throwaway PostgreSQL server for the tests: initdb + pg_ctl in a temporary folder, on a free port of
127.0.0.1, with a database and a user with a password; restartable; removed afterwards.

Uses Debian's server binaries (``/usr/lib/postgresql/<major>/bin``, package ``postgresql``) or those on
PATH; as root they run as the ``postgres`` user (initdb refuses root). ``LUTSEARCH_TEST_POSTGRES`` names an
existing server instead (then nothing is started and ``restart`` is unavailable).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

USER, PASSWORD, DATABASE = "lutsearch", "pg-Secret-4242", "lutsearch_test"


def find_bindir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres, or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.insert(0, str(Path(on_path).parent))
    for folder in candidates:
        if all((Path(folder) / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One cluster in ``root``: ``start()``, ``stop()``, ``restart(down)``, ``url`` (with the password)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="lutsearch-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.url = f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)

    def _run(self, *cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
        full = [str(self.bindir / cmd[0]), *cmd[1:]]
        if self._as_postgres:
            full = ["runuser", "-u", "postgres", "--", *full]
        return subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=True, cwd=self.root)

    def init(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._as_postgres:
            shutil.chown(pwfile, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}", "-A", "scram-sha-256", "-E", "UTF8")
        pwfile.unlink()
        self.start()
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=self.port, user=USER, password=PASSWORD, dbname="postgres")
        con.autocommit = True
        con.cursor().execute(f"CREATE DATABASE {DATABASE}")
        con.close()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, down: float) -> None:
        """Stop the server (dropping every connection), stay down ``down`` seconds, start it again."""
        self.stop("fast")
        time.sleep(down)
        self.start()

    def remove(self) -> None:
        try:
            self.stop("immediate")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.root, ignore_errors=True)
