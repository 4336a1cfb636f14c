"""The suite's own PostgreSQL: a throwaway cluster made with initdb in a temporary directory and
run with pg_ctl on a free port of 127.0.0.1, so stopping it (R5) disturbs no other database on
the machine. initdb refuses to run as root: then the cluster's directory belongs to `postgres`
and the commands run through `runuser -u postgres --`."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.processes import free_port

START_TIMEOUT = 60
COMMAND_TIMEOUT = 90


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError("no initdb: install PostgreSQL's server package (Debian: postgresql)")


def available() -> bool:
    try:
        _bin_dir()
    except RuntimeError:
        return False
    return True


class Cluster:
    """`start()` creates and starts it; `stop(mode)` is pg_ctl's fast or immediate shutdown;
    `start()` again brings the same data back; `destroy()` stops it and removes everything."""

    def __init__(self, database: str = "aula"):
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="aula-chaos-pg-"))
        self.root.chmod(0o755)
        self.dir = self.root / "pg"  # owned by the user that runs the server
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        self.database = database
        self._runas: list[str] = []
        self._created = False
        if os.geteuid() == 0:
            self._runas = ["runuser", "-u", "postgres", "--"]
        self.dir.mkdir()
        if self._runas:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._runas, *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                              check=False, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                               f"\n{self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def start(self) -> None:
        if not self._created:
            # fsync off: a throwaway cluster; an immediate stop still exercises crash recovery,
            # since the WAL is written to the OS before a commit returns.
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                      "-E", "UTF8", "--no-sync")
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   f"-c max_connections=200 -c shared_buffers=64MB")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log),
                  "-w", "-t", str(START_TIMEOUT), "start")
        if not self._created:
            self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                      self.database)
            self._created = True

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", str(START_TIMEOUT), "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        try:
            if self.running():
                try:
                    self.stop("immediate")
                except (RuntimeError, subprocess.TimeoutExpired):
                    self._kill_postmaster()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, 9)
            time.sleep(0.5)
        except (OSError, ValueError, IndexError):
            pass
