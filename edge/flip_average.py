"""Flip averaging: a face's class probabilities averaged with those of its left-right mirror image.

Facial expressions are close to left-right symmetric, so the mirror image is a second look at the
same expression. It costs one more inference per face (well under a millisecond with the int8
model, against tens of milliseconds of face detection). fer-train decides per model, on PublicTest,
whether it helps, and records the answer in the model's metadata (`flip_average`), which the
converter copies and the edge classifier follows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def mirrored(faces: np.ndarray) -> np.ndarray:
    """uint8 faces [N, H, W] flipped left-right."""
    return np.ascontiguousarray(faces[:, :, ::-1])


def flip_averaged(predict: Callable[[np.ndarray], np.ndarray], faces: np.ndarray) -> np.ndarray:
    """Mean of predict(faces) and predict(mirrored faces), computed in one call of twice the batch."""
    if len(faces) == 0:
        return predict(faces)
    both = predict(np.concatenate([faces, mirrored(faces)]))
    return (both[: len(faces)] + both[len(faces) :]) / 2
