"""Debian's mosquitto on a free loopback port, for the demo and the benchmark (apt install mosquitto)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from edge.errors import FerEdgeError

CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalMosquitto:
    """start() a private broker writing its config and log under `workdir`; stop() ends it."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.port = free_port()
        self._process: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> "LocalMosquitto":
        binary = shutil.which("mosquitto") or next((p for p in CANDIDATES if Path(p).exists()), None)
        if binary is None:
            raise FerEdgeError("mosquitto is not installed (apt install mosquitto), or pass --broker HOST:PORT")
        config = self.workdir / "mosquitto.conf"
        config.write_text(f"listener {self.port} {self.host}\nallow_anonymous true\npersistence false\n")
        log = open(self.workdir / "mosquitto.log", "ab")
        self._process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise FerEdgeError(f"mosquitto exited at start; see {self.workdir / 'mosquitto.log'}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise FerEdgeError(f"mosquitto did not listen on port {self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(5)
        self._process = None
