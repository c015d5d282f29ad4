"""One base exception for the project; each subclass is also the matching builtin."""


class FerEdgeError(Exception):
    """Base of every error fer-edge raises on purpose (its text is meant for a person)."""


class DataError(FerEdgeError, ValueError):
    """Input data (a CSV row, an image, a calibration file) that cannot be used."""


class ModelError(FerEdgeError, ValueError):
    """A model file that is missing, unreadable, or not what fer-edge expects."""


class ConfigError(FerEdgeError, ValueError):
    """A configuration field with a bad value; the text names the field."""


class RuntimeMissingError(FerEdgeError, ImportError):
    """No TFLite runtime (ai-edge-litert, tflite_runtime or TensorFlow) can be imported."""


class CameraError(FerEdgeError, OSError):
    """A frame source that cannot be opened or read."""


def run_guarded(prog: str, action, catch: tuple[type[BaseException], ...] = (FerEdgeError, OSError)) -> int:
    """action(), with expected errors printed as `<prog>: error: ...` lines and exit status 1 (raised under DEBUG=1)."""
    import os
    import sys

    try:
        return action()
    except catch as exc:
        if os.environ.get("DEBUG") == "1":
            raise
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"{prog}: error: {line}", file=sys.stderr)
        return 1
