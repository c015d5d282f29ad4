import gzip

import cv2
import numpy as np
import pytest

from edge.errors import DataError
from training.cli import main
from training.data import load_fer2013

GOOD = "3," + " ".join(["7"] * 2304) + ",Training"
BAD_ROWS = {
    "pixel count": ("0," + " ".join(["1"] * 2000) + ",Training", "2000 pixels, expected 2304"),
    "non-numeric pixel": ("0," + " ".join(["1"] * 2303) + " x,PublicTest", "non-numeric pixel 'x'"),
    "label": ("9," + " ".join(["1"] * 2304) + ",Training", "unknown emotion label '9'"),
    "usage": ("1," + " ".join(["1"] * 2304) + ",Validation", "unknown Usage 'Validation'"),
}


def write_csv(path, rows):
    path.write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("case", BAD_ROWS)
def test_bad_row_names_its_line(tmp_path, case):
    row, message = BAD_ROWS[case]
    path = write_csv(tmp_path / "f.csv", [GOOD, row, GOOD])
    with pytest.raises(DataError, match=f"f.csv: line 3: {message}"):
        load_fer2013(path)


def test_skip_bad_rows_counts_them(tmp_path):
    path = write_csv(tmp_path / "f.csv", [GOOD, *(row for row, _ in BAD_ROWS.values()), GOOD])
    data = load_fer2013(path, skip_bad_rows=True)
    assert (len(data.labels), data.skipped) == (2, 4)


def test_fer_train_reports_a_bad_row_and_exits_1(tmp_path, capsys):
    path = write_csv(tmp_path / "f.csv", [BAD_ROWS["label"][0]])
    assert main(["--data", str(path), "--run-dir", str(tmp_path / "run")]) == 1
    assert capsys.readouterr().err.strip() == (
        f"fer-train: error: {path}: line 2: unknown emotion label '9' (expected 0..6) (--skip-bad-rows skips such rows)"
    )


def test_an_unclosed_quote_names_the_line_it_opens_on(tmp_path, capsys):
    path = write_csv(tmp_path / "f.csv", [GOOD, '3,"' + GOOD[2:], *[GOOD] * 60])
    assert main(["--data", str(path), "--run-dir", str(tmp_path / "run")]) == 1
    assert capsys.readouterr().err == (
        f"fer-train: error: {path}: line 3: cannot split the row into fields (field larger than field limit "
        "(131072)); is a closing quote missing?\n"
    )
    assert not (tmp_path / "run").exists()


def test_wrong_header_is_named(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("label,pixels\n")
    with pytest.raises(DataError, match="line 1: header"):
        load_fer2013(path)


def test_gzip_csv_reads_like_plain(tmp_path):
    plain = write_csv(tmp_path / "f.csv", [GOOD, GOOD.replace("Training", "PrivateTest")])
    packed = tmp_path / "f.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    data = load_fer2013(packed)
    assert data.class_counts() == {"Training": [0, 0, 0, 1, 0, 0, 0], "PrivateTest": [0, 0, 0, 1, 0, 0, 0]}
    assert data.images.shape == (2, 48, 48) and data.images[0, 0, 0] == 7


def test_text_that_is_not_utf8_names_its_line(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(f"emotion,pixels,Usage\n{GOOD}\n".encode() + b"3,1 2 3,Priv\xe9Test\n")
    with pytest.raises(DataError, match="f.csv: line 3: not UTF-8 text"):
        load_fer2013(path)


@pytest.mark.parametrize("damage", ["cut short", "not gzip"])
def test_unreadable_gzip_is_named(tmp_path, damage):
    packed = gzip.compress(write_csv(tmp_path / "f.csv", [GOOD] * 20).read_bytes())
    path = tmp_path / "f.csv.gz"
    path.write_bytes(packed[: len(packed) // 2] if damage == "cut short" else b"\x1f\x8b" + bytes(100))
    with pytest.raises(DataError, match=r"f.csv.gz: line \d+: cannot read the gzip file"):
        load_fer2013(path)


def test_image_folder_layout(tmp_path):
    for split, cls, size in [("train", "happy", 48), ("train", "sad", 96), ("test", "fear", 48)]:
        (tmp_path / split / cls).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / split / cls / "a.png"), np.full((size, size), 200, np.uint8))
    data = load_fer2013(tmp_path)
    assert data.split("Training")[1].tolist() == [3, 4]
    assert data.split("PrivateTest")[0].shape == (1, 48, 48)


def test_an_image_folder_without_val_holds_out_an_eighth_of_each_class(tmp_path):
    for cls, count in [("happy", 16), ("sad", 8)]:
        (tmp_path / "train" / cls).mkdir(parents=True)
        for n in range(count):
            cv2.imwrite(str(tmp_path / "train" / cls / f"{n}.png"), np.full((48, 48), n * 10, np.uint8))
    (tmp_path / "test" / "fear").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "test" / "fear" / "a.png"), np.zeros((48, 48), np.uint8))
    data = load_fer2013(tmp_path)
    assert sorted(data.split("PublicTest")[1].tolist()) == [3, 3, 4]
    assert len(data.split("Training")[1]) == 21 and len(data.split("PrivateTest")[1]) == 1
    assert (load_fer2013(tmp_path).usage == data.usage).all()  # the same draw every time
    (tmp_path / "val" / "sad").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "val" / "sad" / "a.png"), np.zeros((48, 48), np.uint8))
    assert load_fer2013(tmp_path).split("PublicTest")[1].tolist() == [4]  # a val/ folder is the split


