"""edge/logs.py: one set-up for every command; third-party start-up noise only with --verbose."""

import subprocess
import sys

import pytest

LOAD_MODEL = (
    "from edge.logs import configure_logging; configure_logging('INFO', verbose={verbose}); "
    "from edge.classifier import TFLiteEmotionClassifier; TFLiteEmotionClassifier({model!r})"
)


def stderr_of(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stderr


@pytest.mark.parametrize("verbose", [False, True])
def test_the_xnnpack_line_shows_only_when_verbose(tflite_model, verbose):
    err = stderr_of(LOAD_MODEL.format(verbose=verbose, model=str(tflite_model)))
    assert ("XNNPACK" in err) == verbose
    assert "edge.classifier: loaded tiny_int8.tflite" in err  # our own INFO lines stay


def test_timestamps_except_under_systemd(monkeypatch):
    code = "from edge.logs import configure_logging; import logging; configure_logging(); logging.getLogger('x').info('hi')"
    assert stderr_of(code)[:4].isdigit()
    monkeypatch.setenv("INVOCATION_ID", "1")
    assert stderr_of(code) == "INFO x: hi\n"
