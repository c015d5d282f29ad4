import cv2
import numpy as np
import pytest
from faces import EMPTY, THREE_FACES, TWO_FACES, clip_frame, demo_face, frame_with

from edge.config import DetectorConfig
from edge.detector import HaarFaceDetector, YuNetFaceDetector, open_detector, working_scale
from edge.errors import ConfigError

KINDS = ("haar", "yunet")


def find(kind: str, image: np.ndarray, **settings):
    return open_detector(DetectorConfig(kind=kind, **settings)).find(image)


@pytest.mark.parametrize("kind", KINDS)
def test_finds_the_faces_of_the_demo_clip_in_full_frame_pixels(kind):
    faces = find(kind, clip_frame(THREE_FACES))
    assert len(faces) == 3
    assert all(110 <= f.box[2] <= 170 and f.box[2] == f.box[3] for f in faces)  # pasted at 144 px
    assert len(find(kind, clip_frame(TWO_FACES))) == 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_face_that_fills_the_frame_is_found(kind):
    face = cv2.resize(demo_face(pad=4), (480, 480), interpolation=cv2.INTER_CUBIC)
    (found,) = find(kind, face)
    assert found.box[2] > 350


@pytest.mark.parametrize("kind", KINDS)
def test_a_small_face_is_found_at_min_face_and_not_below_it(kind):
    frame = frame_with([(demo_face(), 400, 300, 80)])
    (found,) = find(kind, frame)
    assert abs(found.box[0] - 400) < 15 and abs(found.box[1] - 300) < 15
    assert find(kind, frame, min_face=120) == []


@pytest.mark.parametrize("kind", KINDS)
def test_no_face_no_box(kind):
    assert find(kind, clip_frame(EMPTY)) == []
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert find(kind, noise) == []


def test_yunet_landmarks_lie_in_the_face_eyes_above_nose_above_mouth():
    for face in find("yunet", clip_frame(THREE_FACES)):
        x, y, w, h = face.box
        (rex, rey), (lex, ley), (_, nose), (_, rmy), (_, lmy) = face.landmarks
        assert np.all((face.landmarks[:, 0] > x) & (face.landmarks[:, 0] < x + w))
        assert np.all((face.landmarks[:, 1] > y) & (face.landmarks[:, 1] < y + h))
        assert rex < lex and max(rey, ley) < nose < min(rmy, lmy)


def test_the_working_scale_keeps_min_face_above_what_the_detector_sees():
    assert working_scale(DetectorConfig(downscale=2, min_face=60), HaarFaceDetector.SMALLEST) == 2
    assert working_scale(DetectorConfig(downscale=4, min_face=60), HaarFaceDetector.SMALLEST) == 2.5
    assert working_scale(DetectorConfig(downscale=4, min_face=24), YuNetFaceDetector.SMALLEST) == 2
    frame = frame_with([(demo_face(), 400, 300, 80)])
    assert len(find("haar", frame, downscale=8)) == 1  # 8x would make it 10 px: the cascade would miss it


def test_an_unloadable_yunet_model_is_a_config_error_naming_the_field(tmp_path):
    bad = tmp_path / "yunet.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(ConfigError, match="detector.yunet_model"):
        YuNetFaceDetector(DetectorConfig(kind="yunet", yunet_model=bad))
