"""Model metadata: what a model file needs beside it so that no consumer hard-codes labels or scaling.

Every model fer-edge writes (Keras run directory, float or int8 TFLite) has a JSON sidecar:
`<model stem>.json` next to the model file (`metadata.json` in a training run directory).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, ValidationError, field_validator

from edge.errors import ModelError
from edge.framing import Framing
from edge.labels import EMOTIONS
from edge.preprocess import FACE_SIZE, PREPROCESSING
from edge.validation import first_problem

FORMAT = "fer-edge-model/1"
RUN_METADATA_NAME = "metadata.json"
INPUT_SHAPE = [FACE_SIZE, FACE_SIZE, 1]
QUANTIZATIONS = ("float32", "float16", "int8")


class ModelMetadata(BaseModel):
    """What training, the converter and the edge agent agree on about one model file.

    Strict on reading as on writing: an unknown key, another format version, a preprocessing or input shape
    other than the one edge/preprocess.py implements, or a value of the wrong JSON type ("yes" for true, "48" for
    48) is refused rather than ignored or converted.
    """

    model_config = ConfigDict(extra="forbid")

    format: str = Field(FORMAT, description="Version of this metadata layout.")
    model_id: str = Field(min_length=1, description="Stable name of the model, carried in every published result.")
    sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$",
        description="sha256 of the model file this sidecar describes; written by fer-convert, checked at load.",
    )
    labels: list[str] = Field(
        default_factory=lambda: list(EMOTIONS), min_length=2, description="Class names in output order."
    )
    input_shape: list[StrictInt] = Field(default_factory=lambda: list(INPUT_SHAPE), description="H, W, C.")
    preprocessing: dict[str, Any] = Field(
        default_factory=lambda: dict(PREPROCESSING), description="How a face becomes the model's input."
    )
    arch: str = Field("cnn-bilstm", description="Architecture fer-train built.")
    quantization: Literal[QUANTIZATIONS] = Field(
        "float32", description="float32, float16 or int8 (weights and activations)."
    )
    flip_average: StrictBool = Field(
        False, description="Average each face's probabilities with its mirror image's (edge/flip_average.py)."
    )
    framing: Framing = Field(
        default_factory=Framing, description="How faces are cut out for this model (edge/framing.py): margin, align."
    )
    input_quantization: dict[str, StrictFloat] | None = Field(
        None, description="scale and zero_point of an integer input tensor; None for float input."
    )
    source: dict[str, Any] = Field(default_factory=dict, description="Where the model came from.")
    metrics: dict[str, Any] = Field(default_factory=dict, description="Scores on named splits.")
    options: dict[str, Any] | None = Field(None, description="fer-train's ModelOptions (run metadata only).")
    training: dict[str, Any] | None = Field(None, description="fer-train's TrainOptions (run metadata only).")

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value != FORMAT:
            raise ValueError(f"unknown format {value!r}; this fer-edge reads {FORMAT!r}")
        return value

    @field_validator("model_id")
    @classmethod
    def _one_printable_line(cls, value: str) -> str:
        if not value.isprintable():  # it is published in every result and printed as one log line
            raise ValueError(f"{value!r} holds a control character; expected one line of printable text")
        return value

    @field_validator("labels")
    @classmethod
    def _distinct_labels(cls, labels: list[str]) -> list[str]:
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(f"labels repeat {', '.join(repeated)}")
        return labels

    @field_validator("input_quantization")
    @classmethod
    def _scale_and_zero_point(cls, values: dict[str, float] | None) -> dict[str, float] | None:
        if values is None:
            return None
        if set(values) != {"scale", "zero_point"}:
            raise ValueError(f"holds {', '.join(sorted(values)) or 'nothing'}; expected scale and zero_point")
        if not math.isfinite(values["scale"]) or values["scale"] <= 0 or not float(values["zero_point"]).is_integer():
            raise ValueError(f"scale {values['scale']} and zero_point {values['zero_point']}: expected a scale "
                             "above 0 and a whole zero_point")
        return values

    @field_validator("input_shape")
    @classmethod
    def _supported_shape(cls, shape: list[int]) -> list[int]:
        if shape != INPUT_SHAPE:
            raise ValueError(f"input_shape {shape} is not supported; fer-edge feeds {INPUT_SHAPE}")
        return shape

    @field_validator("preprocessing")
    @classmethod
    def _supported_preprocessing(cls, steps: dict[str, Any]) -> dict[str, Any]:
        if steps != PREPROCESSING:
            differing = sorted(key for key in set(steps) | set(PREPROCESSING) if steps.get(key) != PREPROCESSING.get(key))
            raise ValueError(
                f"preprocessing differs from what fer-edge implements in {', '.join(differing)} "
                f"(it does {json.dumps(PREPROCESSING)})"
            )
        return steps


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
        raise ModelError(_missing_sidecar(Path(model_path), path)) from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model metadata ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ModelError(f"{path}: not valid JSON (byte {exc.start + 1} is not UTF-8)") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    try:
        return ModelMetadata.model_validate(data)
    except ValidationError as exc:
        raise ModelError(f"{path}: {first_problem(exc)}") from None


def _missing_sidecar(model_path: Path, path: Path) -> str:
    if model_path.suffix == ".keras" and path.name != RUN_METADATA_NAME:
        run_file = model_path.parent / RUN_METADATA_NAME
        return f"{model_path}: no model metadata beside it (expected {run_file}, as fer-train writes, or {path})"
    return f"{path}: no model metadata beside {model_path} (expected this JSON sidecar)"


def check_model_file(model_path: str | Path, metadata: ModelMetadata) -> None:
    """ModelError unless the model file's sha256 is the one its sidecar records."""
    where = sidecar_path(model_path)
    if metadata.sha256 is None:
        raise ModelError(f"{where}: field 'sha256' is missing; convert the model again with fer-convert")
    actual = file_sha256(model_path)
    if actual != metadata.sha256:
        raise ModelError(
            f"{model_path}: sha256 {actual} is not the {metadata.sha256} recorded in {where.name}; "
            "the file was changed or belongs to another sidecar"
        )


def metadata_json(metadata: ModelMetadata) -> str:
    """The sidecar's text, without the fields left unset."""
    unset = {name for name in ("sha256", "options", "training") if getattr(metadata, name) is None}
    return json.dumps(metadata.model_dump(mode="json", exclude=unset), indent=2) + "\n"


def write_metadata(model_path: str | Path, metadata: ModelMetadata) -> Path:
    """Write the sidecar of model_path atomically; returns its path."""
    path = sidecar_path(model_path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(metadata_json(metadata))
    tmp.replace(path)
    return path


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
