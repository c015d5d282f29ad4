import json

import numpy as np
import pytest

from training.report import evaluation_metrics, write_evaluation

# 4 faces: two angry (one right), one happy (right), one sad predicted happy
Y_TRUE = np.array([0, 0, 3, 4])
PROBS = np.eye(7)[[0, 3, 3, 3]]


def test_metrics_equal_a_hand_computed_case():
    metrics = evaluation_metrics(Y_TRUE, PROBS)
    assert metrics["accuracy"] == 0.5
    angry, happy, sad = (metrics["per_class"][k] for k in ("angry", "happy", "sad"))
    assert (angry["precision"], angry["recall"], angry["f1-score"]) == (1.0, 0.5, pytest.approx(2 / 3))
    assert (happy["precision"], happy["recall"]) == (pytest.approx(1 / 3), 1.0)
    assert sad["f1-score"] == 0.0
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix[0, 0] == 1 and matrix[0, 3] == 1 and matrix[4, 3] == 1 and matrix.sum() == 4


def test_evaluation_files_are_written(tmp_path):
    write_evaluation(tmp_path, Y_TRUE, PROBS, "PrivateTest")
    report = json.loads((tmp_path / "privatetest_report.json").read_text())
    assert report["split"] == "PrivateTest" and report["samples"] == 4
    assert "angry" in (tmp_path / "privatetest_report.txt").read_text()
    assert (tmp_path / "privatetest_confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "privatetest_confusion_normalized.png").stat().st_size > 1000
