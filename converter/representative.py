"""The calibration set of full-integer quantization: a class-balanced sample of training faces."""

from __future__ import annotations

import numpy as np

from edge.errors import DataError
from edge.preprocess import to_model_input


def balanced_sample(images: np.ndarray, labels: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """Up to `count` faces taking classes in turn (each class shuffled), so rare classes are represented."""
    if len(images) == 0:
        raise DataError("no faces to draw a calibration sample from")
    rng = np.random.default_rng(seed)
    queues = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    depth = max(len(q) for q in queues)
    # interleave: first face of each class, then the second of each, ...
    order = [q[i] for i in range(depth) for q in queues if i < len(q)]
    return images[np.asarray(order[:count])]


def calibration_faces(data, count: int, seed: int = 0) -> np.ndarray:
    """The balanced calibration sample of a Fer2013's Training split."""
    return balanced_sample(*data.split("Training"), count, seed)


def representative_dataset(faces: np.ndarray):
    """A TFLiteConverter representative_dataset over uint8 faces [N, 48, 48], one face per step."""

    def generate():
        for face in faces:
            yield [to_model_input(face)]

    return generate
