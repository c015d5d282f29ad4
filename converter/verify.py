"""Run the converted model beside its Keras parent on a test split and say how far apart they are."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge.errors import ModelError

logger = logging.getLogger(__name__)


class VerificationError(ModelError):
    """The converted model disagrees with its Keras parent more than allowed."""

    def __init__(self, message: str, verification: Verification):
        super().__init__(message)
        self.verification = verification


@dataclass
class Verification:
    """Keras vs TFLite on one split: accuracies, top-1 agreement, probability gap, file sizes."""

    split: str
    samples: int
    quantization: str
    keras_accuracy: float
    tflite_accuracy: float
    agreement: float
    max_prob_diff: float
    mean_prob_diff: float
    keras_bytes: int
    tflite_bytes: int
    min_agreement: float

    @property
    def passed(self) -> bool:
        return self.agreement >= self.min_agreement

    def scores(self) -> dict:
        """What the converted model's sidecar records under the split's name."""
        return {"accuracy": self.tflite_accuracy, "agreement": self.agreement, "samples": self.samples}

    def to_dict(self) -> dict:
        return asdict(self) | {"passed": self.passed}


def verification_faces(data, split: str, limit: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(faces, labels) of a split of a Fer2013, a seeded random `limit` of them when given."""
    faces, labels = data.split(split)
    if limit is not None and limit < len(faces):
        keep = np.sort(np.random.default_rng(seed).choice(len(faces), limit, replace=False))
        faces, labels = faces[keep], labels[keep]
    return faces, labels


def compare(keras_probs: np.ndarray, tflite_probs: np.ndarray, labels: np.ndarray, **fields) -> Verification:
    """The Verification of two probability arrays against true labels; `fields` fills the rest."""
    from sklearn.metrics import accuracy_score

    keras_top, tflite_top = keras_probs.argmax(1), tflite_probs.argmax(1)
    gap = np.abs(keras_probs - tflite_probs)
    return Verification(
        samples=len(labels),
        keras_accuracy=float(accuracy_score(labels, keras_top)),
        tflite_accuracy=float(accuracy_score(labels, tflite_top)),
        agreement=float(accuracy_score(keras_top, tflite_top)),
        max_prob_diff=float(gap.max()),
        mean_prob_diff=float(gap.mean()),
        **fields,
    )


def format_size(size: int) -> str:
    return f"{size / 1e6:.2f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"


def format_table(v: Verification) -> str:
    """The verification as a small text table."""
    rows = [
        ("", "keras", f"tflite {v.quantization}"),
        ("accuracy", f"{v.keras_accuracy:.4f}", f"{v.tflite_accuracy:.4f}"),
        ("file size", format_size(v.keras_bytes), format_size(v.tflite_bytes)),
        ("top-1 agreement", "", f"{v.agreement:.4f} (min {v.min_agreement:.2f})"),
        ("max |p diff|", "", f"{v.max_prob_diff:.4f}"),
        ("mean |p diff|", "", f"{v.mean_prob_diff:.5f}"),
    ]
    lines = [f"verification on {v.split} ({v.samples} faces): {'PASS' if v.passed else 'FAIL'}"]
    lines += [f"  {a:<16} {b:>10}   {c}" for a, b, c in rows]
    return "\n".join(lines)


def report_json(verification: Verification, extra: dict) -> str:
    """The verification as JSON, with `extra` context such as file names."""
    return json.dumps(extra | verification.to_dict(), indent=2) + "\n"


def write_report(path: Path, verification: Verification, extra: dict) -> Path:
    """The verification report, written atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(report_json(verification, extra))
    tmp.replace(path)
    return path
