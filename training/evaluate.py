"""Probabilities of a saved model (Keras or TFLite) on faces, for fer-eval and the converter."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.errors import ModelError
from edge.preprocess import to_model_input


def predict_keras(model_path: Path, faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Softmax outputs [N, 7] of a .keras model on uint8 faces [N, 48, 48]."""
    import keras

    try:
        model = keras.models.load_model(model_path, compile=False)
    except (ValueError, OSError) as exc:
        raise ModelError(f"{model_path}: not a loadable Keras model ({exc})") from None
    return model.predict(to_model_input(faces), batch_size=batch_size, verbose=0)


def predict_tflite(model_path: Path, faces: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Dequantized outputs [N, 7] of a .tflite model through the edge agent's classifier."""
    from edge.classifier import TFLiteEmotionClassifier

    classifier = TFLiteEmotionClassifier(model_path)
    return np.concatenate([classifier.predict_proba(faces[i : i + batch_size]) for i in range(0, len(faces), batch_size)])


def predict_file(model_path: Path, faces: np.ndarray) -> np.ndarray:
    """Probabilities of any model file fer-edge makes, chosen by its suffix."""
    model_path = Path(model_path)
    if not model_path.exists():
        raise ModelError(f"{model_path}: no such model file")
    if model_path.is_dir():
        model_path = model_path / "model.keras"
    if model_path.suffix == ".tflite":
        return predict_tflite(model_path, faces)
    if model_path.suffix == ".keras":
        return predict_keras(model_path, faces)
    raise ModelError(f"{model_path}: expected a .keras or .tflite model (or a run directory)")
