"""One logging set-up for every fer-edge command (fer-edge, fer-monitor, fer-train, fer-eval, fer-convert, fer-bench).

Handlers are configured once, at the entry point, on stderr; under systemd without timestamps (journald adds
its own). Unless `verbose`, what third-party libraries print at start-up is kept off the terminal: the INFO
chatter of paho, amqtt and transitions, absl's Python warnings, TensorFlow's C++ banners (set before it is
imported), OpenCV's native warnings, and TensorFlow Lite's "Created ... XNNPACK delegate" line, which its C++
runtime writes straight to file descriptor 2 (see quiet_native_stderr).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

CHATTY = {"paho": logging.INFO, "amqtt": logging.CRITICAL, "transitions": logging.WARNING, "absl": logging.ERROR,
          "tensorflow": logging.ERROR, "h5py": logging.WARNING, "matplotlib": logging.WARNING, "PIL": logging.WARNING}
NATIVE_QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "OPENCV_LOG_LEVEL": "ERROR"}

VERBOSE_HELP = "also show third-party libraries' start-up messages and INFO logs (TensorFlow, TFLite, OpenCV, MQTT)"

_verbose = False
_handler: logging.Handler | None = None


def under_systemd() -> bool:
    return "JOURNAL_STREAM" in os.environ or "INVOCATION_ID" in os.environ


class CurrentStderrHandler(logging.StreamHandler):
    """A StreamHandler on sys.stderr as it is when each record is written, not when logging was configured (a
    caller that swaps sys.stderr, as pytest does for each test, would leave it writing to a closed stream)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(level: str | int = "INFO", verbose: bool = False) -> None:
    """Log records at `level` and above to stderr; third-party start-up noise only when `verbose`."""
    global _verbose, _handler
    _verbose = verbose
    fmt = "%(levelname)s %(name)s: %(message)s"
    root = logging.getLogger()
    if _handler is not None:  # configured before (tests call main() many times): replace ours, keep others' handlers
        root.removeHandler(_handler)
    _handler = CurrentStderrHandler()
    _handler.setFormatter(logging.Formatter(fmt if under_systemd() else "%(asctime)s " + fmt))
    root.addHandler(_handler)
    root.setLevel(level)
    threshold = root.getEffectiveLevel()
    for name, quiet_level in CHATTY.items():
        logging.getLogger(name).setLevel(threshold if verbose else max(threshold, quiet_level))
    paho = logging.getLogger("paho")
    paho.removeFilter(PAHO_FILTER)
    if not verbose:
        paho.addFilter(PAHO_FILTER)
        for variable, value in NATIVE_QUIET.items():
            os.environ.setdefault(variable, value)
        if "cv2" in sys.modules:  # imported before us: its environment variable was read already
            sys.modules["cv2"].utils.logging.setLogLevel(sys.modules["cv2"].utils.logging.LOG_LEVEL_ERROR)


class PahoReconnectNoise(logging.Filter):
    """paho 2.2 logs "Client is not connected" as an ERROR on every retry while it reconnects; we log the cause once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Client is not connected")


PAHO_FILTER = PahoReconnectNoise()


def verbose() -> bool:
    return _verbose


@contextlib.contextmanager
def quiet_native_stderr():
    """While inside, file descriptor 2 goes to /dev/null (unless verbose): for C++ code that prints there itself.

    Python's own errors are raised as exceptions and keep their text; only native lines printed meanwhile are lost.
    """
    if _verbose:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (a test's capture, a closed descriptor): nothing to hide
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
