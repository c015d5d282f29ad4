import json

import pytest

from converter.bench import main
from converter.macs import count_macs
from training.model import ModelOptions, build_model


def test_macs_add_up_by_hand():
    options = ModelOptions(conv_blocks=1, filters=4, lstm_units=4, dense_units=[8])
    twin = build_model(options, unroll=True, with_augmentation=False)
    convs = 48 * 48 * 4 * 9 * (1 + 4)
    bilstm = 2 * 24 * 4 * 4 * (24 * 4 + 4)  # 24 rows of 24 columns x 4 channels
    assert count_macs(twin) == convs + bilstm + 8 * 8 + 8 * 7


def test_bench_prints_and_writes_ratios(tiny_run, tflite_model, tmp_path, capsys):
    out = tmp_path / "new folder" / "bench.json"  # a missing folder is made
    argv = [str(tiny_run), "--int8", str(tflite_model), "--runs", "20", "--warmup", "2", "--json", str(out)]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "int8/float32" in table and "latency 2 thread(s)" in table
    numbers = json.loads(out.read_text())
    assert numbers["int8"]["size_bytes"] == tflite_model.stat().st_size
    assert numbers["float32"]["latency_ms"]["1"] > 0 and numbers["macs"] > 0


@pytest.mark.parametrize("flags, complaint", [
    (["--json", "."], "argument --json: . is a folder; name the JSON file to write"),
    (["--runs", "0"], "argument --runs: must be 1 or more, got 0"),
    (["--threads", "1", "0"], "argument --threads: must be 1 or more, got 0"),
    (["--warmup", "-5"], "argument --warmup: must be 0 or more, got -5"),
])
def test_bench_refuses_counts_it_cannot_time(flags, complaint, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["run", *flags])
    assert stop.value.code == 2 and complaint in capsys.readouterr().err


def test_bench_refuses_metadata_for_another_network_in_one_line(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes((tiny_run / "model.keras").read_bytes())
    metadata = json.loads((tiny_run / "metadata.json").read_text())
    metadata["options"]["filters"] = 12
    (run / "metadata.json").write_text(json.dumps(metadata))
    assert main([str(run)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"fer-bench: error: {run / 'metadata.json'}: field 'options' does not")


def test_bench_refuses_a_model_given_to_the_wrong_flag_or_an_empty_file(tiny_run, tflite_model_float, tmp_path, capsys):
    assert main([str(tiny_run), "--int8", str(tflite_model_float), "--runs", "1"]) == 1
    assert capsys.readouterr().err.startswith(f"fer-bench: error: {tflite_model_float}: its input is float32, so it "
                                              "is no int8 model; give it to the other flag")
    (tmp_path / "empty.tflite").write_bytes(b"")
    assert main([str(tiny_run), "--float32", str(tmp_path / "empty.tflite"), "--runs", "1"]) == 1
    assert capsys.readouterr().err == f"fer-bench: error: {tmp_path / 'empty.tflite'}: an empty file, not a TFLite model\n"
    assert main([str(tiny_run), "--int8", str(tmp_path), "--runs", "1"]) == 1
    assert capsys.readouterr().err == f"fer-bench: error: {tmp_path}: a folder, not a TFLite model file\n"
