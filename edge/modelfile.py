"""Where the emotion model is: the configured path, else the shipped int8 model beside the code or system-wide."""

from __future__ import annotations

import tarfile
from pathlib import Path

from edge.errors import ModelError

MODEL_NAME = "fer2013_cnn_bilstm_int8.tflite"
SEARCH_PATH = (
    Path(__file__).resolve().parents[1] / "models",  # a source checkout or editable install
    Path(__file__).resolve().parent / "models",  # a wheel that carries the model as package data
    Path("/usr/share/fer-edge/models"),
)


def find_model(configured: Path | None = None) -> Path:
    """The model file to load; ModelError naming every place looked at otherwise."""
    if configured is not None:
        if not configured.is_file():
            raise ModelError(f"{configured}: model file not found (field 'classifier.model')")
        if tarfile.is_tarfile(configured):
            raise ModelError(f"{configured}: a model bundle, not a .tflite model: install it with `fer-edge model "
                             "install` (the agent then runs it), or give the .tflite it was packed from")
        return configured
    for folder in SEARCH_PATH:
        if (folder / MODEL_NAME).is_file():
            return folder / MODEL_NAME
    places = ", ".join(str(folder) for folder in SEARCH_PATH)
    raise ModelError(f"no {MODEL_NAME} in {places}; give a model: classifier.model, --classifier-model, or --model")
