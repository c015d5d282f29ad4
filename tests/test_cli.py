import json
import os
import signal
import subprocess
import sys

import cv2
import pytest

from edge.cli import main
from edge.demo import CLIP, LABELS, labels_path
from edge.demo import mosquitto
from edge.metadata import file_sha256, read_metadata, write_metadata
from stderr_lines import without_camera_warning

SHORT_START, SHORT_END = 40, 70


@pytest.fixture
def short_clip(tmp_path):
    """Three seconds of the demo clip: an empty second, then three faces; without labels."""
    capture = cv2.VideoCapture(str(CLIP))
    writer = cv2.VideoWriter(str(tmp_path / "short.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for index in range(SHORT_END):
        ok, frame = capture.read()
        if index >= SHORT_START:
            writer.write(frame)
    writer.release()
    return tmp_path / "short.avi"


@pytest.fixture
def labelled_short_clip(short_clip):
    """short_clip with its frames' true labels beside it, cut from the bundled clip's."""
    document = json.loads(LABELS.read_text())
    document["frames"] = document["frames"][SHORT_START:SHORT_END]
    labels_path(short_clip).write_text(json.dumps(document))
    return short_clip


@pytest.fixture
def no_mosquitto(monkeypatch, tmp_path):
    """A machine without Mosquitto: not on PATH, not in /usr/sbin."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setattr(mosquitto, "CANDIDATES", ())
    assert mosquitto.find_mosquitto() is None


def test_missing_model_is_one_clear_line(tmp_path, capsys):
    assert main(["run", "--classifier-model", str(tmp_path / "none.tflite")]) == 1
    expected = f"fer-edge: error: {tmp_path / 'none.tflite'}: model file not found (field 'classifier.model')\n"
    assert capsys.readouterr().err == expected


def test_check_config_opens_the_configured_model(tmp_path, capsys):
    model = tmp_path / "m.tflite"
    assert main(["check-config", "--classifier-model", str(model)]) == 1
    assert capsys.readouterr().err == f"fer-edge: error: {model}: model file not found (field 'classifier.model')\n"
    model.write_bytes(b"not a model")
    assert main(["check-config", "--classifier-model", str(model)]) == 1
    assert capsys.readouterr().err.startswith(f"fer-edge: error: {tmp_path / 'm.json'}: no model metadata beside")
    assert main(["check-config", "--model-store-trusted-keys", str(tmp_path / "gone.pub")]) == 1
    assert (f"fer-edge: error: field 'model_store.trusted_keys': {tmp_path / 'gone.pub'}: cannot read key "
            "(No such file or directory)") in capsys.readouterr().err


def test_check_config_loads_the_model_as_run_would(tmp_path, tflite_model, capsys):
    model = tmp_path / "m.tflite"
    model.write_bytes(tflite_model.read_bytes())
    sidecar = json.loads(tflite_model.with_suffix(".json").read_text())
    (tmp_path / "m.json").write_text(json.dumps(sidecar | {"labels": sidecar["labels"][:6]}))
    assert main(["check-config", "--classifier-model", str(model)]) == 1
    assert capsys.readouterr().err == f"fer-edge: error: {model}: model has 7 outputs but metadata lists 6 labels\n"
    (tmp_path / "m.json").write_text(json.dumps(sidecar))
    assert main(["check-config", "--classifier-model", str(model)]) == 0


def test_check_config_opens_a_video_file_or_folder_source_and_refuses_a_folder_for_the_outbox(tmp_path, capsys):
    gone = tmp_path / "gone.avi"
    assert main(["check-config", "--camera-source", str(gone)]) == 1
    assert capsys.readouterr().err == f"fer-edge: error: {gone}: no such video file\n"
    assert main(["check-config", "--camera-kind", "folder", "--camera-source", str(tmp_path)]) == 1
    assert "holds no images" in capsys.readouterr().err
    assert main(["check-config", "--outbox-path", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith(f"fer-edge: error: --outbox-path: field 'outbox.path': Value error, "
                                              f"{tmp_path} is a folder; name the SQLite file the outbox keeps")


def test_check_config_warns_of_an_installed_model_that_will_not_start(tmp_path, tflite_model, capsys):
    store = tmp_path / "store"
    store.mkdir()
    (store / "current").symlink_to("gone")
    assert main(["check-config", "--model-store-path", str(store)]) == 0
    out, err = capsys.readouterr()
    assert without_camera_warning(err) == (f"fer-edge: warning: {store / 'gone'}: no manifest.json in the bundle; no previous model to go back "
                   "to: run fails until a bundle that starts is installed (fer-edge model install)\n")
    assert f"no model that starts installed in {store}" in out
    bundle = tmp_path / "m.bundle"
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    (store / "current").unlink()
    main(["model", "install", str(bundle), "--model-store-path", str(store), "--no-restart"])
    (store / "current").rename(store / "previous")  # the good one is previous, a broken one current
    (store / "current").symlink_to("gone")
    capsys.readouterr()
    assert main(["check-config", "--model-store-path", str(store)]) == 0
    out, err = capsys.readouterr()
    assert err.startswith("fer-edge: warning: the current model fails (") and "goes back to the previous one" in err
    assert f"model tiny_int8 installed in {store}" in out
    assert os.readlink(store / "current") == "gone" and not (store / "rollback.json").exists()  # nothing rolled back


def test_a_model_whose_input_is_not_the_recorded_shape_is_refused_at_start(tmp_path, tflite_model, capsys):
    import keras
    import tensorflow as tf

    network = keras.Sequential([keras.Input((64, 64, 1)), keras.layers.Flatten(), keras.layers.Dense(7)])
    model = tmp_path / "wide.tflite"
    model.write_bytes(tf.lite.TFLiteConverter.from_keras_model(network).convert())
    write_metadata(model, read_metadata(tflite_model).model_copy(update={"sha256": file_sha256(model)}))
    flags = ["--classifier-model", str(model), "--camera-source", str(CLIP), "--trigger-kind", "always"]
    assert main(["run", *flags, "--outbox-path", str(tmp_path / "o.db")]) == 1
    expected = f"{model}: model takes input [64, 64, 1] but metadata records input_shape [48, 48, 1], the faces fer-edge feeds"
    assert capsys.readouterr().err == f"fer-edge: error: {expected}\n"


def test_unreadable_video_is_one_clear_line(tmp_path, tflite_model, capsys):
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    flags = ["--classifier-model", str(tflite_model), "--camera-source", str(tmp_path / "broken.mp4")]
    assert main(["run", *flags, "--outbox-path", str(tmp_path / "o.db")]) == 1
    assert f"fer-edge: error: {tmp_path / 'broken.mp4'}: OpenCV cannot open it" in capsys.readouterr().err


def test_a_folder_given_as_the_video_is_named_so(tmp_path, tflite_model, capsys):
    flags = ["--classifier-model", str(tflite_model), "--camera-source", str(tmp_path)]
    assert main(["run", *flags, "--outbox-path", str(tmp_path / "o.db")]) == 1
    assert f"fer-edge: error: {tmp_path}: a folder, not a video file" in capsys.readouterr().err


def test_demo_prints_what_the_subscriber_receives(short_clip, tflite_model, capsys):
    assert main(["demo", "--model", str(tflite_model), "--clip", str(short_clip)]) == 0
    out = capsys.readouterr().out
    assert "fer/demo/emotion" in out and "fer/demo/event" in out and "received" in out
    assert "homeassistant/device/fer_demo/config" in out


def test_demo_without_mosquitto_runs_amqtt_and_judges_each_face(no_mosquitto, labelled_short_clip, capsys):
    assert main(["demo", "--clip", str(labelled_short_clip)]) == 0  # the shipped model
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("broker: amqtt 0.12.1 (embedded, pure Python) on 127.0.0.1:")
    emotions = [line for line in lines if line.startswith("fer/demo/emotion")]
    assert emotions and all(" true: " in line for line in emotions)
    judged = sum(line.endswith(" right") or line.endswith(" WRONG") for line in emotions)
    right = sum(line.endswith(" right") for line in emotions)
    assert judged == len(emotions)  # each detection found its labelled face by time and place
    assert lines[-1] == f"demo accuracy: {right} of {judged} faces right ({right / judged:.0%})"


@pytest.mark.parametrize("face, field", [
    ({"label": "happy", "box": [1, 2, 3]}, "field 'frames.1.0.box': List should have at least 4 items"),
    ({"label": "glad", "box": [1, 2, 3, 4]}, "field 'frames.1.0.label': Input should be 'angry'"),
    ({"label": "happy", "box": [1, 2, 0, 4]}, "field 'frames.1.0.box': a box [x, y, w, h] needs a width"),
    ("deep", "JSON nested too deeply"),
])
def test_a_damaged_labels_file_is_named_before_the_demo_starts(short_clip, capsys, face, field):
    document = '{"frames": [[], [' + "[" * 100_000 + "]" * 100_000 + "]]}" if face == "deep" else None
    labels_path(short_clip).write_text(document or json.dumps({"frames": [[], [face]]}))
    assert main(["demo", "--clip", str(short_clip)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"fer-edge: error: {labels_path(short_clip)}: not a demo labels file ({field}")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("broker", ["localhost:99999", "localhost:0", "localhost", ":1883"])
def test_a_broker_address_without_a_usable_port_is_one_line(short_clip, capsys, broker):
    assert main(["demo", "--clip", str(short_clip), "--broker", broker]) == 1
    assert capsys.readouterr().err == (f"fer-edge: error: --broker {broker!r}: expected HOST:PORT, the port a number "
                                       "from 1 to 65535\n")


def test_an_ipv6_broker_address_loses_its_brackets():
    from edge.demo.run import parse_broker

    assert parse_broker("[::1]:1883") == ("::1", 1883)


def test_demo_without_any_broker_names_what_to_install(no_mosquitto, monkeypatch, short_clip, capsys):
    monkeypatch.setattr("edge.demo.run.amqtt_available", lambda: False)
    assert main(["demo", "--clip", str(short_clip)]) == 1
    err = capsys.readouterr().err
    assert "apt install mosquitto" in err and "pip install 'fer-edge[demo]'" in err and "--broker" in err


@pytest.mark.parametrize("broker", ["mosquitto", "amqtt"])
def test_ctrl_c_in_a_terminal_stops_the_demo_cleanly_and_quietly(broker):
    if broker == "mosquitto" and mosquitto.find_mosquitto() is None:
        pytest.skip("mosquitto is not installed")
    # a terminal sends SIGINT to its whole foreground process group: the demo and anything it started there
    command = [sys.executable, "-m", "edge.cli", "demo", "--local-broker", broker]
    demo = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    for line in demo.stdout:
        if line.startswith("fer/demo/emotion"):
            break
    os.killpg(demo.pid, signal.SIGINT)
    out, err = demo.communicate(timeout=20)
    assert demo.returncode == 0, err
    assert out.splitlines()[-1].startswith("demo accuracy: ")
    assert "fer/demo/status" in out.split("offline")[0]  # the agent said goodbye through the live broker
    for noise in ("Traceback", "Broken pipe", "until the next start", "not delivered", "WARNING", "ERROR"):
        assert noise not in err, err


def test_bench_prints_its_table(short_clip, tflite_model):
    command = [sys.executable, "-m", "edge.bench", str(short_clip), "--model", str(tflite_model), "--flip-average", "on",
               "--detector", "both", "--repeats", "1", "--every-n-frames", "2", "--whole-search-baseline"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "flip-averaged" in lines[0] and lines[2].split() == ["haar", "whole", "haar", "yunet"]
    detect = next(line for line in lines if line.startswith("detect"))
    assert len(detect.split("/")) == 5  # 'median / p95', then a median / p95 for each column
    assert "haar/haar whole frames per CPU-second" in result.stdout and "yunet/haar whole" in result.stdout
    assert "capture-to-delivery" in result.stdout
    assert "Raspberry Pi 4, frames/s" in result.stdout and "Raspberry Pi 5, frames/s" in result.stdout
    for kind in ("haar", "yunet"):
        assert f"{kind}, faces detected every 2 frame(s), the whole frame searched in every 5th detection (Haar), " \
               "against the whole of every frame searched: emotion differs for" in result.stdout


@pytest.mark.parametrize("flag, value, complaint", [
    ("--repeats", "0", "--repeats: must be 1 or more (got 0)"),
    ("--every-n-frames", "0", "--every-n-frames: field 'detector.every_n_frames': Input should be greater than or equal to 1"),
    ("--full-search-every", "0", "--full-search-every: field 'detector.full_search_every': Input should be greater"),
    ("--commit-seconds", "-1", "--commit-seconds: field 'outbox.commit_seconds': Input should be greater"),
])
def test_bench_names_a_bad_flag_before_it_starts(tmp_path, capsys, flag, value, complaint):
    (tmp_path / "clip.avi").write_bytes(b"never opened")
    assert main(["bench", str(tmp_path / "clip.avi"), flag, value]) == 1
    assert capsys.readouterr().err.startswith(f"fer-edge: error: {complaint}")


def test_bench_clip_has_a_face_in_every_frame(tmp_path):
    from edge.benchclip import main as make_clip
    from edge.config import DetectorConfig
    from edge.detector import open_detector

    clip = tmp_path / "bench.avi"
    assert make_clip([str(clip), "--seconds-each", "0.4", "--fps", "5"]) == 0
    capture, detector, frames = cv2.VideoCapture(str(clip)), open_detector(DetectorConfig(kind="yunet")), 0
    while (frame := capture.read()[1]) is not None:
        frames += 1
        assert len(detector.find(frame)) == 1
    assert frames == 6


def test_the_bundled_labels_are_what_the_clip_maker_writes(tmp_path):
    from edge.demo.make_demo_clip import main as make_clip

    assert make_clip(["--labels-only", "--out", str(tmp_path / CLIP.name)]) == 0
    assert labels_path(tmp_path / CLIP.name).read_text() == LABELS.read_text()
