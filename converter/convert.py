"""The conversion as one call: twin, TFLite bytes, sidecar metadata, verification, then the files in place.

Nothing appears at the output path unless every step succeeded, the verification included.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converter.quantize import input_quantization, to_tflite
from converter.source import KerasSource, load_source
from converter.verify import (
    Verification,
    VerificationError,
    compare,
    write_report,
)
from edge.bundle import golden_path, report_path, write_golden
from edge.classifier import TFLiteEmotionClassifier
from edge.metadata import ModelMetadata, file_sha256, write_metadata
from training.evaluate import keras_probabilities, tflite_probabilities

logger = logging.getLogger(__name__)


@dataclass
class Conversion:
    """What a successful conversion wrote, and how the model did."""

    model_path: Path
    metadata_path: Path
    report_path: Path
    golden_path: Path
    metadata: ModelMetadata
    verification: Verification


GOLDEN_FACES = 32


def build_metadata(
    source: KerasSource, model_file: Path, quantization: str, model_id: str, calibrated: int, data_path
) -> ModelMetadata:
    """The sidecar of the converted model: the run's labels and preprocessing, the tensors' input scaling."""
    parent = source.metadata
    return ModelMetadata(
        model_id=model_id,
        sha256=file_sha256(model_file),
        labels=parent.labels,
        input_shape=parent.input_shape,
        preprocessing=parent.preprocessing,
        arch=source.options.arch,
        flip_average=parent.flip_average,
        framing=parent.framing,
        quantization=quantization,
        input_quantization=input_quantization(model_file),
        source={
            "keras_model": str(source.path),
            "keras_sha256": file_sha256(source.path),
            "keras_model_id": parent.model_id,
            "keras_metrics": parent.metrics,
            "data": None if data_path is None else str(data_path),
            "calibration_samples": calibrated,
        },
    )


def verify_file(source: KerasSource, model_file: Path, metadata: ModelMetadata, faces, labels, progress, **fields):
    """Run the converted file through the edge classifier beside the Keras model; `fields` name split and limits.

    Returns the Verification and the converted model's probabilities on `faces`.
    """
    classifier = TFLiteEmotionClassifier(model_file, metadata=metadata)
    probabilities = tflite_probabilities(classifier, faces, progress)
    return compare(
        keras_probabilities(source.model, faces, metadata.flip_average),
        probabilities,
        np.asarray(labels),
        quantization=metadata.quantization,
        keras_bytes=source.path.stat().st_size,
        tflite_bytes=model_file.stat().st_size,
        **fields,
    ), probabilities


def golden_indices(count: int, wanted: int = GOLDEN_FACES) -> np.ndarray:
    """Evenly spread indices of the verification faces kept as golden faces."""
    return np.unique(np.linspace(0, count - 1, min(wanted, count)).round().astype(int))


def refuse_disagreement(verification: Verification, output: Path, report: Path) -> None:
    """VerificationError when the agreement is under the minimum."""
    if not verification.passed:
        raise VerificationError(
            f"{output}: top-1 agreement with the Keras model {verification.agreement:.4f} is under "
            f"--min-agreement {verification.min_agreement}; model not written (see {report})",
            verification,
        )


def convert(
    source: KerasSource | str | Path,
    output: str | Path,
    test_faces: np.ndarray,
    test_labels: np.ndarray,
    quantization: str = "int8",
    calibration: np.ndarray | None = None,
    *,
    verify_split: str = "PrivateTest",
    min_agreement: float = 0.98,
    model_id: str | None = None,
    data_path: str | Path | None = None,
    progress: bool = False,
) -> Conversion:
    """Convert, verify on (test_faces, test_labels), and write model, sidecar and report; see the module doc."""
    if not isinstance(source, KerasSource):
        source = load_source(source)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    try:
        tmp.write_bytes(to_tflite(source.inference_twin(), quantization, calibration))
        calibrated = len(calibration) if quantization == "int8" else 0
        metadata = build_metadata(source, tmp, quantization, model_id or output.stem, calibrated, data_path)
        verification, probabilities = verify_file(
            source, tmp, metadata, test_faces, test_labels, progress, split=verify_split, min_agreement=min_agreement
        )
        context = {"model": str(output), "keras_model": str(source.path)}
        report = write_report(report_path(output), verification, context)
        refuse_disagreement(verification, output, report)
        metadata.metrics = {verify_split: verification.scores()}
        metadata_path = write_metadata(output, metadata)
        keep = golden_indices(len(test_faces))
        golden = write_golden(golden_path(output), np.asarray(test_faces)[keep], probabilities[keep])
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("wrote %s and %s", output, metadata_path)
    return Conversion(output, metadata_path, report, golden, metadata, verification)
