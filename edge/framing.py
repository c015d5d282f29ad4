"""How a face is cut out of a frame for the emotion model, written once for training and the edge agent.

A detector gives a box in Haar's framing (the square the Haar cascade draws, brows to chin; other
detectors' boxes are mapped onto it, see edge/detector.py) and, with YuNet, five landmarks. A `Framing`
turns that into the model's 48x48 gray input:

- `margin`: the box grows by this fraction of its width (height) on each side;
- `align`: when the face has landmarks, the crop is rotated about the box centre so that the eyes are level.

The model's metadata records the framing it was trained with (`framing` in edge/metadata.py); the edge
agent crops every face that way, whichever detector found it. `Framing()` is the framing of models that
predate the field: the bare Haar box, not rotated.

    from edge.framing import Framing, frame_face
    face48 = frame_face(gray, (x, y, w, h), Framing(margin=0.1, align=True), landmarks)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import ConfigDict, StrictBool, StrictFloat

from edge.errors import DataError
from edge.preprocess import crop_face, face_to_gray48, to_gray

Box = tuple[int, int, int, int]
RIGHT_EYE, LEFT_EYE = 0, 1  # rows of YuNet's landmarks: the person's right eye is on the image's left


@dataclass(frozen=True)
class Framing:
    """The crop a model expects: margin per side as a fraction of the box, eyes levelled or not."""

    margin: StrictFloat = 0.0
    align: StrictBool = False

    # read strictly where it is a pydantic field (ModelMetadata.framing): unknown keys are an error
    __pydantic_config__ = ConfigDict(extra="forbid")

    def __post_init__(self):
        if not 0.0 <= self.margin <= 0.5:
            raise DataError(f"framing margin {self.margin} is outside 0..0.5")


def eye_angle(landmarks: np.ndarray) -> float:
    """Degrees the eye line is turned clockwise on screen (image y points down); 0 when level."""
    (rx, ry), (lx, ly) = landmarks[RIGHT_EYE], landmarks[LEFT_EYE]
    return math.degrees(math.atan2(ly - ry, lx - rx))


def frame_face(image: np.ndarray, box: Box, framing: Framing, landmarks: np.ndarray | None = None) -> np.ndarray:
    """The 48x48 uint8 gray face of `box` (x, y, w, h) in `image`, cut the way `framing` says."""
    if not framing.align or landmarks is None:
        return crop_face(image, box, framing.margin)
    import cv2

    gray = to_gray(image)
    x, y, w, h = box
    width, height = w * (1 + 2 * framing.margin), h * (1 + 2 * framing.margin)
    centre = (x + w / 2, y + h / 2)
    # rotate about the box centre, then move that centre to the middle of a width x height output
    matrix = cv2.getRotationMatrix2D(centre, eye_angle(np.asarray(landmarks, np.float32)), 1.0)
    matrix[:, 2] += (width / 2 - centre[0], height / 2 - centre[1])
    size = (max(1, round(width)), max(1, round(height)))
    # warped at full size, then area-resized to 48x48 like every other crop
    rotated = cv2.warpAffine(gray, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return face_to_gray48(rotated)
