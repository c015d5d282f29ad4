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


def history_rows(stage: str, val_accuracy: list[float]) -> list[dict]:
    return [{"stage": stage, "epoch": str(i), "accuracy": "0.5", "loss": "1.0", "val_accuracy": str(v), "val_loss": "1.1"}
            for i, v in enumerate(val_accuracy)]


def test_the_kept_epoch_is_the_best_of_the_last_stage():
    from training.plots import kept_epoch

    rows = history_rows("stage1", [0.3, 0.9]) + history_rows("stage2", [0.4, 0.6, 0.5])
    assert kept_epoch(rows) == 3  # stage 2's best (0.6), not stage 1's 0.9


@pytest.mark.parametrize("epochs", [[0.4], [0.3, 0.5, 0.4]])
def test_curves_are_drawn_for_one_epoch_and_for_stages(tmp_path, epochs):
    from training.plots import plot_history

    rows = history_rows("stage1", [0.2]) + history_rows("stage2", epochs) if len(epochs) > 1 else history_rows("a", epochs)
    assert plot_history(rows, tmp_path / "curves.png").stat().st_size > 10000
