"""Frame sources: picamera2 on a Pi, OpenCV (a /dev/video index, a video file, an RTSP/HTTP URL), a folder.

Each has `live`, `open()`, `read() -> BGR frame | None` (None: a file or folder has ended) and `close()`;
a failure raises CameraError. `Reopening` keeps a source going: it reopens it with backoff, in a thread of
its own, and so never blocks the loop; a network camera's open and read are bounded by timeouts.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from edge.config import CameraConfig
from edge.errors import CameraError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp"}


class OpenCVSource:
    """cv2.VideoCapture of a device index, a video file or a stream URL; files may loop."""

    def __init__(self, config: CameraConfig):
        self.config = config
        self.target: int | str = int(config.source) if config.source.isdigit() else config.source
        # a device (index or /dev path) or a stream may come back after failing; a video file will not
        self.live = isinstance(self.target, int) or "://" in self.target or self.target.startswith("/dev/")
        self.fps: float | None = None  # a video file's own frame rate, once open
        self._capture: cv2.VideoCapture | None = None
        self._first: np.ndarray | None = None  # a file's first frame, read at open to know it can be decoded
        self._clock = None
        self._started: float | None = None
        self._position = 0

    def device_problem(self) -> str | None:
        """Why a Linux video device cannot be opened, where the device node tells: absent, or not ours to read."""
        if not sys.platform.startswith("linux") or self.is_stream or not self.live:
            return None
        node = Path(f"/dev/video{self.target}" if isinstance(self.target, int) else self.target)
        if not node.exists():
            present = sorted(str(p) for p in Path("/dev").glob("video*")) or ["none"]
            return (f"no video device {node} (video devices here: {', '.join(present)}); plug the camera in or set "
                    "camera.source")
        if not os.access(node, os.R_OK | os.W_OK):
            return f"{node} is not open to this user: add it to the group owning {node} (usually 'video')"
        return None

    @property
    def is_stream(self) -> bool:
        return isinstance(self.target, str) and "://" in self.target

    def open(self) -> None:
        if not self.live and not Path(self.target).is_file():
            what = "a folder, not a video file" if Path(self.target).is_dir() else "no such video file"
            raise CameraError(f"{self.target}: {what}")
        if self.is_stream:  # a server that accepts and never answers would hold FFmpeg for 30 s
            timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.config.open_timeout_seconds * 1000),
                        cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.config.read_timeout_seconds * 1000)]
            capture = cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, timeouts)
        else:
            capture = cv2.VideoCapture(self.target)
        if not capture.isOpened():
            capture.release()
            if self.is_stream:
                raise CameraError(f"{self.target}: no video stream within {self.config.open_timeout_seconds:g} s "
                                  "(camera.open_timeout_seconds)")
            problem = self.device_problem() or "OpenCV cannot open it as a camera, video file or stream"
            raise CameraError(f"{self.target}: {problem}")
        if self.live:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.config.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.config.height)
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        else:
            rate = capture.get(cv2.CAP_PROP_FPS)
            self.fps = rate if 0 < rate <= 1000 else None
            ok, self._first = capture.read()  # OpenCV "opens" an image or a file cut after its header too
            if not ok:
                capture.release()
                raise CameraError(f"{self.target}: OpenCV opens it but reads no frame from it: not a video file it "
                                  "can decode")
        self._capture = capture
        self._started, self._position = None, 0

    @property
    def position(self) -> int:
        """How many frames of a file were read or skipped so far: the index of the next one."""
        return self._position

    def play_at_own_pace(self, clock=time.monotonic) -> None:
        """Read a video file in real time: the frames the reader has no time for are skipped, as a camera would."""
        self._clock = clock

    def read(self) -> np.ndarray | None:
        if self._capture is None:
            raise CameraError(f"{self.target}: not open")
        if self._clock is not None and self.fps:
            self._skip_to_now()
        if self._first is not None:
            ok, frame, self._first = True, self._first, None
        else:
            ok, frame = self._capture.read()
        if ok:
            self._position += 1
            return frame
        if self.live:
            raise CameraError(f"{self.target}: no frame")
        if self.config.loop and self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0):
            self._started, self._position = None, 0
            ok, frame = self._capture.read()
            if ok:
                self._position = 1
                return frame
        return None

    def _skip_to_now(self) -> None:
        now = self._clock()
        if self._started is None:
            self._started = now - self._position / self.fps
        due = int((now - self._started) * self.fps)
        while self._position < due:
            if self._first is not None:  # the frame read at open is the first one skipped
                self._first = None
            elif not self._capture.grab():
                break
            self._position += 1

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class FolderSource:
    """The images of a folder in name order, read one per frame; unreadable files are skipped, each said once.

    A looping folder in which no image can be read raises CameraError after one pass instead of spinning.
    """

    live = False

    def __init__(self, config: CameraConfig):
        self.config = config
        self.folder = Path(config.source)
        self._files: list[Path] = []
        self._next = 0
        self._unreadable: set[Path] = set()

    def open(self) -> None:
        try:
            self._files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        except OSError:
            raise CameraError(f"{self.folder}: not a folder of images") from None
        if not self._files:
            raise CameraError(f"{self.folder}: holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        if not any(cv2.imread(str(path), cv2.IMREAD_COLOR) is not None for path in self._files):
            raise CameraError(self._none_readable())
        self._next = 0

    def _none_readable(self) -> str:
        return f"{self.folder}: none of its {len(self._files)} images is readable"

    def read(self) -> np.ndarray | None:
        for _ in range(len(self._files)):
            if self._next >= len(self._files):
                if not self.config.loop:
                    return None
                self._next = 0
            path = self._files[self._next]
            self._next += 1
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is not None:
                return frame
            if path not in self._unreadable:
                self._unreadable.add(path)
                logger.warning("%s: not a readable image; skipped", path)
        if self._next >= len(self._files) and not self.config.loop:
            return None
        raise CameraError(self._none_readable())

    def close(self) -> None:
        self._files = []


class Picamera2Source:
    """The Raspberry Pi camera through picamera2 (Raspberry Pi OS package python3-picamera2)."""

    live = True

    def __init__(self, config: CameraConfig):
        self.config = config
        self._camera = None

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError:
            raise CameraError("picamera2 is not installed (apt install python3-picamera2 on Raspberry Pi OS)") from None
        try:
            camera = Picamera2()
            # libcamera's "RGB888" is stored B, G, R: the order OpenCV expects.
            size = (self.config.width, self.config.height)
            camera.configure(camera.create_video_configuration(main={"size": size, "format": "RGB888"}))
            camera.start()
        except Exception as exc:  # picamera2 raises bare RuntimeError/IndexError when no camera is attached
            raise CameraError(f"picamera2: cannot start the camera ({exc})") from None
        self._camera = camera

    def read(self) -> np.ndarray | None:
        if self._camera is None:
            raise CameraError("picamera2: not open")
        try:
            return self._camera.capture_array("main")
        except Exception as exc:
            raise CameraError(f"picamera2: capture failed ({exc})") from None

    def close(self) -> None:
        if self._camera is not None:
            self._camera.close()
            self._camera = None


SOURCES = {"opencv": OpenCVSource, "folder": FolderSource, "picamera2": Picamera2Source}


class Reopening:
    """A source that reopens itself after a failure, waiting retry_seconds, doubling up to retry_max_seconds.

    Opens run in a thread of their own, so the loop never waits for one: `read()` returns None meanwhile.
    The first open of a file or folder is the exception: it is done at once and raises, since a wrong path
    should stop the agent at start. `ended` is true once a file or folder has no more frames.
    """

    def __init__(self, source, config: CameraConfig, clock=time.monotonic):
        self.source = source
        self.live = source.live
        self.failures = 0
        self.ended = False
        self._config = config
        self._clock = clock
        self._delay = config.retry_seconds
        self._retry_at: float | None = None
        self._opener: threading.Thread | None = None
        self._open_error: CameraError | None = None
        self._closed = False

    def open(self) -> None:
        if self.live:
            self._open_in_background()
        else:
            self.source.open()

    def wait_opened(self, timeout: float) -> bool:
        """True once no open is running (for callers that want the source ready, such as tests)."""
        opener = self._opener
        if opener is not None:
            opener.join(timeout)
        return opener is None or not opener.is_alive()

    def read(self) -> np.ndarray | None:
        """A frame; None while the source is away or opening (or when a file has ended: see `ended`)."""
        if not self._opened():
            return None
        try:
            frame = self.source.read()
        except CameraError as exc:
            self._fail(exc)
            return None
        if frame is None:
            self.ended = not self.live
        elif self._delay != self._config.retry_seconds:
            logger.info("camera is back")
            self._delay = self._config.retry_seconds
        return frame

    @property
    def fps(self) -> float | None:
        """A video file's own frame rate; None for a camera, a stream or a folder."""
        return getattr(self.source, "fps", None)

    def play_at_own_pace(self) -> None:
        if hasattr(self.source, "play_at_own_pace"):
            self.source.play_at_own_pace()

    def close(self) -> None:
        self._closed = True
        self.source.close()

    def _opened(self) -> bool:
        if self._opener is not None:
            if self._opener.is_alive():
                return False
            self._opener = None
            if self._open_error is not None:
                self._fail(self._open_error)
                return False
        if self._retry_at is not None:
            if self._clock() < self._retry_at:
                return False
            self._retry_at = None
            self._open_in_background()
            return False
        return True

    def _open_in_background(self) -> None:
        self._open_error = None
        self._opener = threading.Thread(target=self._open_source, name="camera-open", daemon=True)
        self._opener.start()

    def _open_source(self) -> None:
        try:
            self.source.open()
        except CameraError as exc:
            self._open_error = exc
        except Exception as exc:  # a camera library failing in its own way must not end the thread silently
            self._open_error = CameraError(f"{self._config.source}: cannot open ({type(exc).__name__}: {exc})")
        if self._closed:
            self.source.close()

    def _fail(self, exc: CameraError) -> None:
        self.failures += 1
        self.source.close()
        logger.warning("%s; reopening in %.3g s", exc, self._delay)
        self._retry_at = self._clock() + self._delay
        self._delay = min(self._delay * 2, self._config.retry_max_seconds)


def device_warning(config: CameraConfig) -> str | None:
    """What check-config says of an OpenCV camera device that run could not open now (it would keep trying)."""
    if config.kind != "opencv":
        return None
    problem = OpenCVSource(config).device_problem()
    return f"camera {config.source}: {problem}; run keeps trying to open it" if problem else None


def open_source(config: CameraConfig) -> Reopening:
    """The configured frame source, opened; CameraError if a file or folder cannot be read."""
    source = Reopening(SOURCES[config.kind](config), config)
    source.open()
    return source
