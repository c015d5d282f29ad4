"""Keras inference twin -> TFLite flatbuffer bytes, float32, float16 or full-integer int8."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import numpy as np

from converter.representative import representative_dataset
from edge.errors import DataError
from edge.metadata import QUANTIZATIONS

logger = logging.getLogger(__name__)


def to_tflite(twin, quantization: str = "float32", calibration: np.ndarray | None = None) -> bytes:
    """Convert an inference twin (unrolled LSTMs, free batch); int8 needs uint8 calibration faces [N, 48, 48]."""
    import tensorflow as tf

    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization {quantization!r} is not one of {', '.join(QUANTIZATIONS)}")
    converter = tf.lite.TFLiteConverter.from_keras_model(twin)
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        if calibration is None or len(calibration) == 0:
            raise DataError("int8 conversion needs calibration faces")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    logger.info("converting %s to %s TFLite", twin.name, quantization)
    return quiet_convert(converter)


def quiet_convert(converter) -> bytes:
    """converter.convert(), with Keras' export listing (printed to stdout) sent to the debug log instead."""
    with contextlib.redirect_stdout(io.StringIO()) as listing, warnings.catch_warnings():
        # int8 input statistics come from the representative dataset, which is what this warning asks for
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        content = converter.convert()
    logger.debug("%s", listing.getvalue())
    return content


def input_quantization(model_path) -> dict[str, float] | None:
    """{scale, zero_point} of the model's input tensor when it is integer, None when it is float."""
    from edge.runtime import interpreter_class

    _, interpreter = interpreter_class()
    detail = interpreter(model_path=str(model_path)).get_input_details()[0]
    if np.issubdtype(detail["dtype"], np.floating):
        return None
    scale, zero_point = detail["quantization"]
    return {"scale": float(scale), "zero_point": int(zero_point)}
