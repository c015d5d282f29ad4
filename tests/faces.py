"""Real test images made from the bundled demo clip's faces (FER2013 faces at 144 px on a plain background)."""

from __future__ import annotations

import cv2
import numpy as np

from edge.demo import CLIP

TWO_FACES, THREE_FACES, EMPTY = 15, 55, 0  # frames of the demo clip
BACKGROUND = 170


def clip_frame(index: int) -> np.ndarray:
    """Frame `index` of the demo clip, BGR 640x480."""
    capture = cv2.VideoCapture(str(CLIP))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = capture.read()
    capture.release()
    assert ok
    return frame


PASTED = ((107, 140), (368, 140))  # where make_demo_clip pasted the two faces of TWO_FACES, 144 px square


def demo_face(slot: int = 0, pad: int = 8) -> np.ndarray:
    """One face of the two-face frame, cut with `pad` px of background around its 144 px square."""
    x, y = PASTED[slot]
    return clip_frame(TWO_FACES)[y - pad : y + 144 + pad, x - pad : x + 144 + pad].copy()


def frame_with(faces: list[tuple[np.ndarray, int, int, int]], size=(640, 480)) -> np.ndarray:
    """A plain BGR frame with each (face, x, y, side) pasted at (x, y), resized to side px."""
    frame = np.full((size[1], size[0], 3), BACKGROUND, np.uint8)
    for face, x, y, side in faces:
        frame[y : y + side, x : x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    return frame


def rotated(image: np.ndarray, degrees: float, centre: tuple[float, float]) -> np.ndarray:
    """image turned counter-clockwise on screen by `degrees` about `centre`."""
    matrix = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    return cv2.warpAffine(image, matrix, image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)


def write_clip(path, frames: list[np.ndarray], fps: float = 10.0):
    """frames as an MJPG .avi at `fps`; returns path."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, frames[0].shape[1::-1])
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def two_faces_passing(frames: int = 24, crossing: bool = True, side: int = 120) -> list[np.ndarray]:
    """Two demo faces moving sideways: towards and past each other (crossing), or side by side in step.

    The first face starts on the left (and, crossing, ends on the right); it is pasted first, so the
    second passes in front of it.
    """
    first, second = demo_face(0), demo_face(1)
    shown = []
    for step in range(frames):
        t = step / (frames - 1)
        if crossing:
            a, b = round(20 + t * 480), round(500 - t * 480)
        else:
            a, b = round(40 + t * 100), round(360 + t * 100)
        shown.append(frame_with([(first, a, 120, side), (second, b, 220 if crossing else 120, side)]))
    return shown
