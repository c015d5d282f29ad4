"""Debian's mosquitto on a loopback port, for the demo, the benchmark and the tests (apt install mosquitto)."""

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


def find_mosquitto() -> str | None:
    """The mosquitto binary on PATH or in Debian's /usr/sbin (not on a non-root PATH); None when not installed."""
    return shutil.which("mosquitto") or next((p for p in CANDIDATES if Path(p).exists()), None)


def mosquitto_binary() -> str:
    binary = find_mosquitto()
    if binary is None:
        raise FerEdgeError("mosquitto is not installed (apt install mosquitto), or pass --broker HOST:PORT")
    return binary


class LocalMosquitto:
    """A private broker with its config and log under `workdir`: start(), stop(), restart() on the same port.

    `extra_config` is appended to the config; when it has a `listener` line of its own, no anonymous
    loopback listener is added.
    """

    host = "127.0.0.1"

    def __init__(self, workdir: Path, port: int | None = None, extra_config: str = ""):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.extra_config = extra_config
        self.log = self.workdir / "mosquitto.log"
        self._process: subprocess.Popen | None = None
        self.name = "Mosquitto"

    def start(self, timeout: float = 10.0) -> "LocalMosquitto":
        config = self.workdir / "mosquitto.conf"
        listener = "" if "listener" in self.extra_config else f"listener {self.port} {self.host}\nallow_anonymous true\n"
        config.write_text(listener + "persistence false\nlog_dest stderr\nlog_type all\n" + self.extra_config)
        with open(self.log, "ab") as log:
            # its own session: a terminal's Ctrl-C goes to our process group, and the broker must outlive our flush
            binary = mosquitto_binary()
            self._process = subprocess.Popen(
                [binary, "-c", str(config)], stdout=log, stderr=log, start_new_session=True
            )
        self.name = f"Mosquitto ({binary})"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise FerEdgeError(f"mosquitto exited at start; see {self.log}")
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
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()
