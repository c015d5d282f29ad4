"""A real Mosquitto broker on a free loopback port, for tests (Debian package `mosquitto`)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )


class Broker:
    """Starts, stops and restarts one mosquitto process on a fixed port; `extra_config` is appended."""

    def __init__(self, workdir: Path, port: int | None = None, extra_config: str = ""):
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.workdir = Path(workdir)
        self.config = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"
        self.extra_config = extra_config
        self._process: subprocess.Popen | None = None

    def write_config(self) -> None:
        default_listener = "" if "listener" in self.extra_config else f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
        self.config.write_text(
            default_listener + "persistence false\nlog_dest stderr\nlog_type all\n" + self.extra_config
        )

    def start(self, timeout: float = 10.0) -> "Broker":
        self.write_config()
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (Debian package `mosquitto`; `make setup` installs it)")
        self._process = subprocess.Popen(
            [binary, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=open(self.log, "ab")
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout}s")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
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
