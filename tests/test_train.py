import csv
import json

import numpy as np
import pytest

from edge.labels import EMOTIONS
from edge.metadata import file_sha256, read_metadata
from training.cli import main
from training.model import ARCHS, ModelOptions, build_model

TINY_FLAGS = ["--conv-blocks", "1", "--filters", "8", "--lstm-units", "8", "--dense-units", "16", "--verbose", "0"]
ARTIFACTS = [
    "model.keras", "last.keras", "metadata.json", "history.csv", "training_curves.png",
    "dataset.md", "dataset.csv", "dataset_distribution.png",
    "privatetest_report.txt", "privatetest_report.json", "privatetest_confusion.png",
    "privatetest_confusion_normalized.png", "publictest_report.json",
]


def test_two_epoch_run_writes_every_artifact(tmp_path, tiny_fer_csv, capsys):
    run = tmp_path / "run"
    assert main(["--data", str(tiny_fer_csv), "--run-dir", str(run), "--epochs", "2", *TINY_FLAGS]) == 0
    assert [name for name in ARTIFACTS if not (run / name).is_file()] == []
    metadata = json.loads((run / "metadata.json").read_text())
    assert metadata["labels"] == list(EMOTIONS)
    assert metadata["source"]["epochs_run"] == 2 and len(metadata["source"]["data_sha256"]) == 64
    assert metadata["options"]["filters"] == 8
    choice = metadata["source"]["flip_average_choice"]
    assert metadata["flip_average"] == (choice["publictest_accuracy_flip_averaged"] > choice["publictest_accuracy_plain"])
    assert "PrivateTest accuracy" in capsys.readouterr().out


def test_resume_continues_a_cut_run(tmp_path, tiny_fer_csv):
    run = tmp_path / "run"
    flags = ["--data", str(tiny_fer_csv), "--run-dir", str(run), "--epochs", "3", *TINY_FLAGS]
    assert main([*flags, "--max-minutes", "0.0001"]) == 0  # the time budget cuts it after its first epoch
    assert json.loads((run / "metadata.json").read_text())["source"]["epochs_run"] == 1
    assert main([*flags, "--resume", str(run / "last.keras")]) == 0
    assert json.loads((run / "metadata.json").read_text())["source"]["epochs_run"] == 3


def test_a_session_pause_leaves_the_run_cut_for_resume(tmp_path, tiny_fer_csv, capsys):
    import keras

    run = tmp_path / "run"
    flags = ["--data", str(tiny_fer_csv), "--run-dir", str(run), "--epochs", "3", "--optimizer", "sgd", *TINY_FLAGS]
    assert main([*flags, "--session-minutes", "0.0001"]) == 0
    assert f"paused after epoch 1 of 3; continue with the same flags and --resume {run / 'last.keras'}" in capsys.readouterr().out
    assert not (run / "privatetest_report.json").exists()
    paused = read_metadata(run / "model.keras")  # the best epoch so far can be evaluated, benchmarked, converted
    assert paused.source["paused_after_epoch"] == 1 and paused.metrics == {}
    assert paused.model_id == f"fer2013-cnn-bilstm-{file_sha256(run / 'model.keras')[:8]}"
    steps = int(keras.models.load_model(run / "last.keras").optimizer.iterations)
    # what a session commits: the weights without optimizer state
    keras.models.load_model(run / "last.keras", compile=False).save(run / "last_weights.keras")
    assert main([*flags, "--resume", str(run / "last_weights.keras")]) == 0
    source = json.loads((run / "metadata.json").read_text())["source"]
    assert source["epochs_run"] == 3 and "paused_after_epoch" not in source
    with open(run / "sittings.csv", newline="") as handle:
        sittings = list(csv.DictReader(handle))
    assert [(row["first_epoch"], row["last_epoch"]) for row in sittings] == [("1", "1"), ("2", "3")]
    assert source["training_seconds"] == pytest.approx(sum(float(row["seconds"]) for row in sittings), abs=0.2)
    assert float(sittings[0]["seconds"]) > 0  # the first sitting's time is in the total, not only the last one's
    assert int(keras.models.load_model(run / "last.keras").optimizer.iterations) == 3 * steps


