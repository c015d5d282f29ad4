import numpy as np

from edge.config import FrameMotionConfig
from edge.motion import FrameDifferencing


def scene(square_at: int | None) -> np.ndarray:
    frame = np.full((480, 640), 120, np.uint8)
    if square_at is not None:
        frame[200:300, square_at : square_at + 100] = 250
    return frame


def test_still_frames_have_no_motion():
    detector = FrameDifferencing(FrameMotionConfig())
    noise = np.random.default_rng(0)
    frames = [np.clip(scene(100) + noise.integers(-3, 4, (480, 640)), 0, 255).astype(np.uint8) for _ in range(5)]
    assert not any(detector.motion(frame) for frame in frames)


def test_moving_object_is_motion():
    detector = FrameDifferencing(FrameMotionConfig())
    assert [detector.motion(scene(x)) for x in (100, 100, 160)] == [False, False, True]


def test_change_smaller_than_min_area_is_ignored():
    detector = FrameDifferencing(FrameMotionConfig(min_area=0.2))
    assert [detector.motion(scene(x)) for x in (100, 160)] == [False, False]
