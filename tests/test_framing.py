import numpy as np
import pytest
from faces import PASTED, TWO_FACES, clip_frame, rotated

from edge.config import DetectorConfig
from edge.detector import open_detector
from edge.errors import DataError
from edge.framing import Framing, eye_angle, frame_face
from edge.metadata import ModelMetadata
from edge.preprocess import crop_face, to_gray


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def test_the_default_framing_is_the_plain_crop_of_the_box():
    frame = to_gray(clip_frame(TWO_FACES))
    box = (100, 130, 150, 150)
    assert np.array_equal(frame_face(frame, box, Framing()), crop_face(frame, box))
    assert np.array_equal(frame_face(frame, box, Framing(0.1)), crop_face(frame, box, 0.1))


def test_alignment_levels_a_tilted_face():
    upright = clip_frame(TWO_FACES)
    x, y = PASTED[0]
    tilted = rotated(upright, 30, (x + 72, y + 72))
    yunet = open_detector(DetectorConfig(kind="yunet", downscale=1))  # landmarks of a 144 px face, not 72 px
    face = min(yunet.find(tilted), key=lambda f: f.box[0])
    assert eye_angle(face.landmarks) < -5  # turned counter-clockwise on screen
    reference = crop_face(to_gray(upright), (x, y, 144, 144))
    plain = frame_face(tilted, face.box, Framing(), face.landmarks)
    aligned = frame_face(tilted, face.box, Framing(align=True), face.landmarks)
    assert correlation(aligned, reference) > correlation(plain, reference) + 0.05
    level = min(yunet.find(rotated(tilted, eye_angle(face.landmarks), (x + 72, y + 72))), key=lambda f: f.box[0])
    assert abs(eye_angle(level.landmarks)) < abs(eye_angle(face.landmarks))


def test_alignment_without_landmarks_is_the_plain_crop():
    frame = to_gray(clip_frame(TWO_FACES))
    assert np.array_equal(frame_face(frame, (100, 130, 150, 150), Framing(align=True)), crop_face(frame, (100, 130, 150, 150)))


def test_the_model_metadata_carries_the_framing_strictly():
    assert ModelMetadata(model_id="m").framing == Framing()
    metadata = ModelMetadata.model_validate({"model_id": "m", "framing": {"margin": 0.1, "align": True}})
    assert metadata.framing == Framing(0.1, True)
    assert metadata.model_dump(mode="json")["framing"] == {"margin": 0.1, "align": True}
    with pytest.raises(ValueError, match="framing"):
        ModelMetadata.model_validate({"model_id": "m", "framing": {"margins": 0.1}})
    with pytest.raises(DataError):
        Framing(margin=0.9)
