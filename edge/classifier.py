"""Emotion classification of 48x48 faces with a TFLite model (float or integer-quantized)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import ModelError
from edge.flip_average import flip_averaged
from edge.logs import quiet_native_stderr
from edge.metadata import ModelMetadata, check_model_file, read_metadata, sidecar_path
from edge.preprocess import to_model_input
from edge.runtime import interpreter_class

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Emotion:
    """One face's result: the top label, its probability, and every class's probability."""

    label: str
    confidence: float
    probabilities: dict[str, float]


def quantize(values: np.ndarray, detail: dict) -> np.ndarray:
    """Float values -> the tensor's dtype with its (scale, zero_point); unchanged for float tensors."""
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.floating):
        return values.astype(dtype)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    """A tensor's values as float32, using its (scale, zero_point) when it is integer."""
    if np.issubdtype(detail["dtype"], np.floating):
        return values.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return (values.astype(np.float32) - zero_point) * np.float32(scale)


class TFLiteEmotionClassifier:
    """Runs a fer-edge TFLite model; labels and scaling come from its metadata and tensors."""

    def __init__(
        self,
        model_path: str | Path,
        metadata: ModelMetadata | None = None,
        num_threads: int = 1,
        runtime: str | None = None,
        flip_average: bool | None = None,
    ):
        self.path = Path(model_path)
        if not self.path.is_file():
            raise ModelError(f"{self.path}: model file not found")
        self.metadata = metadata or read_metadata(self.path)
        check_model_file(self.path, self.metadata)
        self.flip_average = self.metadata.flip_average if flip_average is None else flip_average
        self.runtime, interpreter = interpreter_class(runtime)
        try:
            with quiet_native_stderr():  # TFLite prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
                self._interpreter = interpreter(model_path=str(self.path), num_threads=num_threads)
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{self.path}: not a loadable TFLite model ({exc})") from None
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self._batch = 1
        shape = [int(n) for n in self._input["shape"][1:]]
        if shape != self.metadata.input_shape:
            raise ModelError(
                f"{self.path}: model takes input {shape} but metadata records input_shape {self.metadata.input_shape}, "
                "the faces fer-edge feeds"
            )
        self._check_input_quantization()
        n_out = int(self._output["shape"][-1])
        if n_out != len(self.metadata.labels):
            raise ModelError(f"{self.path}: model has {n_out} outputs but metadata lists {len(self.metadata.labels)} labels")
        logger.info(
            "loaded %s (%s, %s%s) with %s", self.path.name, self.metadata.model_id, self.input_dtype,
            ", flip-averaged" if self.flip_average else "", self.runtime,
        )

    def _check_input_quantization(self) -> None:
        """The sidecar's input_quantization must be the input tensor's: a sidecar edited by hand describes no model."""
        recorded = self.metadata.input_quantization
        if np.issubdtype(self._input["dtype"], np.floating):
            actual = None
        else:
            scale, zero_point = self._input["quantization"]
            actual = {"scale": float(scale), "zero_point": float(zero_point)}
        same = (recorded is None) == (actual is None) and (
            actual is None or (math.isclose(recorded["scale"], actual["scale"], rel_tol=1e-6)
                               and recorded["zero_point"] == actual["zero_point"]))
        if not same:
            tensor = "float" if actual is None else (
                f"{self.input_dtype} with scale {actual['scale']:.6g} and zero_point {actual['zero_point']:g}")
            raise ModelError(f"{self.path}: its input tensor is {tensor}, but {sidecar_path(self.path)} records "
                             f"input_quantization {recorded}; the sidecar does not describe this model")

    @property
    def labels(self) -> list[str]:
        return list(self.metadata.labels)

    @property
    def model_id(self) -> str:
        return self.metadata.model_id

    @property
    def input_dtype(self) -> str:
        return np.dtype(self._input["dtype"]).name

    @property
    def output_dtype(self) -> str:
        return np.dtype(self._output["dtype"]).name

    def predict_proba(self, faces: np.ndarray) -> np.ndarray:
        """uint8 faces [N, 48, 48] -> float32 probabilities [N, classes] (flip-averaged when so configured)."""
        if self.flip_average:
            return flip_averaged(self._invoke, faces)
        return self._invoke(faces)

    def _invoke(self, faces: np.ndarray) -> np.ndarray:
        batch = to_model_input(faces)
        if len(batch) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        self._resize(len(batch))
        self._interpreter.set_tensor(self._input["index"], quantize(batch, self._input))
        self._interpreter.invoke()
        return dequantize(self._interpreter.get_tensor(self._output["index"]), self._output)

    def classify(self, faces: np.ndarray) -> list[Emotion]:
        """uint8 faces [N, 48, 48] -> one Emotion per face."""
        return [self._emotion(row) for row in self.predict_proba(faces)]

    def _emotion(self, probabilities: np.ndarray) -> Emotion:
        top = int(np.argmax(probabilities))
        named = {label: round(float(p), 6) for label, p in zip(self.labels, probabilities)}
        return Emotion(self.labels[top], round(float(probabilities[top]), 6), named)

    def _resize(self, batch: int) -> None:
        if batch == self._batch:
            return
        shape = list(self._input["shape"])
        shape[0] = batch
        self._interpreter.resize_tensor_input(self._input["index"], shape)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self._batch = batch
