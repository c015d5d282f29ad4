import subprocess
import sys

import cv2
import pytest

from edge.cli import main
from edge.demo import CLIP


@pytest.fixture
def short_clip(tmp_path):
    """Two seconds of the demo clip: an empty second, then three faces."""
    capture = cv2.VideoCapture(str(CLIP))
    writer = cv2.VideoWriter(str(tmp_path / "short.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for index in range(70):
        ok, frame = capture.read()
        if index >= 40:
            writer.write(frame)
    writer.release()
    return tmp_path / "short.avi"


def test_missing_model_is_one_clear_line(tmp_path, capsys):
    assert main(["run", "--classifier-model", str(tmp_path / "none.tflite")]) == 1
    expected = f"fer-edge: error: {tmp_path / 'none.tflite'}: model file not found (field 'classifier.model')\n"
    assert capsys.readouterr().err == expected


def test_unreadable_video_is_one_clear_line(tmp_path, tflite_model, capsys):
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    flags = ["--classifier-model", str(tflite_model), "--camera-source", str(tmp_path / "broken.mp4")]
    assert main(["run", *flags, "--outbox-path", str(tmp_path / "o.db")]) == 1
    assert f"fer-edge: error: {tmp_path / 'broken.mp4'}: OpenCV cannot open it" in capsys.readouterr().err


def test_demo_prints_what_the_subscriber_receives(short_clip, tflite_model, capsys):
    assert main(["demo", "--model", str(tflite_model), "--clip", str(short_clip)]) == 0
    out = capsys.readouterr().out
    assert "fer/demo/emotion" in out and "fer/demo/event" in out and "received" in out
    assert "homeassistant/sensor/fer_demo/emotion/config" in out


def test_bench_prints_its_table(short_clip, tflite_model):
    command = [sys.executable, "-m", "edge.bench", str(short_clip), "--model", str(tflite_model), "--flip-average", "on"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "detect" in result.stdout and "frames per second" in result.stdout and "latency" in result.stdout
    assert "flip-averaged" in result.stdout.splitlines()[0]
