"""Re-crop FER2013 faces with the edge agent's Haar detector, to score a model on the crops it will see.

FER2013's faces were framed by another detector. On the Pi the crop comes from OpenCV's Haar cascade, so
each face is upscaled onto a plain canvas (as a face in a frame), found again by the edge's detector, and
cropped by the edge's own preprocessing. Faces Haar does not find are left out and counted.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.config import DetectorConfig
from edge.detector import HaarFaceDetector
from edge.preprocess import crop_face

FACE_SIDE = 144
CANVAS_SIDE = 240


def locate(faces: np.ndarray) -> list[tuple[np.ndarray, tuple[int, int, int, int]] | None]:
    """For each uint8 face [48, 48]: (the canvas it was placed on, the largest Haar box), or None if not found."""
    detector = HaarFaceDetector(DetectorConfig(downscale=1.0, min_face=FACE_SIDE // 2))
    offset = (CANVAS_SIDE - FACE_SIDE) // 2
    located = []
    for face in faces:
        canvas = np.full((CANVAS_SIDE, CANVAS_SIDE), int(np.median(face)), np.uint8)
        canvas[offset : offset + FACE_SIDE, offset : offset + FACE_SIDE] = cv2.resize(
            face, (FACE_SIDE, FACE_SIDE), interpolation=cv2.INTER_CUBIC
        )
        boxes = detector.detect(canvas)
        located.append((canvas, boxes[0]) if boxes else None)
    return located


def recrop(located: list, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(crops uint8 [M, 48, 48], found bool [N]) from locate()'s result, each box grown by `margin`."""
    crops = [crop_face(canvas, box, margin) for canvas, box in filter(None, located)]
    found = np.array([item is not None for item in located], bool)
    return np.array(crops, np.uint8).reshape(-1, 48, 48), found


def haar_recrop(faces: np.ndarray, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(crops uint8 [M, 48, 48], found bool [N]) for uint8 faces [N, 48, 48]."""
    return recrop(locate(faces), margin)