def test_a_resumed_run_keeps_its_best_epoch(tmp_path):
    from training.train import best_val_accuracy

    history = tmp_path / "history.csv"
    assert best_val_accuracy(history) is None
    history.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.3,1.8,0.41,1.7\n1,0.4,1.6,0.38,1.7\n")
    assert best_val_accuracy(history) == 0.41


def test_init_from_starts_at_the_given_weights(tmp_path, tiny_fer_csv):
    import keras

    first, second = tmp_path / "first", tmp_path / "second"
    flags = ["--data", str(tiny_fer_csv), *TINY_FLAGS, "--no-augment"]
    assert main([*flags, "--run-dir", str(first), "--epochs", "1"]) == 0
    assert main([*flags, "--run-dir", str(second), "--epochs", "1", "--learning-rate", "0",
                 "--weight-decay", "0", "--init-from", str(first / "model.keras")]) == 0
    before, after = (keras.models.load_model(run / "model.keras") for run in (first, second))
    assert np.allclose(before.get_layer("emotion").get_weights()[0], after.get_layer("emotion").get_weights()[0])
    stages = (second / "history_stages.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in stages] == ["stage", "first", "second"]


def test_resuming_with_other_network_flags_is_refused_before_training(tmp_path, tiny_fer_csv, capsys):
    run = tmp_path / "run"
    flags = ["--data", str(tiny_fer_csv), "--run-dir", str(run), "--epochs", "3", *TINY_FLAGS]
    assert main([*flags, "--session-minutes", "0.0001"]) == 0
    history, metadata = (run / "history.csv").read_text(), (run / "metadata.json").read_text()
    wider = [*flags, "--filters", "12"]  # the later --filters wins
    assert main([*wider, "--resume", str(run / "last.keras")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (
        f"fer-train: error: --resume {run / 'last.keras'}: these flags build another network (layer 'block1_conv1': "
        "the options build weights of shape (3, 3, 1, 12), the model's are (3, 3, 1, 8)); "
        "give the network flags the run started with")
    assert (run / "history.csv").read_text() == history and (run / "metadata.json").read_text() == metadata


@pytest.mark.parametrize("flag", ["--init-from", "--resume"])
def test_a_file_that_is_no_keras_model_is_one_line(tmp_path, tiny_fer_csv, capsys, flag):
    bogus = tmp_path / "weights.keras"
    bogus.write_bytes(b"not a zip archive")
    argv = ["--data", str(tiny_fer_csv), "--run-dir", str(tmp_path / "run"), *TINY_FLAGS, flag, str(bogus)]
    assert main(argv) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"fer-train: error: {flag} {bogus}: not a .keras file (a .keras file is a zip; this one is empty or damaged)")


def test_init_from_a_model_of_other_network_flags_is_one_line(tmp_path, tiny_fer_csv, capsys):
    first = tmp_path / "first"
    assert main(["--data", str(tiny_fer_csv), "--run-dir", str(first), "--epochs", "1", *TINY_FLAGS]) == 0
    argv = ["--data", str(tiny_fer_csv), "--run-dir", str(tmp_path / "second"), "--epochs", "1", *TINY_FLAGS,
            "--filters", "12", "--init-from", str(first / "model.keras")]
    capsys.readouterr()
    assert main(argv) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith(
        f"fer-train: error: --init-from {first / 'model.keras'}: these flags build another network (layer ")
    assert errors[0].endswith("give the network flags it was trained with") and not (tmp_path / "second").exists()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("attention", [False, True])
def test_each_arch_builds_and_trains_a_step(arch, attention):
    if attention and arch == "cnn":
        pytest.skip("attention pools BiLSTM outputs; the CNN has none")
    options = ModelOptions(arch=arch, conv_blocks=1, filters=4, lstm_units=4, dense_units=[8], attention=attention)
    model = build_model(options)
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = np.random.rand(8, 48, 48, 1).astype("float32"), np.arange(8) % 7
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert model.predict(x, verbose=0).shape == (8, 7)
    names = {layer.name for layer in model.layers}
    assert ("bilstm" in names) == (arch != "cnn")
    assert ("block1_conv1" in names) == (arch != "bilstm")


def test_unknown_arch_is_refused():
    with pytest.raises(ValueError, match="arch 'rnn'"):
        ModelOptions(arch="rnn")


def test_an_existing_run_is_refused_unless_overwritten(tmp_path, tiny_fer_csv, capsys):
    flags = ["--data", str(tiny_fer_csv), "--run-dir", str(tmp_path / "run"), "--epochs", "1", *TINY_FLAGS]
    assert main(flags) == 0
    before = (tmp_path / "run" / "model.keras").stat().st_mtime_ns
    assert main(flags) == 1
    assert "already holds a run (model.keras, last.keras, history.csv): --resume" in capsys.readouterr().err
    assert (tmp_path / "run" / "model.keras").stat().st_mtime_ns == before
    assert main([*flags, "--overwrite"]) == 0
    assert len((tmp_path / "run" / "sittings.csv").read_text().splitlines()) == 2  # the replaced run's sitting is gone


def test_unreadable_data_leaves_no_run_folder(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"emotion,pixels,Usage\n0,\xff\xfe,Training\n")
    assert main(["--data", str(bad), "--run-dir", str(tmp_path / "run"), "--epochs", "1", *TINY_FLAGS]) == 1
    assert "bad.csv: line 2: not UTF-8 text" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_every_option_field_is_a_flag_with_its_docstring_as_help():
    import dataclasses

    from training.cli import build_parser
    from training.flags import field_docs
    from training.options import TrainOptions

    actions = {a.dest: a for a in build_parser()._actions}
    for cls in (TrainOptions, ModelOptions):
        for field in dataclasses.fields(cls):
            if field.name == "model":
                continue
            assert actions[field.name].help.replace("%%", "%") == field_docs(cls)[field.name] != ""
    assert actions["arch"].choices == ARCHS and actions["augment"].option_strings == ["--no-augment"]


def test_data_defaults_to_the_fer2013_variable(monkeypatch, tmp_path):
    from training.cli import build_parser

    monkeypatch.setenv("FER2013", str(tmp_path / "fer.csv"))
    assert build_parser().parse_args(["--run-dir", "r"]).data == tmp_path / "fer.csv"


@pytest.mark.parametrize("flag, value, complaint", [
    ("--epochs", "0", "--epochs must be 1 or more, got 0"),
    ("--batch-size", "0", "--batch-size must be 1 or more, got 0"),
    ("--learning-rate", "-0.001", "--learning-rate must be 0 or more (and finite), got -0.001"),
    ("--learning-rate", "inf", "--learning-rate must be 0 or more (and finite), got inf"),
    ("--max-minutes", "0", "--max-minutes must be above 0, got 0.0"),
    ("--momentum", "1.5", "--momentum must be in 0..1 (1 excluded), got 1.5"),
    ("--ferplus-votes", "votes.csv", "--ferplus-votes needs --soft-labels ferplus[:WEIGHT]; without it the votes are "
                                     "not read"),
    ("--bn-momentum", "nan", "bn_momentum must be in 0..1 (1 excluded), got nan"),
    ("--conv-dropout", "1.5", "conv_dropout must be in 0..1 (1 excluded), got 1.5"),
    ("--convs-per-block", "0", "convs_per_block must be 1 or more, got 0"),
    ("--filters", "0", "filters must be 1 or more, got 0"),
    ("--dense-units", "0", "dense_units must each be 1 or more, got [0]"),
])
def test_a_value_no_run_can_use_is_one_line_before_anything_is_written(tmp_path, capsys, flag, value, complaint):
    run = tmp_path / "run"
    assert main(["--data", str(tmp_path / "never-read.csv"), "--run-dir", str(run), flag, value]) == 1
    assert capsys.readouterr().err == f"fer-train: error: {complaint}\n" and not run.exists()


def test_a_run_dir_that_is_a_file_is_one_line(tmp_path, capsys):
    taken = tmp_path / "notes.txt"
    taken.write_text("not a run")
    assert main(["--data", str(tmp_path / "never-read.csv"), "--run-dir", str(taken)]) == 1
    assert capsys.readouterr().err == f"fer-train: error: {taken}: a file, not a folder; --run-dir names the folder the run writes into\n"


def test_a_full_disk_is_one_line_that_says_how_to_go_on(tmp_path, tiny_fer_csv, capsys, small_disk):
    run = small_disk("96k") / "run"
    argv = ["--data", str(tiny_fer_csv), "--run-dir", str(run), "--epochs", "2", *TINY_FLAGS]
    assert main(argv) == 1
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith(f"fer-train: error: {run}: cannot write the run (") and "No space left on device" in err
    resumable = (run / "last.keras").is_file()
    assert err.endswith(f"--resume {run / 'last.keras'} goes on from the last saved epoch" if resumable
                        else "make room, then run again with --overwrite")
    assert main(argv) == 1  # the same command again: what it says is what is there
    assert ("--resume" in capsys.readouterr().err.splitlines()[-1]) == resumable


def test_resume_names_a_history_line_a_killed_run_left_half_written(tmp_path, tiny_fer_csv, capsys):
    run = tmp_path / "run"
    flags = ["--data", str(tiny_fer_csv), "--run-dir", str(run), "--epochs", "3", *TINY_FLAGS]
    assert main([*flags, "--session-minutes", "0.0001"]) == 0
    history = run / "history.csv"
    whole = history.read_text()
    history.write_text(whole.rstrip("\r\n"))  # killed before the line end: the next epoch must start a new line
    assert main([*flags, "--resume", str(run / "last.keras"), "--session-minutes", "0.0001"]) == 0
    columns = len(whole.splitlines()[0].split(","))
    assert [len(line.split(",")) for line in history.read_text().splitlines()] == [columns] * 3
    history.write_text(whole + "1,0.2,1.9")  # killed mid-row
    capsys.readouterr()
    assert main([*flags, "--resume", str(run / "last.keras")]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"fer-train: error: {history}: line 3 is not a whole epoch's row ('1,0.2,1.9'); the run was stopped while "
        "writing it? Delete that line (and any after it) and resume again")


def test_resuming_a_run_that_has_all_its_epochs_asks_for_more(tmp_path, tiny_fer_csv, capsys):
    run = tmp_path / "run"
    flags = ["--data", str(tiny_fer_csv), "--run-dir", str(run), "--epochs", "1", *TINY_FLAGS]
    assert main(flags) == 0
    sittings = (run / "sittings.csv").read_text()
    assert main([*flags, "--resume", str(run / "last.keras")]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"fer-train: error: --resume {run / 'last.keras'}: {run} ran 1 epoch already, and --epochs is 1; "
        "raise --epochs to train on (its schedule is laid over --epochs)")
    assert (run / "sittings.csv").read_text() == sittings


def test_a_run_in_the_current_folder_names_its_stage_after_the_folder(tmp_path, tiny_fer_csv, monkeypatch):
    run = tmp_path / "here"
    run.mkdir()
    monkeypatch.chdir(run)
    assert main(["--data", str(tiny_fer_csv), "--run-dir", ".", "--epochs", "1", *TINY_FLAGS]) == 0
    with open(run / "history_stages.csv") as handle:
        assert [row["stage"] for row in csv.DictReader(handle)] == ["here"]


def test_an_empty_run_dir_is_a_usage_error(tmp_path, tiny_fer_csv, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(["--data", str(tiny_fer_csv), "--run-dir", "", "--epochs", "1", *TINY_FLAGS])
    assert stop.value.code == 2 and "argument --run-dir: is empty" in capsys.readouterr().err
