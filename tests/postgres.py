"""A throwaway PostgreSQL server: Debian's postgresql binaries, a temporary data directory, a free loopback port.

PostgreSQL refuses to run as root, so under root the server runs as the `postgres` system user (or `nobody`)
through runuser, in a temporary directory that user owns. Also used by deploy/store_bench.py.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from mosquitto import free_port


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries here, or the server would not start; the text says which."""


def binaries() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl (or the ones on PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise PostgresUnavailable("no initdb: install Debian's postgresql (make system-deps)")
    return Path(initdb).resolve().parent


def server_user() -> str | None:
    """Who runs the server: None (ourselves) unless we are root."""
    if os.getuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise PostgresUnavailable("running as root and there is no postgres or nobody user to run the server")


class LocalPostgres:
    """initdb + pg_ctl start on 127.0.0.1:<free port>; `url` connects as the trusted user `fer`."""

    def __init__(self, durable: bool = False):
        self.durable = durable  # fsync and synchronous commits as in production; off for fast tests
        self.bin = binaries()
        self.user = server_user()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="fer-pg-"))
        self.data = self.root / "data"
        self.url = f"postgresql://fer@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        return subprocess.run(prefix + list(command), capture_output=True, text=True, timeout=120)

    def start(self) -> "LocalPostgres":
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        initdb = self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "fer", "-A", "trust",
                           "-E", "UTF8", "--locale=C", "--no-sync")
        if initdb.returncode != 0:
            self.remove()
            raise PostgresUnavailable(f"initdb failed: {initdb.stderr.strip()[-300:]}")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        started = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                            "-o", options, "-w", "-t", "60", "start")
        if started.returncode != 0:
            log = (self.root / "log").read_text()[-300:] if (self.root / "log").exists() else started.stderr
            self.remove()
            raise PostgresUnavailable(f"pg_ctl start failed: {log.strip()}")
        return self

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.remove()

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
