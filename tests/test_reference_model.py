"""The model the repository ships: the agent's default, and the figure the model card claims."""

import json
from pathlib import Path

import numpy as np
import pytest

from edge.classifier import TFLiteEmotionClassifier
from edge.labels import EMOTIONS
from edge.modelfile import find_model

BAR = 0.653  # the PrivateTest accuracy the reference model must beat (issue #2)
REALVAL_BAR = 0.62  # real photos through the agent's own path, agent defaults (issue #10)
REALVAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "realval"


@pytest.fixture(scope="module")
def shipped() -> Path:
    return find_model()


def test_shipped_model_loads_with_its_labels_and_choices(shipped):
    classifier = TFLiteEmotionClassifier(shipped)
    assert classifier.labels == list(EMOTIONS)
    assert (classifier.input_dtype, classifier.output_dtype) == ("int8", "int8")
    assert classifier.flip_average is True
    probabilities = classifier.predict_proba(np.full((2, 48, 48), 128, np.uint8))
    assert probabilities.shape == (2, 7) and np.allclose(probabilities.sum(1), 1, atol=0.02)


def test_shipped_model_verification_passed(shipped):
    report = json.loads(shipped.with_name(shipped.stem + ".verify.json").read_text())
    assert report["passed"] and report["split"] == "PrivateTest" and report["samples"] == 3589
    assert report["tflite_accuracy"] > BAR


def test_shipped_model_clears_the_bar_on_privatetest(shipped, shared_fer2013):
    from training.data import load_fer2013
    from training.evaluate import tflite_probabilities

    faces, labels = load_fer2013(shared_fer2013).split("PrivateTest")
    probabilities = tflite_probabilities(TFLiteEmotionClassifier(shipped), faces)
    assert np.mean(probabilities.argmax(1) == labels) > BAR


def test_shipped_model_reads_real_photos_the_agents_way(shipped, tmp_path):
    from training.eval_cli import main

    if not (REALVAL / "labels.csv").is_file():
        pytest.skip(f"{REALVAL} is absent")
    assert main([str(shipped), "--photos", str(REALVAL), "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "photos_summary.json").read_text())
    assert summary["faces_found"] == summary["photos"] and summary["accuracy_all_photos"] >= REALVAL_BAR
