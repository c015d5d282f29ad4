"""Model metadata: what a model file needs beside it so that no consumer hard-codes labels or scaling.

Every model fer-edge writes (Keras run directory, float or int8 TFLite) has a JSON sidecar:
`<model stem>.json` next to the model file (`metadata.json` in a training run directory).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.errors import ModelError
from edge.labels import EMOTIONS
from edge.preprocess import FACE_SIZE, PREPROCESSING

FORMAT = "fer-edge-model/1"
RUN_METADATA_NAME = "metadata.json"


class ModelMetadata(BaseModel):
    """What training, the converter and the edge agent agree on about one model file."""

    model_config = ConfigDict(extra="allow")

    format: str = Field(FORMAT, description="Version of this metadata layout.")
    model_id: str = Field(description="Stable name of the model, carried in every published result.")
    labels: list[str] = Field(default_factory=lambda: list(EMOTIONS), description="Class names in output order.")
    input_shape: list[int] = Field(default_factory=lambda: [FACE_SIZE, FACE_SIZE, 1], description="H, W, C.")
    preprocessing: dict[str, Any] = Field(default_factory=lambda: dict(PREPROCESSING))
    arch: str = Field("cnn-bilstm", description="Architecture fer-train built.")
    quantization: str = Field("float32", description="float32, float16 or int8 (weights and activations).")
    flip_average: bool = Field(
        False, description="Average each face's probabilities with its mirror image's (edge/flip_average.py)."
    )
    input_quantization: dict[str, float] | None = Field(
        None, description="scale and zero_point of an integer input tensor; None for float input."
    )
    source: dict[str, Any] = Field(default_factory=dict, description="Where the model came from.")
    metrics: dict[str, Any] = Field(default_factory=dict, description="Scores on named splits.")


def sidecar_path(model_path: str | Path) -> Path:
    """Where the metadata of a model file lives."""
    model_path = Path(model_path)
    if model_path.is_dir():
        return model_path / RUN_METADATA_NAME
    run_file = model_path.parent / RUN_METADATA_NAME
    if model_path.suffix == ".keras" and run_file.exists():
        return run_file
    return model_path.with_suffix(".json")


def read_metadata(model_path: str | Path) -> ModelMetadata:
    """Metadata of a model file; ModelError naming the file when it is missing or invalid."""
    path = sidecar_path(model_path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelError(f"{path}: no model metadata beside {model_path} (expected this JSON sidecar)") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    try:
        return ModelMetadata.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ModelError(f"{path}: field {field!r}: {first['msg']}") from None


def write_metadata(model_path: str | Path, metadata: ModelMetadata) -> Path:
    """Write the sidecar of model_path atomically; returns its path."""
    path = sidecar_path(model_path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(metadata.model_dump(mode="json"), indent=2) + "\n")
    tmp.replace(path)
    return path


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
