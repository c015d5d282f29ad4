"""`fer-edge run` as its own process, in the states that used to hang it, starve the watchdog or end in a
traceback: SIGTERM must end it cleanly within 5 s in each."""

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from edge.demo import CLIP
from edge.publisher import wait_until
from mosquitto import free_port


def write_config(tmp_path: Path, model: Path, camera: str, outbox: Path | None = None, **extra: str) -> Path:
    config = tmp_path / "edge.toml"
    sections = {"trigger": 'kind = "always"', "camera": camera, "classifier": f'model = "{model}"',
                "mqtt": f"port = {free_port()}\nreconnect_max_seconds = 1",
                "outbox": f'path = "{outbox or tmp_path / "outbox.sqlite3"}"'} | extra
    config.write_text('device_id = "cam1"\n' + "".join(f"[{name}]\n{body}\n" for name, body in sections.items()))
    return config


class Daemon:
    """`fer-edge run --config CONFIG`, its stderr in daemon.log and its sd_notify messages collected."""

    def __init__(self, config: Path):
        self.log = config.with_name("daemon.log")
        self.notifications: list[tuple[float, bytes]] = []
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(config.with_name("notify")))
        threading.Thread(target=self._listen, daemon=True).start()
        env = {"NOTIFY_SOCKET": str(config.with_name("notify")), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path.cwd())}
        with open(self.log, "a") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(config)],
                                            stderr=log, env=env)

    def _listen(self) -> None:
        while True:
            try:
                self.notifications.append((time.monotonic(), self._socket.recv(256)))
            except OSError:
                return

    def pings(self) -> list[float]:
        return [at for at, message in self.notifications if message == b"WATCHDOG=1"]

    def wait_log(self, text: str, timeout: float) -> bool:
        return wait_until(lambda: text in self.log.read_text(), timeout)

    def terminate(self) -> float:
        """SIGTERM; the seconds it took to exit 0 (the test fails if it does not within 10 s)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            assert self.process.wait(10) == 0, self.log.read_text()
        finally:
            self.process.kill()
            self._socket.close()
        return time.monotonic() - started


def test_a_camera_that_never_answers_neither_starves_the_watchdog_nor_delays_sigterm(tmp_path, tflite_model,
                                                                                   silent_camera):
    camera = f'source = "{silent_camera}"\nopen_timeout_seconds = 30\nfps = 0.02'
    daemon = Daemon(write_config(tmp_path, tflite_model, camera))
    assert wait_until(lambda: len(daemon.pings()) >= 4, 30), daemon.log.read_text()
    pings = daemon.pings()
    assert max(b - a for a, b in zip(pings, pings[1:])) < 2.5  # fed every second, not every 50 s frame
    assert daemon.terminate() < 5


def test_a_full_disk_is_one_line_and_sigterm_ends_cleanly(tmp_path, tflite_model, small_disk):
    disk = small_disk("640k")
    camera = f'source = "{CLIP}"\nloop = true\nfps = 30'
    daemon = Daemon(write_config(tmp_path, tflite_model, camera, outbox=disk / "outbox.sqlite3",
                                 publish="include_face_image = true"))
    assert daemon.wait_log("disk full", 60), daemon.log.read_text()
    time.sleep(1)  # more results are refused meanwhile
    assert daemon.terminate() < 5
    log = daemon.log.read_text()
    assert log.count("disk full") == 1 and "Traceback" not in log and "rollback" not in log
    assert "the disk is still full;" in log and "results were not stored" in log


def test_a_looping_folder_with_no_readable_image_is_a_clear_error_at_start(tmp_path, tflite_model):
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.jpg").write_bytes(b"not a jpeg")
    config = write_config(tmp_path, tflite_model, f'kind = "folder"\nsource = "{images}"\nloop = true')
    done = subprocess.run([sys.executable, "-m", "edge.cli", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == f"fer-edge: error: {images}: none of its 1 images is readable"
