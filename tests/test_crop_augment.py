import numpy as np

from training.crop_augment import CropAugment, augment_faces, reframe, sample_boxes


def square_face() -> np.ndarray:
    face = np.zeros((48, 48), np.uint8)
    face[12:36, 12:36] = 255
    return face


def test_box_statistics_follow_the_configured_jitter():
    config = CropAugment(scale=(0.8, 1.2), shift=0.1)
    boxes = sample_boxes(np.random.default_rng(0), 20000, config)
    assert boxes[:, 0].min() >= 0.8 and boxes[:, 0].max() <= 1.2 and abs(boxes[:, 0].mean() - 1.0) < 0.01
    assert np.abs(boxes[:, 1:]).max() <= 0.1 and np.abs(boxes[:, 1:].mean(0)).max() < 0.005
    assert abs(boxes[:, 1].std() - 0.2 / 12**0.5) < 0.002  # uniform in +-0.1


def test_a_loose_box_shows_the_face_smaller_and_a_shift_moves_it():
    face = square_face()
    assert np.array_equal(reframe(face, 1.0, 0.0, 0.0, 48), face)
    loose = reframe(face, 2.0, 0.0, 0.0, 48)
    assert 140 <= (loose > 127).sum() <= 150  # the 24x24 square at half size: 12x12
    shifted = reframe(face, 1.0, 0.25, 0.0, 48)  # box centre 12 px to the right: the square moves left
    assert shifted[24, 0:24].mean() > 200 and shifted[24, 30:].mean() < 50


def test_the_configured_share_of_faces_is_reframed():
    faces = np.repeat(square_face()[None], 400, 0)
    out = augment_faces(faces, np.random.default_rng(1), CropAugment(probability=0.5))
    changed = (out != faces).reshape(400, -1).any(1).mean()
    assert 0.4 < changed < 0.6 and out.shape == faces.shape and out.dtype == np.uint8
