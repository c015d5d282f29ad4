import json

import numpy as np

from training.model import ModelOptions, build_model
from training.soup import main

TINY = dict(arch="cnn-bilstm", conv_blocks=1, filters=8, lstm_units=8, dense_units=[16], augment=False)


def test_soup_is_the_weighted_mean_of_two_runs_and_a_full_run(tmp_path, tiny_run, make_run, tiny_fer_csv):
    import keras

    other = make_run(build_model(ModelOptions(**TINY)), ModelOptions(**TINY))
    out = tmp_path / "soup"
    assert main([str(tiny_run), str(other), "--share", "0.25", "--run-dir", str(out), "--data", str(tiny_fer_csv)]) == 0
    first, second, soup = (keras.models.load_model(p / "model.keras") for p in (tiny_run, other, out))
    expected = 0.25 * first.get_layer("emotion").get_weights()[0] + 0.75 * second.get_layer("emotion").get_weights()[0]
    assert np.allclose(soup.get_layer("emotion").get_weights()[0], expected)
    metadata = json.loads((out / "metadata.json").read_text())
    assert [i["share"] for i in metadata["source"]["soup"]] == [0.25, 0.75]
    assert (out / "privatetest_report.json").is_file()


def test_different_networks_are_refused(tmp_path, tiny_run, make_run, tiny_fer_csv, capsys):
    wider = ModelOptions(**{**TINY, "filters": 4})
    other = make_run(build_model(wider), wider)
    assert main([str(tiny_run), str(other), "--run-dir", str(tmp_path / "s"), "--data", str(tiny_fer_csv)]) == 1
    assert "not the same network" in capsys.readouterr().err


def test_soup_framing_follows_the_second_run_unless_told(tmp_path, tiny_run, make_run, tiny_fer_csv):
    other = make_run(build_model(ModelOptions(**TINY)), ModelOptions(**TINY))
    framings = {}
    for name, flags in (("inherited", []), ("aligned", ["--align-faces"])):
        out = tmp_path / name
        assert main([str(tiny_run), str(other), "--run-dir", str(out), "--data", str(tiny_fer_csv), *flags]) == 0
        framings[name] = json.loads((out / "metadata.json").read_text())["framing"]["align"]
    assert framings == {"inherited": False, "aligned": True}


def test_runs_that_record_no_data_ask_for_data(tmp_path, capsys):
    from edge.metadata import ModelMetadata, write_metadata

    run = tmp_path / "run"
    run.mkdir()
    build_model(ModelOptions(**TINY)).save(run / "model.keras")
    write_metadata(run, ModelMetadata(model_id="tiny", options=ModelOptions(**TINY).to_dict()))  # no source.data
    assert main([str(run), str(run), "--run-dir", str(tmp_path / "soup")]) == 1
    assert capsys.readouterr().err == (
        f"fer-soup: error: {run / 'metadata.json'}: the run records no data file (source.data); pass --data\n"
    )
    assert not (tmp_path / "soup").exists()


def test_a_run_whose_data_file_is_not_here_asks_for_data(tmp_path, capsys):
    from edge.metadata import ModelMetadata, write_metadata

    run = tmp_path / "run"
    run.mkdir()
    build_model(ModelOptions(**TINY)).save(run / "model.keras")
    gone = tmp_path / "elsewhere" / "fer2013.csv"
    write_metadata(run, ModelMetadata(model_id="tiny", options=ModelOptions(**TINY).to_dict(), source={"data": str(gone)}))
    assert main([str(run), str(run), "--run-dir", str(tmp_path / "soup")]) == 1
    assert capsys.readouterr().err == (
        f"fer-soup: error: {run / 'metadata.json'}: the run's data file (source.data) {gone} is not here; pass --data\n"
    )


def test_a_taken_run_dir_or_bad_data_leaves_nothing_written(tmp_path, tiny_run, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("emotion,pixels,Usage\n0,1 2 3,Training\n")
    assert main([str(tiny_run), str(tiny_run), "--run-dir", str(tmp_path / "soup"), "--data", str(bad)]) == 1
    assert str(bad) in capsys.readouterr().err
    assert not (tmp_path / "soup").exists()
    assert main([str(tiny_run), str(tiny_run), "--run-dir", str(tiny_run)]) == 1
    assert capsys.readouterr().err.endswith("): choose another --run-dir\n")


def test_a_second_run_whose_sidecar_does_not_describe_its_model_is_refused(tmp_path, capsys):
    from edge.metadata import ModelMetadata, write_metadata

    run = tmp_path / "run"
    run.mkdir()
    build_model(ModelOptions(**TINY)).save(run / "model.keras")
    wider = ModelOptions(**TINY | {"filters": TINY["filters"] * 2}).to_dict()
    write_metadata(run, ModelMetadata(model_id="tiny", options=wider, source={"data": str(run / "model.keras")}))
    assert main([str(run), str(run), "--run-dir", str(tmp_path / "soup")]) == 1
    assert capsys.readouterr().err.startswith(f"fer-soup: error: {run / 'metadata.json'}: field 'options' does not "
                                              f"describe {run / 'model.keras'}")
    assert not (tmp_path / "soup").exists()
