import json

import numpy as np
import pytest

from converter.representative import balanced_sample
from edge.classifier import TFLiteEmotionClassifier
from edge.errors import ModelError
from edge.metadata import file_sha256, read_metadata, sidecar_path


def test_int8_model_has_int8_input_and_output(tflite_model):
    classifier = TFLiteEmotionClassifier(tflite_model)
    assert (classifier.input_dtype, classifier.output_dtype) == ("int8", "int8")


def test_sidecar_carries_labels_and_input_scaling(tflite_model):
    meta = read_metadata(tflite_model)
    assert (meta.quantization, meta.arch, meta.model_id) == ("int8", "cnn-bilstm", "tiny_int8")
    assert meta.input_quantization["zero_point"] == -128 and 0 < meta.input_quantization["scale"] <= 1 / 255 + 1e-6
    assert meta.source["calibration_samples"] == 168 and len(meta.source["keras_sha256"]) == 64
    assert meta.metrics["PrivateTest"]["samples"] == 56
    assert meta.sha256 == file_sha256(tflite_model)


def test_classifier_refuses_a_model_file_its_sidecar_does_not_describe(tmp_path, tflite_model):
    model = tmp_path / "m.tflite"
    model.write_bytes(tflite_model.read_bytes() + b"\0")
    sidecar_path(model).write_text(sidecar_path(tflite_model).read_text())
    with pytest.raises(ModelError, match="m.tflite: sha256 [0-9a-f]{64} is not the"):
        TFLiteEmotionClassifier(model)


@pytest.mark.parametrize("model, recorded, tensor", [
    ("tflite_model", None, "int8 with scale"),
    ("tflite_model", {"scale": 0.5, "zero_point": -128}, "int8 with scale"),
    ("tflite_model_float", {"scale": 1 / 255, "zero_point": -128}, "float"),
])
def test_classifier_refuses_input_quantization_that_is_not_the_tensors(tmp_path, request, model, recorded, tensor):
    source = request.getfixturevalue(model)
    (tmp_path / "m.tflite").write_bytes(source.read_bytes())
    sidecar = json.loads(sidecar_path(source).read_text()) | {"input_quantization": recorded}
    (tmp_path / "m.json").write_text(json.dumps(sidecar))
    with pytest.raises(ModelError) as error:
        TFLiteEmotionClassifier(tmp_path / "m.tflite")
    assert str(error.value).startswith(f"{tmp_path / 'm.tflite'}: its input tensor is {tensor}")
    recorded = read_metadata(tmp_path / "m.tflite").input_quantization
    assert str(error.value).endswith(f"m.json records input_quantization {recorded}; the sidecar does not describe this model")


def test_int8_agrees_with_keras(tflite_model):
    report = json.loads(tflite_model.with_name("tiny_int8.verify.json").read_text())
    assert report["split"] == "PrivateTest" and report["samples"] == 56
    assert report["agreement"] >= 0.95 and report["keras_accuracy"] >= 0.7
    assert report["tflite_accuracy"] == pytest.approx(report["keras_accuracy"], abs=0.05)


def test_edge_classifier_names_the_bands(tflite_model, tiny_fer_splits):
    faces, labels = tiny_fer_splits["PublicTest"]
    emotions = TFLiteEmotionClassifier(tflite_model).classify(faces)
    named = [read_metadata(tflite_model).labels.index(e.label) for e in emotions]
    assert np.mean(np.array(named) == labels) >= 0.7


def test_balanced_sample_takes_classes_in_turn():
    labels = np.array([0] * 90 + [1] * 9 + [2])
    faces = np.arange(100)
    sample = balanced_sample(faces, labels, 7)
    assert sorted(np.bincount(labels[sample])) == [1, 3, 3]
