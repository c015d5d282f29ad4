import pytest

from converter.convert import convert
from edge.classifier import TFLiteEmotionClassifier
from training.model import ARCHS, ModelOptions, build_model


# attention pools the BiLSTM's outputs, so the cnn has no attention variant
CASES = [(arch, attention) for arch in ARCHS for attention in (False, True) if arch != "cnn" or not attention]


@pytest.mark.parametrize("arch, attention", CASES)
def test_every_arch_converts_to_int8(arch, attention, make_run, tiny_fer_splits, tmp_path):
    options = ModelOptions(arch=arch, conv_blocks=1, filters=4, lstm_units=4, dense_units=[8], attention=attention)
    run = make_run(build_model(options), options)
    faces, labels = tiny_fer_splits["PrivateTest"]
    done = convert(run, tmp_path / "m.tflite", faces[::4], labels[::4], "int8", faces[::8], min_agreement=0.0)
    classifier = TFLiteEmotionClassifier(done.model_path)
    assert (classifier.input_dtype, classifier.output_dtype) == ("int8", "int8")
    assert done.verification.max_prob_diff < 0.1
