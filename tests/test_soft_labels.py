import gzip

import numpy as np
import pytest

from edge.errors import DataError
from edge.labels import EMOTIONS
from training.cli import main
from training.data import load_fer2013
from training.options import TrainOptions
from training.soft_labels import SoftLabelSpec, load_votes, soft_targets
from training.train import training_targets

HEADER = "row,usage,ferplus_images,match_mad,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
TINY_FLAGS = ["--conv-blocks", "1", "--filters", "8", "--lstm-units", "8", "--dense-units", "16", "--verbose", "0"]


def votes_line(row: int, votes: list[int] | None) -> str:
    cells = "," * 9 if votes is None else ",".join(map(str, votes))
    return f"{row},Training,fer{row:07d}.png,1.3,{cells}"


def write_votes(path, lines: list[str], gzipped=True):
    text = "\n".join([HEADER, *lines]) + "\n"
    path.write_bytes(gzip.compress(text.encode()) if gzipped else text.encode())
    return path


@pytest.fixture(scope="module")
def tiny_votes(tmp_path_factory, tiny_fer_csv):
    """Votes for every row of tiny_fer_csv: all ten annotators say happiness, but row 1 is not a face, row 2 has none."""
    rows = len(load_fer2013(tiny_fer_csv).labels)
    lines = [votes_line(r, [0, 10, 0, 0, 0, 0, 0, 0, 0, 0]) for r in range(rows)]
    lines[1] = votes_line(1, [0, 1, 0, 0, 0, 0, 0, 0, 2, 7])
    lines[2] = votes_line(2, None)
    return write_votes(tmp_path_factory.mktemp("votes") / "votes.csv.gz", lines)


def test_votes_land_in_our_label_order(tmp_path):
    votes = load_votes(write_votes(tmp_path / "v.csv.gz", [votes_line(0, [2, 0, 0, 0, 6, 2, 0, 1, 0, 0])]))
    assert votes.distribution[0].tolist() == pytest.approx([0.6, 0.2, 0, 0, 0, 0, 0.2])  # anger, disgust, neutral
    assert votes.has_votes.tolist() == [True] and votes.not_a_face.tolist() == [False]


def test_mixing_keeps_one_hot_where_votes_are_missing(tiny_votes):
    votes = load_votes(tiny_votes)
    targets = soft_targets(np.array([0, 0, 0]), np.array([0, 1, 2]), votes, weight=0.25)
    happy = EMOTIONS.index("happy")
    assert targets[0, 0] == pytest.approx(0.75) and targets[0, happy] == pytest.approx(0.25)
    assert targets[2].tolist() == [1, 0, 0, 0, 0, 0, 0]
    assert np.allclose(targets.sum(1), 1)


@pytest.mark.parametrize("line, message", [
    (votes_line(0, [0, 1, 0, 0, 0, 0, 0, 0, 0, "x"]), "line 2: vote column 'NF' is 'x'"),
    (votes_line(5, [0, 1, 0, 0, 0, 0, 0, 0, 0, 0]), "line 2: row '5', expected 0"),
    ('0,Training,"fer' + "\n".join(votes_line(r, None) for r in range(5000)), "line 2: cannot split the row into fields"),
    (votes_line(0, [0, 1, 0, 0, 0, 0, 0, 0, 0, "inf"]), "line 2: vote column 'NF' is 'inf', not a count"),
    (votes_line(0, ["nan", 1, 0, 0, 0, 0, 0, 0, 0, 0]), "line 2: vote column 'neutral' is 'nan', not a count"),
    (votes_line(0, [0, "1e999", 0, 0, 0, 0, 0, 0, 0, 0]), "line 2: vote column 'happiness' is '1e999', not a count"),
    (votes_line(0, [0, "²", 0, 0, 0, 0, 0, 0, 0, 0]), "line 2: vote column 'happiness' is '²', not a count"),
    ('0,Training,"fer0.png\n' + votes_line(1, None) + '",1.3' + "," * 10,
     "line 2: a quoted field runs on to line 3; is a closing quote missing"),
])
def test_bad_vote_rows_are_named(tmp_path, line, message):
    with pytest.raises(DataError, match=message):
        load_votes(write_votes(tmp_path / "v.csv", [line], gzipped=False))


@pytest.mark.parametrize("text", ["ferplus:2", "ferplus:x", "affectnet"])
def test_soft_label_spec_rejects_what_it_cannot_use(text):
    with pytest.raises(ValueError, match="--soft-labels"):
        SoftLabelSpec.parse(text)


def test_training_targets_follow_the_votes_and_drop_non_faces(tiny_fer_csv, tiny_votes):
    data = load_fer2013(tiny_fer_csv)
    options = TrainOptions(tiny_fer_csv, ".", soft_labels="ferplus:1", ferplus_votes=tiny_votes, drop_not_faces=True)
    images, targets, labels = training_targets(options, data)
    assert len(images) == len(data.split("Training")[1]) - 1
    assert targets[0].argmax() == EMOTIONS.index("happy") and targets[1].tolist() == np.eye(7)[labels[1]].tolist()


def test_fer_train_with_soft_labels_records_them(tmp_path, tiny_fer_csv, tiny_votes):
    run = tmp_path / "run"
    assert main(["--data", str(tiny_fer_csv), "--run-dir", str(run), "--epochs", "1", "--soft-labels", "ferplus:0.5",
                 "--ferplus-votes", str(tiny_votes), "--crop-augment", "--optimizer", "sgd", "--align-faces",
                 *TINY_FLAGS]) == 0
    import json

    metadata = json.loads((run / "metadata.json").read_text())
    training = metadata["training"]
    assert training["soft_labels"] == "ferplus:0.5" and training["crop_augment"] and training["optimizer"] == "sgd"
    assert metadata["framing"] == {"margin": 0.0, "align": True}


def test_bad_votes_or_resume_file_leave_no_run_folder(tmp_path, tiny_fer_csv, capsys):
    bad_votes = write_votes(tmp_path / "v.csv", [votes_line(5, [0, 1, 0, 0, 0, 0, 0, 0, 0, 0])], gzipped=False)
    not_keras = tmp_path / "last.keras"
    not_keras.write_text("not a model")
    for flags in (["--soft-labels", "ferplus", "--ferplus-votes", str(bad_votes)], ["--resume", str(not_keras)]):
        assert main(["--data", str(tiny_fer_csv), "--run-dir", str(tmp_path / "run"), *flags, *TINY_FLAGS]) == 1
        assert str(tmp_path) in capsys.readouterr().err
        assert not (tmp_path / "run").exists()
