"""The one preprocessing of a face, shared by training, conversion and the edge agent.

A face is a grayscale 48x48 uint8 image; the model sees it as float32 in [0, 1] with a channel axis.
"""

from __future__ import annotations

import numpy as np

from edge.errors import DataError

FACE_SIZE = 48
PIXEL_SCALE = 1.0 / 255.0
PREPROCESSING = {
    "color": "grayscale",
    "size": [FACE_SIZE, FACE_SIZE],
    "resize": "cv2.INTER_AREA",
    "scale": PIXEL_SCALE,
    "offset": 0.0,
    "layout": "NHWC",
}


def to_gray(image: np.ndarray) -> np.ndarray:
    """A 2-D uint8 grayscale view of a gray (HxW, HxWx1) or BGR (HxWx3) image."""
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] in (3, 4):
        import cv2

        code = cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        return cv2.cvtColor(image, code)
    raise DataError(f"expected a grayscale or BGR image, got an array of shape {image.shape}")


def face_to_gray48(face: np.ndarray) -> np.ndarray:
    """Grayscale, resized to 48x48 with area interpolation, uint8."""
    gray = to_gray(face)
    if gray.shape != (FACE_SIZE, FACE_SIZE):
        import cv2

        gray = cv2.resize(gray, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(gray, dtype=np.uint8)


def crop_face(frame: np.ndarray, box: tuple[int, int, int, int], margin: float = 0.0) -> np.ndarray:
    """The 48x48 gray face inside box (x, y, w, h) of frame, the box grown by `margin` of its size per side."""
    x, y, w, h = box
    dx, dy = int(round(w * margin)), int(round(h * margin))
    top, bottom = max(0, y - dy), min(frame.shape[0], y + h + dy)
    left, right = max(0, x - dx), min(frame.shape[1], x + w + dx)
    if bottom <= top or right <= left:
        raise DataError(f"face box {box} lies outside the {frame.shape[1]}x{frame.shape[0]} frame")
    return face_to_gray48(frame[top:bottom, left:right])


def to_model_input(faces: np.ndarray) -> np.ndarray:
    """uint8 faces [N, 48, 48] (or one [48, 48]) -> float32 [N, 48, 48, 1] in [0, 1]."""
    faces = np.asarray(faces)
    if faces.ndim == 2:
        faces = faces[None]
    if faces.shape[-2:] != (FACE_SIZE, FACE_SIZE):
        raise DataError(f"expected 48x48 faces, got shape {faces.shape}")
    return (faces.astype(np.float32) * np.float32(PIXEL_SCALE))[..., None]
