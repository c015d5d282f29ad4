"""The Keras model to convert: a fer-train run directory or a `.keras` file, with the run's metadata."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from edge.errors import DataError, ModelError
from edge.metadata import ModelMetadata, read_metadata, sidecar_path
from edge.preprocess import FACE_SIZE
from training.model import ModelOptions

logger = logging.getLogger(__name__)

RUN_MODEL_NAME = "model.keras"


@dataclass
class KerasSource:
    """A trained Keras model, the file it came from, its metadata and the options that built it."""

    path: Path
    model: object
    metadata: ModelMetadata
    options: ModelOptions

    @property
    def data_path(self) -> Path | None:
        """The data file the run recorded; a relative one is tried from here, then from the run directory."""
        recorded = self.metadata.source.get("data")
        if not recorded:
            return None
        path = Path(recorded)
        beside_run = self.path.parent / path
        return beside_run if not path.exists() and beside_run.exists() else path

    def inference_twin(self):
        """The network rebuilt for conversion with this model's weights; ModelError when the options differ."""
        from training.model import inference_twin

        try:
            return inference_twin(self.model, self.options)
        except ValueError as exc:
            raise ModelError(f"{sidecar_path(self.path)}: field 'options' does not describe {self.path}: {exc}; "
                             "give the metadata fer-train wrote for this model") from None


def data_file(source: KerasSource, override: str | Path | None = None) -> Path:
    """`override` (a --data flag), else the data file the run recorded; DataError when neither is known."""
    if override is not None:
        return Path(override)
    if source.data_path is None:
        raise DataError(f"{sidecar_path(source.path)}: the run records no data file (source.data); pass --data")
    if not source.data_path.exists():  # trained on another machine, or the data moved since
        raise DataError(f"{sidecar_path(source.path)}: the run's data file (source.data) {source.data_path} is not "
                        "here; pass --data")
    return source.data_path


def model_file(path: str | Path) -> Path:
    """The `.keras` file of a run directory or a model path; ModelError when there is none."""
    path = Path(path)
    if path.is_dir():
        path = path / RUN_MODEL_NAME
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    return path


def load_keras(path: Path):
    """A Keras model from a `.keras` file; ModelError when the file is not one."""
    import keras

    try:
        return keras.saving.load_model(path, compile=False)
    except (ValueError, OSError, KeyError, TypeError) as exc:
        logger.debug("loading %s failed: %s", path, exc)
        raise ModelError(f"{path}: not a Keras model (.keras zip) this version can load") from None


def check_image_input(model, path: Path) -> None:
    """ModelError unless the model takes one [N, 48, 48, 1] image tensor."""
    shapes = [tuple(t.shape) for t in model.inputs]
    if len(shapes) != 1 or shapes[0][1:] != (FACE_SIZE, FACE_SIZE, 1):
        expected = f"one {FACE_SIZE}x{FACE_SIZE} single-channel image"
        raise ModelError(f"{path}: input must be {expected}, the model takes {shapes}")


def model_options(metadata: ModelMetadata, path: Path) -> ModelOptions:
    """The ModelOptions recorded by fer-train in the metadata; ModelError when absent or invalid."""
    options = metadata.options
    if not isinstance(options, dict):
        raise ModelError(f"{path}: no 'options' (the ModelOptions fer-train records); convert a fer-train run")
    try:
        return ModelOptions(**options)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{path}: field 'options': {exc}") from None


def load_source(path: str | Path) -> KerasSource:
    """Load a run directory or `.keras` file with its metadata, checking each piece with a clear error."""
    keras_path = model_file(path)
    model = load_keras(keras_path)
    check_image_input(model, keras_path)
    metadata = read_metadata(keras_path)
    options = model_options(metadata, sidecar_path(keras_path))
    return KerasSource(keras_path, model, metadata, options)
