import json

import pytest

from converter.cli import main
from edge.classifier import TFLiteEmotionClassifier
from edge.errors import ModelError
from edge.bundle import read_bundle
from edge.metadata import file_sha256, read_metadata


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("flag, dtype", [("--float16", "float32"), ("--int8", "int8")])
def test_cli_writes_model_sidecar_and_report(tiny_run, tmp_path, capsys, flag, dtype):
    out = tmp_path / "m.tflite"
    argv = [str(tiny_run), flag, "-o", str(out), "--calibration-samples", "70", "--min-agreement", "0.9",
            "--bundle", str(tmp_path / "m.bundle")]
    assert main(argv) == 0
    assert leftovers(tmp_path) == ["m.bundle", "m.golden.npz", "m.json", "m.tflite", "m.verify.json"]
    assert read_bundle(tmp_path / "m.bundle").model_sha256 == file_sha256(out)
    assert TFLiteEmotionClassifier(out).input_dtype == dtype
    assert "top-1 agreement" in capsys.readouterr().out
    assert read_metadata(out).source["calibration_samples"] == (70 if flag == "--int8" else 0)


def test_float32_by_default_matches_keras(tiny_run, tmp_path):
    out = tmp_path / "f.tflite"
    assert main([str(tiny_run), "-o", str(out), "--verify-split", "Training", "--verify-samples", "50"]) == 0
    assert read_metadata(out).quantization == "float32" and read_metadata(out).input_quantization is None
    report = json.loads((tmp_path / "f.verify.json").read_text())
    assert report["samples"] == 50 and report["agreement"] == 1.0 and report["max_prob_diff"] < 1e-4


def test_disagreement_fails_and_writes_no_model(untrained_run, tmp_path, capsys):
    out = tmp_path / "m.tflite"
    assert main([str(untrained_run), "--int8", "-o", str(out), "--min-agreement", "1.0"]) == 1
    captured = capsys.readouterr()
    assert "FAIL" in captured.out and "under --min-agreement 1.0; model not written" in captured.err
    assert leftovers(tmp_path) == ["m.verify.json"]


@pytest.fixture(scope="module")
def untrained_run(make_run):
    """A randomly initialised model: near-uniform outputs whose top-1 int8 rounding flips."""
    import keras

    from training.model import ModelOptions, build_model

    keras.utils.set_random_seed(1)
    options = ModelOptions(arch="cnn", conv_blocks=1, filters=4, dense_units=[8], augment=False)
    return make_run(build_model(options), options)


def error_of(argv, capsys):
    assert main(argv) == 1
    return capsys.readouterr().err.strip()


def test_missing_model_file(tmp_path, capsys):
    err = error_of([str(tmp_path / "nope.keras"), "-o", str(tmp_path / "m.tflite")], capsys)
    assert err == f"fer-convert: error: {tmp_path / 'nope.keras'}: no such file"


@pytest.mark.parametrize("flag, named", [("-o", "-o/--output"), ("--bundle", "--bundle")])
def test_an_output_that_is_a_folder_is_refused_before_converting(tmp_path, capsys, flag, named):
    (tmp_path / "out").mkdir()
    argv = [str(tmp_path / "nope.keras"), "-o", str(tmp_path / "m.tflite"), flag, str(tmp_path / "out")]
    assert error_of(argv, capsys) == f"fer-convert: error: {tmp_path / 'out'}: a folder; {named} names the file to write"
    assert leftovers(tmp_path / "out") == []


def test_debug_reraises(tmp_path, monkeypatch):
    monkeypatch.setenv("DEBUG", "1")
    with pytest.raises(ModelError, match="no such file"):
        main([str(tmp_path / "nope.keras"), "-o", str(tmp_path / "m.tflite")])


def test_file_that_is_not_keras(tmp_path, capsys):
    (tmp_path / "bad.keras").write_text("hello")
    err = error_of([str(tmp_path / "bad.keras"), "-o", str(tmp_path / "m.tflite")], capsys)
    assert err == f"fer-convert: error: {tmp_path / 'bad.keras'}: not a Keras model (.keras zip) this version can load"
    assert leftovers(tmp_path) == ["bad.keras"]


def test_color_input_is_refused(tmp_path, capsys):
    import keras

    inputs = keras.Input((48, 48, 3))
    keras.Model(inputs, keras.layers.Dense(7)(keras.layers.Flatten()(inputs))).save(tmp_path / "rgb.keras")
    err = error_of([str(tmp_path / "rgb.keras"), "-o", str(tmp_path / "m.tflite")], capsys)
    assert "rgb.keras: input must be one 48x48 single-channel image" in err


def test_bare_keras_without_metadata(tiny_run, tmp_path, capsys):
    (tmp_path / "lone.keras").write_bytes((tiny_run / "model.keras").read_bytes())
    err = error_of([str(tmp_path / "lone.keras"), "-o", str(tmp_path / "m.tflite")], capsys)
    assert err == (f"fer-convert: error: {tmp_path / 'lone.keras'}: no model metadata beside it "
                   f"(expected {tmp_path / 'metadata.json'}, as fer-train writes, or {tmp_path / 'lone.json'})")


def test_calibration_file_without_usable_rows(tiny_run, tmp_path, capsys):
    data = tmp_path / "empty.csv"
    data.write_text("emotion,pixels,Usage\n9,1 2 3,Training\n")
    err = error_of([str(tiny_run), "--int8", "--data", str(data), "-o", str(tmp_path / "m.tflite")], capsys)
    assert err == f"fer-convert: error: {data}: no usable rows"
    assert leftovers(tmp_path) == ["empty.csv"]


def run_with_options(tiny_run, tmp_path, change: dict):
    """A copy of tiny_run whose sidecar's options have `change` applied."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes((tiny_run / "model.keras").read_bytes())
    metadata = json.loads((tiny_run / "metadata.json").read_text())
    metadata["options"].update(change)
    (run / "metadata.json").write_text(json.dumps(metadata))
    return run


@pytest.mark.parametrize("change, complaint", [
    ({"filters": "8"}, "filters must be a whole number, got '8'"),
    ({"dense_units": 16}, "dense_units must be a list of whole numbers, got 16"),
])
def test_metadata_options_of_the_wrong_type_are_one_line(tiny_run, tmp_path, change, complaint, capsys):
    run = run_with_options(tiny_run, tmp_path, change)
    err = error_of([str(run), "--int8", "-o", str(tmp_path / "m.tflite")], capsys)
    assert err == f"fer-convert: error: {run / 'metadata.json'}: field 'options': {complaint}"


@pytest.mark.parametrize("change, complaint", [
    ({"filters": 12}, "layer 'block1_conv1': the options build weights of shape (3, 3, 1, 12), "
                      "the model's are (3, 3, 1, 8)"),
    ({"dense_units": [16, 16]}, "the options build a layer 'dense2' that the model does not have"),
])
def test_metadata_options_that_build_another_network_are_refused(tiny_run, tmp_path, change, complaint, capsys):
    run = run_with_options(tiny_run, tmp_path, change)
    err = error_of([str(run), "--int8", "-o", str(tmp_path / "m.tflite")], capsys)
    assert err == (f"fer-convert: error: {run / 'metadata.json'}: field 'options' does not describe "
                   f"{run / 'model.keras'}: {complaint}; give the metadata fer-train wrote for this model")
    assert leftovers(tmp_path) == ["run"]
