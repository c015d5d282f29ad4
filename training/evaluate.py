"""Probabilities of a saved model (Keras or TFLite) on faces, for fer-eval and the converter."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from converter.source import load_keras
from edge.errors import ModelError
from edge.flip_average import flip_averaged
from edge.metadata import read_metadata
from edge.preprocess import to_model_input


def keras_probabilities(model, faces: np.ndarray, flip_average: bool = False) -> np.ndarray:
    """Softmax outputs [N, 7] of a Keras model on uint8 faces [N, 48, 48], in inference mode."""

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(to_model_input(batch), batch_size=256, verbose=0), np.float32)

    return flip_averaged(predict, faces) if flip_average else predict(faces)


def tflite_probabilities(classifier, faces: np.ndarray, progress: bool = False, batch: int = 64) -> np.ndarray:
    """Dequantized outputs [N, 7] of a TFLiteEmotionClassifier, batch by batch (with a progress bar if long)."""
    from tqdm import tqdm

    starts = range(0, len(faces), batch)
    show = progress and len(starts) >= 10
    bar = tqdm(starts, desc="verifying", unit="batch", disable=None if show else True, leave=False)
    return np.concatenate([classifier.predict_proba(faces[i : i + batch]) for i in bar])


def predict_file(model_path: Path, faces: np.ndarray, flip_average: bool | None = None) -> np.ndarray:
    """Probabilities of any model file fer-edge makes, chosen by its suffix.

    flip_average None follows the model's metadata (off for a .keras without any).
    """
    model_path = Path(model_path)
    if not model_path.exists():
        raise ModelError(f"{model_path}: no such model file")
    if model_path.is_dir():
        if not (model_path / "model.keras").is_file():
            raise ModelError(f"{model_path}: a folder without model.keras; give a fer-train run directory or a "
                             ".keras or .tflite file")
        model_path = model_path / "model.keras"
    if model_path.suffix == ".tflite":
        from edge.classifier import TFLiteEmotionClassifier

        return tflite_probabilities(TFLiteEmotionClassifier(model_path, flip_average=flip_average), faces)
    if model_path.suffix == ".keras":
        if flip_average is None:
            flip_average = _metadata_flip_average(model_path)
        return keras_probabilities(load_keras(model_path), faces, flip_average)
    raise ModelError(f"{model_path}: expected a .keras or .tflite model (or a run directory)")


def model_framing(model_path: Path):
    """The face framing a model file's metadata asks for (edge/framing.py); the default for models without it."""
    from edge.framing import Framing

    model_path = Path(model_path)
    try:
        return read_metadata(model_path).framing
    except ModelError:
        return Framing()


def _metadata_flip_average(model_path: Path) -> bool:
    try:
        return read_metadata(model_path).flip_average
    except ModelError:
        return False
