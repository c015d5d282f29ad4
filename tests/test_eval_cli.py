import json

import pytest

from training.eval_cli import main


def test_fer_eval_reports_a_run_and_its_tflite(tmp_path, tiny_run, tflite_model, tiny_fer_csv, capsys):
    for model, out in [(tiny_run, tmp_path / "keras"), (tflite_model, tmp_path / "tflite")]:
        assert main([str(model), "--data", str(tiny_fer_csv), "--out", str(out)]) == 0
        report = json.loads((out / "privatetest_report.json").read_text())
        assert report["samples"] == 56 and report["accuracy"] > 0.5
        assert (out / "privatetest_confusion_normalized.png").exists()
    assert "macro F1" in capsys.readouterr().out


def test_fer_eval_names_a_missing_model(tmp_path, tiny_fer_csv, capsys):
    assert main([str(tmp_path / "nope.tflite"), "--data", str(tiny_fer_csv)]) == 1
    assert capsys.readouterr().err.startswith(f"fer-eval: error: {tmp_path / 'nope.tflite'}: no such model file")


def test_haar_recrop_finds_no_face_in_noise(tmp_path, tiny_run, tiny_fer_csv, capsys):
    assert main([str(tiny_run), "--data", str(tiny_fer_csv), "--out", str(tmp_path), "--haar"]) == 1
    assert "Haar detector found none of the 56 PrivateTest faces" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-0.4", "0.8", "nan"])
def test_haar_margin_outside_the_agents_bounds_is_refused(value, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["model.tflite", "--haar", "--margin", value])
    assert stop.value.code == 2 and "argument --margin: must be between 0 and 0.5" in capsys.readouterr().err


def test_a_folder_without_a_model_is_named_so(tmp_path, tiny_fer_csv, capsys):
    assert main([str(tmp_path), "--data", str(tiny_fer_csv)]) == 1
    assert capsys.readouterr().err == (f"fer-eval: error: {tmp_path}: a folder without model.keras; give a fer-train "
                                       "run directory or a .keras or .tflite file\n")


@pytest.mark.parametrize("flags, complaint", [
    (["--photos", "p", "--data", "f.csv", "--haar"], "--data, --haar: for FER2013 splits, not --photos"),
    (["--config", "edge.toml"], "--config: sets the detector for --photos"),
    (["--margin", "0.1"], "--margin: grows the boxes of --haar; give --haar too"),
])
def test_flags_that_would_be_ignored_are_refused(tmp_path, flags, complaint, capsys):
    assert main([str(tmp_path), *flags]) == 1
    assert capsys.readouterr().err.startswith(f"fer-eval: error: {complaint}")
