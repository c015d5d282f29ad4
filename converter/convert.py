"""The conversion as one call: twin, TFLite bytes, sidecar metadata, verification, then the files in place.

Nothing appears at the output path unless every step succeeded, the verification included. Model, sidecar,
report and golden faces are all written under temporary names before any is renamed into place, so a full disk
leaves an earlier conversion at the same output whole, never half replaced by the new one.
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
    report_json,
    write_report,
)
from edge.bundle import golden_bytes, golden_path, report_path
from edge.classifier import TFLiteEmotionClassifier
from edge.errors import ModelError
from edge.metadata import ModelMetadata, file_sha256, metadata_json, sidecar_path
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


def refused_report_path(output: Path) -> Path:
    """`<output stem>.refused.verify.json`: the report of a conversion refused for its agreement, kept apart from
    the report of any model already at the output."""
    return output.with_name(output.stem + ".refused.verify.json")


def refuse_disagreement(verification: Verification, output: Path, context: dict) -> None:
    """VerificationError, with the report written beside the output, when the agreement is under the minimum."""
    if not verification.passed:
        report = write_report(refused_report_path(output), verification, context)
        raise VerificationError(
            f"{output}: top-1 agreement with the Keras model {verification.agreement:.4f} is under "
            f"--min-agreement {verification.min_agreement}; model not written (see {report})",
            verification,
        )


def temporary(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def replace_together(files: dict[Path, bytes | str], model_tmp: Path, output: Path) -> None:
    """Write every file under its temporary name, then rename them, the model last, into place."""
    for path, data in files.items():
        temporary(path).write_bytes(data.encode() if isinstance(data, str) else data)
    try:
        for path in files:
            temporary(path).replace(path)
        model_tmp.replace(output)
    except OSError as exc:  # rare (the files are written by now), and it may leave a mixed set: say so
        raise ModelError(f"{output}: renaming the converted files into place failed ({exc}); "
                         "the files beside it may be mixed: convert again") from None


COMPANION_STEMS = (".verify", ".refused")


def companion_paths(output: Path) -> dict[str, Path]:
    """The files fer-convert writes (or removes) beside the model, by what they are."""
    return {"sidecar": sidecar_path(output), "report": report_path(output), "golden": golden_path(output),
            "refused report": refused_report_path(output)}


def check_output_name(output: Path) -> None:
    """ModelError when the output is also the name of its own sidecar, report or golden file (`-o m.json`), or
    when its stem ends as a companion's does, so that its files could be another model's (m.refused.tflite's
    report would be m.tflite's refused report)."""
    for what, path in companion_paths(output).items():
        if path == output:
            raise ModelError(f"{output}: would also be the model's {what}; name the output <name>.tflite")
    if output.stem.endswith(COMPANION_STEMS):
        raise ModelError(f"{output}: a name ending in {', '.join(COMPANION_STEMS)} is kept for the files beside a "
                         "model; name the output another way")


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
    tmp = temporary(output)
    paths = companion_paths(output)
    check_output_name(output)
    try:
        tmp.write_bytes(to_tflite(source.inference_twin(), quantization, calibration))
        calibrated = len(calibration) if quantization == "int8" else 0
        metadata = build_metadata(source, tmp, quantization, model_id or output.stem, calibrated, data_path)
        verification, probabilities = verify_file(
            source, tmp, metadata, test_faces, test_labels, progress, split=verify_split, min_agreement=min_agreement
        )
        context = {"model": str(output), "keras_model": str(source.path)}
        refuse_disagreement(verification, output, context)
        metadata.metrics = {verify_split: verification.scores()}
        keep = golden_indices(len(test_faces))
        replace_together({
            paths["sidecar"]: metadata_json(metadata),
            paths["report"]: report_json(verification, context),
            paths["golden"]: golden_bytes(np.asarray(test_faces)[keep], probabilities[keep]),
        }, tmp, output)
        refused_report_path(output).unlink(missing_ok=True)  # a refusal before this success no longer applies
    except OSError as exc:  # writing: nothing was renamed yet
        raise ModelError(f"{output}: cannot write the converted model ({exc.strerror or exc}); "
                         "any model already there is unchanged") from None
    finally:
        for path in (tmp, *(temporary(p) for p in paths.values())):
            path.unlink(missing_ok=True)
    logger.info("wrote %s and %s", output, paths["sidecar"])
    return Conversion(output, paths["sidecar"], paths["report"], paths["golden"], metadata, verification)
