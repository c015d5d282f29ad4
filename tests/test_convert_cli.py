import json
import os
import shutil

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
    assert leftovers(tmp_path) == ["m.refused.verify.json"]


def model_set(folder, stem="m"):
    """Every file of a conversion at folder/stem.tflite, by name."""
    return {p.name: p.read_bytes() for p in folder.glob(stem + ".*")}


def test_a_refused_conversion_leaves_the_model_already_there_whole(tiny_run, untrained_run, tmp_path, capsys):
    out = tmp_path / "m.tflite"
    assert main([str(tiny_run), "-o", str(out), "--verify-samples", "20"]) == 0
    before = model_set(tmp_path)
    assert main([str(untrained_run), "--int8", "-o", str(out), "--min-agreement", "1.0"]) == 1
    assert f"(see {tmp_path / 'm.refused.verify.json'})" in capsys.readouterr().err
    assert model_set(tmp_path) == before | {"m.refused.verify.json": (tmp_path / "m.refused.verify.json").read_bytes()}
    assert main([str(tiny_run), "-o", str(out), "--verify-samples", "20"]) == 0
    assert "m.refused.verify.json" not in leftovers(tmp_path)


def test_a_conversion_the_disk_cannot_hold_is_named_and_leaves_the_earlier_one_whole(tiny_run, tmp_path, capsys,
                                                                                   small_disk):
    disk = small_disk("2m")
    out = disk / "m.tflite"
    assert main([str(tiny_run), "--int8", "-o", str(out), "--verify-samples", "64"]) == 0
    before = model_set(disk)
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    # room for a new model, sidecar and report, not for its golden faces: the earlier sidecar and report must stay
    room = len(before["m.tflite"]) + len(before["m.json"]) + len(before["m.verify.json"]) + 4 * 4096  # pages
    assert room + 4096 < len(before["m.tflite"]) + len(before["m.golden.npz"])
    (disk / "filler").write_bytes(b"\0" * (free - room))
    capsys.readouterr()
    assert main([str(tiny_run), "--int8", "-o", str(out), "--verify-samples", "64", "--model-id", "second"]) == 1
    assert capsys.readouterr().err == (f"fer-convert: error: {out}: cannot write the converted model "
                                       "(No space left on device); any model already there is unchanged\n")
    assert model_set(disk) == before and sorted(p.name for p in disk.iterdir()) == sorted([*before, "filler"])


def test_an_output_named_like_its_own_sidecar_is_refused(tiny_run, tmp_path, capsys):
    assert error_of([str(tiny_run), "-o", str(tmp_path / "m.json")], capsys) == (
        f"fer-convert: error: {tmp_path / 'm.json'}: would also be the model's sidecar; name the output <name>.tflite")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["m.refused.tflite", "m.verify.tflite", "m.refused.verify.tflite"])
def test_an_output_named_like_another_models_companion_is_refused_before_converting(tmp_path, capsys, name):
    err = error_of([str(tmp_path / "nope.keras"), "-o", str(tmp_path / name)], capsys)
    assert err.startswith(f"fer-convert: error: {tmp_path / name}: a name ending in .verify, .refused is kept ")


@pytest.mark.parametrize("model_id", ["", "a\nb", "tab\there"])
def test_a_model_id_that_is_not_one_printable_line_is_a_usage_error(tmp_path, capsys, model_id):
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path / "nope.keras"), "-o", str(tmp_path / "m.tflite"), "--model-id", model_id])
    assert exit_.value.code == 2
    assert "argument --model-id: " in capsys.readouterr().err


@pytest.mark.parametrize("bundle_name", ["m.tflite", "m.json", "m.golden.npz"])
def test_a_bundle_over_one_of_its_own_parts_is_refused_before_converting(tmp_path, capsys, bundle_name):
    argv = [str(tmp_path / "nope.keras"), "-o", str(tmp_path / "m.tflite"), "--bundle", str(tmp_path / bundle_name)]
    assert error_of(argv, capsys).startswith(f"fer-convert: error: {tmp_path / bundle_name}: is the bundle's ")
    assert leftovers(tmp_path) == []


def test_a_bundle_into_a_missing_folder_is_refused_before_converting(tmp_path, capsys):
    argv = [str(tmp_path / "nope.keras"), "-o", str(tmp_path / "m.tflite"), "--bundle", str(tmp_path / "gone" / "b")]
    assert error_of(argv, capsys) == (f"fer-convert: error: {tmp_path / 'gone' / 'b'}: its folder does not exist; "
                                      "--bundle names a file in an existing folder")


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


@pytest.mark.parametrize("flag", ["-o", "--bundle"])
def test_an_output_onto_the_keras_model_is_refused(tiny_run, tmp_path, capsys, flag):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    keras_file = run / "model.keras"
    before = keras_file.read_bytes()
    outputs = {"-o": str(keras_file)} if flag == "-o" else {"-o": str(tmp_path / "m.tflite"), "--bundle": str(keras_file)}
    argv = [str(run), *[part for pair in outputs.items() for part in pair]]
    assert error_of(argv, capsys) == (f"fer-convert: error: {keras_file}: is the Keras model being converted; "
                                      f"{'-o/--output' if flag == '-o' else '--bundle'} names a new file")
    assert keras_file.read_bytes() == before
