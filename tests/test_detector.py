import cv2
import numpy as np

from edge.config import DetectorConfig
from edge.demo import CLIP
from edge.detector import HaarFaceDetector


def clip_frame(index: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(CLIP))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = capture.read()
    capture.release()
    assert ok
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def test_finds_the_three_faces_of_the_demo_clip_in_full_frame_pixels():
    boxes = HaarFaceDetector(DetectorConfig()).detect(clip_frame(55))
    assert len(boxes) == 3
    assert all(120 <= w <= 170 and w == h for _, _, w, h in boxes)  # faces are pasted at 144 px


def test_empty_frame_and_too_small_faces_give_nothing():
    assert HaarFaceDetector(DetectorConfig()).detect(clip_frame(0)) == []
    assert HaarFaceDetector(DetectorConfig(min_face=400)).detect(clip_frame(55)) == []
