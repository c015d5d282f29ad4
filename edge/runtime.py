"""Find a TFLite interpreter: ai-edge-litert, then tflite_runtime, then TensorFlow's tf.lite."""

from __future__ import annotations

import importlib
import logging

from edge.errors import RuntimeMissingError

logger = logging.getLogger(__name__)

# name -> "module:attribute" of an Interpreter class, in order of preference
RUNTIMES = {
    "ai-edge-litert": "ai_edge_litert.interpreter:Interpreter",
    "tflite-runtime": "tflite_runtime.interpreter:Interpreter",
    "tensorflow": "tensorflow:lite.Interpreter",
}


def _import_interpreter(spec: str):
    module_name, attribute = spec.split(":")
    obj = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def interpreter_class(preferred: str | None = None) -> tuple[str, type]:
    """(runtime name, Interpreter class) of the first runtime that imports, `preferred` first."""
    if preferred is not None and preferred not in RUNTIMES:
        raise RuntimeMissingError(f"unknown TFLite runtime {preferred!r}; choose from {', '.join(RUNTIMES)}")
    names = [preferred] if preferred else list(RUNTIMES)
    failures = []
    for name in names:
        try:
            return name, _import_interpreter(RUNTIMES[name])
        except (ImportError, AttributeError) as exc:
            failures.append(f"{name}: {exc}")
    raise RuntimeMissingError("no TFLite runtime could be imported (" + "; ".join(failures) + ")")
