"""Training faces re-framed the way the edge's detectors frame them.

FER2013's faces come with FER2013's framing. On the Pi a face is cut out of a camera frame along a detector's
box (Haar or YuNet), whose size and position wander from frame to frame, often from a face of only 40-60 px that
is upscaled to 48x48, with JPEG or sensor blur on top. Each augmented face here is the FER2013 face seen through
such a box: a random scale and shift of its frame (border pixels repeated where the box leaves the image), drawn
at a random working size, optionally JPEG-compressed and blurred, then resized to 48x48 as the edge resizes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from edge.preprocess import FACE_SIZE, face_to_gray48


@dataclass(frozen=True)
class CropAugment:
    """The distributions of the detector-like re-framing; every face draws its own values."""

    probability: float = 0.5
    """Share of training faces re-framed; the rest keep FER2013's framing."""
    scale: tuple[float, float] = (0.85, 1.2)
    """Box side relative to FER2013's frame (uniform): under 1 a tight box, over 1 a loose one."""
    shift: float = 0.08
    """Box centre offset, uniform in +-shift of the side, each axis."""
    face_px: tuple[int, int] = (28, 96)
    """Size in pixels the face had in the camera frame before the edge resized it to 48 (uniform)."""
    jpeg_probability: float = 0.3
    jpeg_quality: tuple[int, int] = (30, 90)
    blur_probability: float = 0.2
    blur_sigma: tuple[float, float] = (0.3, 1.2)

    def to_dict(self) -> dict:
        return asdict(self)


def sample_boxes(rng: np.random.Generator, n: int, config: CropAugment) -> np.ndarray:
    """[n, 3] (scale, dx, dy) of n boxes, dx/dy in units of the box side."""
    scale = rng.uniform(*config.scale, n)
    shift = rng.uniform(-config.shift, config.shift, (n, 2))
    return np.column_stack([scale, shift])


def reframe(face: np.ndarray, scale: float, dx: float, dy: float, face_px: int) -> np.ndarray:
    """The 48x48 face seen through a box of side scale*48 centred (dx, dy) sides off-centre, at face_px pixels."""
    side = scale * FACE_SIZE
    zoom = face_px / side
    left = FACE_SIZE / 2 + dx * side - side / 2
    top = FACE_SIZE / 2 + dy * side - side / 2
    matrix = np.float32([[zoom, 0, -left * zoom], [0, zoom, -top * zoom]])
    seen = cv2.warpAffine(face, matrix, (face_px, face_px), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return seen


def augment_faces(faces: np.ndarray, rng: np.random.Generator, config: CropAugment) -> np.ndarray:
    """A re-framed copy of uint8 faces [N, 48, 48] (each face with probability config.probability)."""
    out = faces.copy()
    chosen = np.flatnonzero(rng.random(len(faces)) < config.probability)
    boxes = sample_boxes(rng, len(chosen), config)
    sizes = rng.integers(config.face_px[0], config.face_px[1] + 1, len(chosen))
    for i, (scale, dx, dy), size in zip(chosen, boxes, sizes):
        seen = reframe(faces[i], scale, dx, dy, int(size))
        if rng.random() < config.jpeg_probability:
            quality = int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1))
            _, encoded = cv2.imencode(".jpg", seen, [cv2.IMWRITE_JPEG_QUALITY, quality])
            seen = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
        if rng.random() < config.blur_probability:
            seen = cv2.GaussianBlur(seen, (0, 0), float(rng.uniform(*config.blur_sigma)))
        out[i] = face_to_gray48(seen)
    return out
