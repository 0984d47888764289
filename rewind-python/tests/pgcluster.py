"""A throwaway PostgreSQL cluster for the tests of the PostgreSQL store, as
the Rust tests' harness makes one: found (or installed with
`scripts/install-postgres.sh`), created with `initdb` in a temporary
directory, started with `pg_ctl` on a free loopback port with its socket in
that directory (as `nobody` when running as root), and removed at the end.
A cluster that cannot be started fails the tests that need it."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[2]


def _bin_dir() -> Optional[Path]:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    dirs = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda d: int(Path(d).parent.name) if Path(d).parent.name.isdigit() else 0,
    )
    for d in reversed(dirs):
        if (Path(d) / "initdb").is_file() and (Path(d) / "pg_ctl").is_file():
            return Path(d)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Cluster:
    """A running cluster; `stop()` removes it."""

    def __init__(self) -> None:
        bin_dir = _bin_dir()
        if bin_dir is None:
            script = ROOT / "scripts" / "install-postgres.sh"
            subprocess.run(["bash", str(script)], check=True, stdin=subprocess.DEVNULL)
            bin_dir = _bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL's initdb and pg_ctl are not found")
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="rewind-pg-py-"))
        self.port = _free_port()
        self._as: Dict[str, Any] = {}
        if os.geteuid() == 0:
            group = "nogroup" if _has_group("nogroup") else "nobody"
            shutil.chown(self.dir, "nobody", group)
            self._as = {"user": "nobody", "group": group, "extra_groups": []}
        data = str(self.dir / "data")
        self._run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-locale", "--no-sync")
        opts = "-p {0} -k {1} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400".format(
            self.port, self.dir
        )
        self._run("pg_ctl", "-D", data, "-l", str(self.dir / "log"), "-w", "-o", opts, "start")
        self._databases = 0

    def _run(self, program: str, *args: str) -> None:
        cmd: List[str] = [str(self.bin / program), *args]
        done = subprocess.run(
            cmd, cwd=str(self.dir), stdin=subprocess.DEVNULL, capture_output=True,
            env=dict(os.environ, LC_ALL="C"), **self._as,
        )
        if done.returncode != 0:
            log = ""
            if (self.dir / "log").exists():
                log = (self.dir / "log").read_text(errors="replace")[-3000:]
            raise RuntimeError(
                "{0} failed ({1}): {2}{3}\n{4}".format(
                    program, done.returncode, done.stdout.decode(errors="replace"),
                    done.stderr.decode(errors="replace"), log,
                )
            )

    def dsn(self, db: str) -> str:
        return "host={0} port={1} user=postgres dbname={2}".format(self.dir, self.port, db)

    def new_database(self) -> str:
        self._databases += 1
        name = "rewind_py_{0}".format(self._databases)
        psql = self.bin / "psql"
        if not psql.is_file():
            psql = Path(shutil.which("psql") or "psql")
        subprocess.run(
            [str(psql), "-X", "-q", "-d", self.dsn("postgres"), "-c",
             "CREATE DATABASE {0}".format(name)],
            check=True, stdin=subprocess.DEVNULL, capture_output=True,
        )
        return name

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _has_group(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False
