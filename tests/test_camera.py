import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.camera import Reopening, open_source
from edge.config import CameraConfig
from edge.errors import CameraError


def write_video(path, frames: int = 5):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for n in range(frames):
        writer.write(np.full((48, 64, 3), 40 * n % 240, np.uint8))
    writer.release()
    return path


def read_all(source, limit: int = 100) -> list:
    frames = []
    while (frame := source.read()) is not None and len(frames) < limit:
        frames.append(frame)
    return frames


def test_video_file_plays_to_its_end(tmp_path):
    source = open_source(CameraConfig(source=str(write_video(tmp_path / "v.avi"))))
    frames = read_all(source)
    assert len(frames) == 5 and frames[0].shape == (48, 64, 3) and not source.live


def test_the_frame_read_at_open_is_the_first_one_played(tmp_path):
    frames = read_all(open_source(CameraConfig(source=str(write_video(tmp_path / "v.avi")))))
    assert [int(round(frame.mean() / 40)) for frame in frames] == [0, 1, 2, 3, 4]


def test_a_file_opencv_opens_but_cannot_decode_is_an_error_at_open(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(CameraError, match=r"photo.jpg: OpenCV opens it but reads no frame from it: not a video file"):
        open_source(CameraConfig(source=str(tmp_path / "photo.jpg")))


def test_looping_file_starts_again(tmp_path):
    source = open_source(CameraConfig(source=str(write_video(tmp_path / "v.avi")), loop=True))
    assert len(read_all(source, limit=12)) == 12


def test_folder_skips_unreadable_images(tmp_path):
    for n in range(3):
        cv2.imwrite(str(tmp_path / f"{n}.png"), np.zeros((10, 10, 3), np.uint8))
    (tmp_path / "1b.jpg").write_bytes(b"not a jpeg")
    assert len(read_all(open_source(CameraConfig(kind="folder", source=str(tmp_path))))) == 3


@pytest.mark.parametrize("content", [None, b"garbage"])
def test_unreadable_video_is_a_clear_error(tmp_path, content):
    path = tmp_path / "broken.avi"
    if content:
        path.write_bytes(content)
    with pytest.raises(CameraError, match="broken.avi"):
        open_source(CameraConfig(source=str(path)))


class FlakyCamera:
    """A live camera stand-in: fails its first `failures` opens, then serves numbered frames."""

    live = True

    def __init__(self, failures: int):
        self.failures, self.opened, self.served = failures, 0, 0

    def open(self):
        self.opened += 1
        if self.opened <= self.failures:
            raise CameraError("camera unplugged")

    def read(self):
        self.served += 1
        return np.full((4, 4, 3), self.served, np.uint8)

    def close(self):
        pass


def read_settled(source: Reopening):
    """read() once any open in the background has finished."""
    assert source.wait_opened(5)
    return source.read()


def test_failed_camera_is_reopened_with_backoff():
    now = [0.0]
    camera = FlakyCamera(failures=2)
    source = Reopening(camera, CameraConfig(retry_seconds=1, retry_max_seconds=10), clock=lambda: now[0])
    source.open()
    assert read_settled(source) is None and camera.opened == 1
    now[0] = 1.0
    assert source.read() is None and read_settled(source) is None and camera.opened == 2
    now[0] = 2.5  # the second wait is 2 s
    assert read_settled(source) is None and camera.opened == 2
    now[0] = 3.0
    assert source.read() is None and read_settled(source) is not None and source.failures == 2


def test_a_video_file_at_its_own_pace_skips_the_frames_it_has_no_time_for(tmp_path):
    source = open_source(CameraConfig(source=str(write_video(tmp_path / "v.avi", frames=6))))
    now = [0.0]
    source.play_at_own_pace()
    source.source.play_at_own_pace(clock=lambda: now[0])
    assert source.fps == 10
    shown = []
    for t in (0.0, 0.05, 0.21, 0.45, 0.52):  # a reader that is sometimes late
        now[0] = t
        shown.append(round(source.read()[0, 0, 0] / 40))
    assert shown == [0, 1, 2, 4, 5] and source.read() is None  # frame n is due at n / 10 s


def test_agent_plays_a_clip_in_its_own_time_capped_by_camera_fps(tmp_path, tflite_model):
    import threading
    import time

    from edge.agent import assemble
    from edge.config import EdgeConfig

    clip = write_video(tmp_path / "v.avi", frames=10)  # 1 s at 10 fps
    for fps, most_frames in ((30, 10), (4, 5)):
        config = EdgeConfig.model_validate({
            "trigger": {"kind": "always"}, "camera": {"source": str(clip), "fps": fps},
            "classifier": {"model": str(tflite_model)}, "mqtt": {"port": 1, "host": "127.0.0.1"},
            "outbox": {"path": str(tmp_path / "outbox.sqlite3")}, "publish": {"flush_seconds": 0},
        })
        agent = assemble(config)
        started = time.monotonic()
        agent.run(threading.Event())
        assert time.monotonic() - started >= 0.9  # the clip's length, however fast the reader
        assert 0 < agent.counters.frames <= most_frames


def test_looping_folder_without_a_readable_image_backs_off_instead_of_spinning(tmp_path, caplog):
    cv2.imwrite(str(tmp_path / "0.png"), np.zeros((10, 10, 3), np.uint8))
    source = open_source(CameraConfig(kind="folder", source=str(tmp_path), loop=True, retry_seconds=0.2))
    assert source.read() is not None
    (tmp_path / "0.png").write_bytes(b"not a png any more")
    with caplog.at_level(logging.WARNING, logger="edge.camera"):
        frames = [source.read() for _ in range(20_000)]
    assert frames == [None] * 20_000 and not source.ended and source.failures == 1
    assert len(caplog.records) == 2  # the bad file once, then one line for the failure and its back-off
    assert "none of its 1 images is readable; reopening in 0.2 s" in caplog.records[-1].getMessage()


def test_folder_with_no_readable_image_is_an_error_at_start(tmp_path):
    (tmp_path / "0.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(CameraError, match="none of its 1 images is readable"):
        open_source(CameraConfig(kind="folder", source=str(tmp_path), loop=True))


def test_a_network_camera_that_never_answers_does_not_block_and_times_out(silent_camera, caplog):
    config = CameraConfig(source=silent_camera, open_timeout_seconds=0.5, retry_seconds=60)
    started = time.monotonic()
    source = open_source(config)
    assert source.read() is None and time.monotonic() - started < 0.2  # the open runs in the background
    with caplog.at_level(logging.WARNING, logger="edge.camera"):
        assert read_settled(source) is None
    assert time.monotonic() - started < 5 and source.failures == 1
    assert "no video stream within 0.5 s" in caplog.text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux device nodes")
def test_a_camera_index_without_its_device_says_so_at_open_and_in_check_config(capsys):
    from edge.camera import OpenCVSource
    from edge.cli import main

    absent = next(n for n in range(90, 200) if not Path(f"/dev/video{n}").exists())
    with pytest.raises(CameraError, match=rf"^{absent}: no video device /dev/video{absent} \(video devices here: "):
        OpenCVSource(CameraConfig(source=str(absent))).open()
    assert main(["check-config", "--camera-source", str(absent)]) == 0  # a camera may be plugged in later
    err = capsys.readouterr().err
    assert err.startswith(f"fer-edge: warning: camera {absent}: no video device /dev/video{absent} ")
    assert err.rstrip().endswith("run keeps trying to open it")
    assert main(["check-config", "--camera-source", "/dev/null"]) == 0  # a node that is there: not for check-config
    assert "camera" not in capsys.readouterr().err
