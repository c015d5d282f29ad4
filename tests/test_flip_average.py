import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.classifier import TFLiteEmotionClassifier
from edge.flip_average import flip_averaged, mirrored
from edge.metadata import read_metadata, sidecar_path
from training.data import Fer2013
from training.evaluate import keras_probabilities, load_keras
from training.train import choose_flip_average


def left_heavy(faces: np.ndarray) -> np.ndarray:
    """A stand-in model: class 0's probability is the share of brightness in the left half."""
    left = faces[:, :, :24].sum((1, 2)).astype(np.float64)
    share = left / (left + faces[:, :, 24:].sum((1, 2)))
    return np.stack([share, 1 - share], axis=1)


def asymmetric(faces: np.ndarray) -> np.ndarray:
    """The faces with a bright bar down their left edge, so that the mirror image differs."""
    faces = faces.copy()
    faces[:, :, :6] = 250
    return faces


def test_flip_average_is_the_mean_of_face_and_mirror_in_one_call():
    faces = np.zeros((3, 48, 48), np.uint8)
    faces[:, :, :8] = np.array([10, 100, 200], np.uint8)[:, None, None]
    faces[:, :, 40:] = 50
    calls = []

    def predict(batch):
        calls.append(len(batch))
        return left_heavy(batch)

    averaged = flip_averaged(predict, faces)
    assert calls == [6]
    assert np.allclose(averaged, (left_heavy(faces) + left_heavy(mirrored(faces))) / 2)
    assert np.allclose(averaged, 0.5) and not np.allclose(left_heavy(faces), 0.5)
    assert flip_averaged(predict, faces[:0]).shape == (0, 2)


def test_classifier_flip_averages_when_asked(tflite_model, tiny_fer_splits):
    faces = asymmetric(tiny_fer_splits["PublicTest"][0])
    plain = TFLiteEmotionClassifier(tflite_model, flip_average=False)
    averaged = TFLiteEmotionClassifier(tflite_model, flip_average=True).predict_proba(faces)
    expected = (plain.predict_proba(faces) + plain.predict_proba(mirrored(faces))) / 2
    assert np.abs(averaged - expected).max() <= 1 / 256
    assert np.abs(averaged - plain.predict_proba(faces)).max() > 0.01


def test_classifier_follows_the_metadata_unless_told(tmp_path, tflite_model):
    model = shutil.copy(tflite_model, tmp_path / "model.tflite")
    sidecar = json.loads(sidecar_path(tflite_model).read_text()) | {"flip_average": True}
    sidecar_path(model).write_text(json.dumps(sidecar))
    assert TFLiteEmotionClassifier(model).flip_average is True
    assert TFLiteEmotionClassifier(model, flip_average=False).flip_average is False
    assert TFLiteEmotionClassifier(tflite_model).flip_average is False


def data_of(split: str, faces: np.ndarray, labels: np.ndarray) -> Fer2013:
    """A Fer2013 whose rows all belong to one Usage."""
    return Fer2013(faces, labels, np.full(len(labels), split), Path("generated"))


def test_auto_turns_flip_averaging_on_only_when_publictest_gains(tiny_run, tiny_fer_splits):
    model = load_keras(tiny_run / "model.keras")
    faces = asymmetric(tiny_fer_splits["PublicTest"][0])
    plain_labels = keras_probabilities(model, faces).argmax(1)
    averaged_labels = keras_probabilities(model, faces, flip_average=True).argmax(1)
    assert (plain_labels != averaged_labels).any()
    assert choose_flip_average("on", model, data_of("Training", faces, plain_labels)) == (True, {})
    assert choose_flip_average("off", model, data_of("PublicTest", faces, plain_labels)) == (False, {})
    assert choose_flip_average("auto", model, data_of("Training", faces, plain_labels)) == (False, {})
    chosen, scores = choose_flip_average("auto", model, data_of("PublicTest", faces, plain_labels))
    assert not chosen and scores["publictest_accuracy_plain"] == 1.0
    chosen, scores = choose_flip_average("auto", model, data_of("PublicTest", faces, averaged_labels))
    assert chosen and scores["publictest_accuracy_flip_averaged"] == 1.0


def test_converter_carries_the_choice_and_framing_and_verifies_with_them(tmp_path, tiny_run, tiny_fer_splits):
    from converter.convert import convert
    from edge.framing import Framing

    run = shutil.copytree(tiny_run, tmp_path / "run")
    framing = {"margin": 0.1, "align": True}
    metadata = json.loads((run / "metadata.json").read_text()) | {"flip_average": True, "framing": framing}
    (run / "metadata.json").write_text(json.dumps(metadata))
    faces, labels = tiny_fer_splits["PrivateTest"]
    faces = asymmetric(faces)
    result = convert(run, tmp_path / "flip.tflite", faces, labels, "float32", min_agreement=0.0)
    assert read_metadata(result.model_path).flip_average is True
    assert read_metadata(result.model_path).framing == Framing(0.1, True)
    keras_flip = keras_probabilities(load_keras(run / "model.keras"), faces, flip_average=True)
    assert result.verification.keras_accuracy == pytest.approx(np.mean(keras_flip.argmax(1) == labels))


def test_fer_eval_flip_average_flag_overrides_the_model(tmp_path, tflite_model, tiny_fer_splits):
    from training.eval_cli import main

    faces = asymmetric(tiny_fer_splits["PrivateTest"][0])
    labels = TFLiteEmotionClassifier(tflite_model, flip_average=True).predict_proba(faces).argmax(1)
    rows = [f"{label},{' '.join(map(str, face.ravel()))},PrivateTest" for face, label in zip(faces, labels)]
    data = tmp_path / "fer2013.csv"
    data.write_text("\n".join(["emotion,pixels,Usage", *rows]) + "\n")
    accuracy = {}
    for setting in ("on", "off"):
        out = tmp_path / setting
        assert main([str(tflite_model), "--data", str(data), "--out", str(out), "--flip-average", setting]) == 0
        accuracy[setting] = json.loads((out / "privatetest_report.json").read_text())["accuracy"]
    assert accuracy["on"] == 1.0 and accuracy["off"] < 1.0