@pytest.mark.integration
def test_full_fer2013_matches_published_counts(shared_fer2013):
    counts = load_fer2013(shared_fer2013).class_counts()
    assert counts["Training"] == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    assert counts["PrivateTest"] == [491, 55, 528, 879, 594, 416, 626]


def write_packed(path, images, labels, usage_codes):
    import io
    import json
    import lzma
    import zipfile

    def npy(array):
        buffer = io.BytesIO()
        np.save(buffer, array)
        return buffer.getvalue()

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.json", json.dumps({"format": "fer2013-xz/1", "shape": list(images.shape)}))
        archive.writestr("labels.npy", npy(labels.astype(np.uint8)))
        archive.writestr("usage.npy", npy(usage_codes.astype(np.uint8)))
        archive.writestr("pixels.u8.xz", lzma.compress(images.tobytes(), format=lzma.FORMAT_XZ))
    return path


def test_packed_archive_for_gpu_machines(tmp_path):
    images = np.arange(3 * 48 * 48, dtype=np.uint32).reshape(3, 48, 48).astype(np.uint8)
    path = write_packed(tmp_path / "fer.npz", images, np.array([6, 0, 3]), np.array([0, 1, 0]))
    data = load_fer2013(path)
    assert data.split("Training")[1].tolist() == [6, 3] and not data.has("PrivateTest")
    assert np.array_equal(data.images, images)


def test_packed_archive_with_wrong_format_is_named(tmp_path):
    path = write_packed(tmp_path / "fer.npz", np.zeros((2, 48, 48), np.uint8), np.zeros(1), np.zeros(1))
    with pytest.raises(DataError, match=r"fer.npz: 4608 pixel bytes, \(1,\) labels and \(1,\) usage codes do not "
                                        "describe the same faces"):
        load_fer2013(path)


@pytest.mark.parametrize("labels, usage, complaint", [
    ([0, 9], [0, 1], "labels.npy holds values outside 0..6"),
    ([0, 1], [0, 7], "usage.npy holds values outside 0..2"),
])
def test_packed_archive_with_values_out_of_range_is_named(tmp_path, labels, usage, complaint):
    path = write_packed(tmp_path / "fer.npz", np.zeros((2, 48, 48), np.uint8), np.array(labels), np.array(usage))
    with pytest.raises(DataError, match=f"fer.npz: {complaint}"):
        load_fer2013(path)


def test_a_damaged_packed_archive_is_named(tmp_path):
    path = write_packed(tmp_path / "fer.npz", np.zeros((2, 48, 48), np.uint8), np.array([0, 1]), np.array([0, 1]))
    data = bytearray(path.read_bytes())
    start = data.find(b"pixels.u8.xz") + 60
    data[start] ^= 0xFF  # one flipped byte inside the packed pixels
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="fer.npz: not a fer2013-xz/1 archive, or a damaged one"):
        load_fer2013(path)
