import json

import cv2
import numpy as np
import pytest

from edge.classifier import TFLiteEmotionClassifier
from edge.config import DetectorConfig, EdgeConfig
from edge.errors import DataError
from edge.framing import Framing
from edge.labels import EMOTIONS
from test_detector import clip_frame
from training.eval_cli import main
from training.photos import agent_faces, read_labelled_photos


@pytest.fixture(scope="module")
def face_photos(tmp_path_factory):
    """Two photos of a demo-clip face each (cut from a real frame with room around it) and one without a face."""
    from edge.detector import HaarFaceDetector

    folder = tmp_path_factory.mktemp("photos")
    frame = clip_frame(55)
    paths = []
    for i, (x, y, w, h) in enumerate(HaarFaceDetector(DetectorConfig()).detect(frame)[:2]):
        paths.append(folder / f"face{i}.jpg")
        cv2.imwrite(str(paths[-1]), frame[max(0, y - 40) : y + h + 40, max(0, x - 40) : x + w + 40])
    paths.append(folder / "wall.png")
    cv2.imwrite(str(paths[-1]), np.full((300, 300), 128, np.uint8))
    return folder, paths


def predicted_labels(model, paths) -> list[str]:
    faces, _ = agent_faces(paths, EdgeConfig(), Framing())
    return [emotion.label for emotion in TFLiteEmotionClassifier(model).classify(faces)]


def test_photos_are_scored_through_the_agents_path(tmp_path, tflite_model, face_photos, capsys):
    folder, paths = face_photos
    first, second = predicted_labels(tflite_model, paths[:2])
    wrong = next(label for label in EMOTIONS if label != second)
    labels = [first, wrong, "happy"]  # right, wrong, and a photo without a face
    (folder / "labels.csv").write_text("path,label\n" + "".join(f"{p.name},{l}\n" for p, l in zip(paths, labels)))
    assert main([str(tflite_model), "--photos", str(folder), "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "photos_summary.json").read_text())
    assert (summary["photos"], summary["faces_found"]) == (3, 2)
    assert summary["accuracy_all_photos"] == pytest.approx(1 / 3) and summary["accuracy_found_faces"] == 0.5
    assert summary["missed"] == [str(paths[2])]
    assert (tmp_path / "photos_confusion.png").is_file() and "faces found in 2 of 3" in capsys.readouterr().out


def test_class_folders_label_the_photos(tmp_path, tflite_model, face_photos):
    _, paths = face_photos
    (tmp_path / "photos" / "sad").mkdir(parents=True)
    for path in paths:
        (tmp_path / "photos" / "sad" / path.name).write_bytes(path.read_bytes())
    assert main([str(tflite_model), "--photos", str(tmp_path / "photos"), "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "photos_report.json").read_text())
    assert report["samples"] == 2 and report["confusion_matrix"][EMOTIONS.index("sad")] != [0] * 7


@pytest.mark.parametrize("row, message", [
    ("face0.jpg,happyish", "labels.csv: line 2: unknown emotion 'happyish'"),
    ("gone.jpg,happy", "labels.csv: line 2: .*gone.jpg: no such photo"),
    ("face,0.jpg,happy", r"labels.csv: line 2: 3 values, but the header names 2 columns \(path,label\)"),
])
def test_bad_label_rows_name_the_line(tmp_path, tflite_model, face_photos, capsys, row, message):
    folder, _ = face_photos
    listing = tmp_path / "labels.csv"
    listing.write_text(f"path,label\n{row}\n")
    (tmp_path / "face0.jpg").write_bytes((folder / "face0.jpg").read_bytes())
    assert main([str(tflite_model), "--photos", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fer-eval: error: ") and __import__("re").search(message, err) and "Traceback" not in err


def test_labels_csv_names_a_photo_listed_twice_and_a_row_without_label(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8), np.uint8))
    (tmp_path / "labels.csv").write_text("path, label\na.png, happy\n./a.png,sad\n")
    with pytest.raises(DataError, match=r"labels.csv: line 3: ./a.png is listed on line 2 already"):
        read_labelled_photos(tmp_path)
    (tmp_path / "labels.csv").write_text("path,label\na.png,\n")
    with pytest.raises(DataError, match=r"labels.csv: line 2: no label; expected one of angry"):
        read_labelled_photos(tmp_path)


def test_class_folders_take_photos_below_them_and_skip_hidden_ones(tmp_path):
    for folder in ("happy", "happy/2024", "happy/.thumbnails", ".thumbnails", "sad"):
        (tmp_path / folder).mkdir()
        cv2.imwrite(str(tmp_path / folder / "a.png"), np.zeros((8, 8), np.uint8))
    photos = read_labelled_photos(tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in photos.paths) == ["happy/2024/a.png", "happy/a.png", "sad/a.png"]
    assert sorted(photos.labels.tolist()) == [EMOTIONS.index("happy")] * 2 + [EMOTIONS.index("sad")]


def test_an_unclosed_quote_in_labels_csv_names_the_line_it_opens_on(tmp_path):
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.zeros((8, 8), np.uint8))
    (tmp_path / "labels.csv").write_text('path,label\na.png,happy\n\n"b.png,sad\nb.png,sad\nb.png,sad\n')
    with pytest.raises(DataError) as error:
        read_labelled_photos(tmp_path)
    assert str(error.value) == (f"{tmp_path / 'labels.csv'}: line 4: a quoted field runs on to line 6; "
                                "is a closing quote missing?")


def test_an_unreadable_photo_is_named(tmp_path, tflite_model, capsys):
    (tmp_path / "happy").mkdir()
    (tmp_path / "happy" / "broken.jpg").write_bytes(b"not a jpeg")
    assert main([str(tflite_model), "--photos", str(tmp_path)]) == 1
    assert "broken.jpg: not a readable image" in capsys.readouterr().err


def test_a_spreadsheets_labels_csv_is_read_or_named(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8), np.uint8))
    (tmp_path / "labels.csv").write_bytes(b"\xef\xbb\xbfpath,label\r\na.png,happy\r\n")  # Excel's "CSV UTF-8"
    assert read_labelled_photos(tmp_path).labels.tolist() == [EMOTIONS.index("happy")]
    (tmp_path / "labels.csv").write_text("path,label\na.png,happy,,\n")  # a spreadsheet's empty trailing columns
    assert read_labelled_photos(tmp_path).labels.tolist() == [EMOTIONS.index("happy")]
    (tmp_path / "labels.csv").write_bytes(b"path,label\na.png,happy\ncaf\xe9.png,sad\n")  # Excel's Windows-1252 "CSV"
    with pytest.raises(DataError, match="labels.csv: line 3: not UTF-8 text"):
        read_labelled_photos(tmp_path)
