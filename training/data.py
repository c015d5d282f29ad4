"""FER2013 readers: the Kaggle CSV (plain or .gz) and the image-folder layout (train/<class>/*.png)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import lzma
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import DataError
from edge.labels import EMOTIONS, NUM_CLASSES
from edge.preprocess import FACE_SIZE, face_to_gray48

logger = logging.getLogger(__name__)

USAGES = ("Training", "PublicTest", "PrivateTest")
FER2013_VARIABLE = "FER2013"  # where commands and tests look for the data when no --data is given
COLUMNS = ("emotion", "pixels", "Usage")
PIXELS = FACE_SIZE * FACE_SIZE
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
# image-folder layout: folder name -> Usage
FOLDER_USAGE = {"train": "Training", "val": "PublicTest", "validation": "PublicTest", "test": "PrivateTest"}


@dataclass
class Fer2013:
    """Faces (uint8 [N, 48, 48]), labels (int [N], EMOTIONS order) and each row's Usage."""

    images: np.ndarray
    labels: np.ndarray
    usage: np.ndarray
    source: Path
    skipped: int = 0
    rows: np.ndarray | None = None
    """Each face's 0-based data row in the source CSV (None for image folders), to align per-row side data."""

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(images, labels) of one Usage; DataError if the data has no such rows."""
        if name not in USAGES:
            raise DataError(f"unknown split {name!r}; expected one of {', '.join(USAGES)}")
        mask = self.usage == name
        if not mask.any():
            raise DataError(f"{self.source}: no {name} rows")
        return self.images[mask], self.labels[mask]

    def split_rows(self, name: str) -> np.ndarray:
        """The source rows of one Usage's faces; DataError for data without row numbers (image folders)."""
        if self.rows is None:
            raise DataError(f"{self.source}: image folders have no CSV rows to align per-row data (e.g. FER+ votes) to")
        self.split(name)
        return self.rows[self.usage == name]

    def has(self, name: str) -> bool:
        return bool((self.usage == name).any())

    def class_counts(self) -> dict[str, list[int]]:
        """Per Usage, the number of faces of each class."""
        return {
            usage: np.bincount(self.labels[self.usage == usage], minlength=NUM_CLASSES).tolist()
            for usage in USAGES
            if (self.usage == usage).any()
        }


def load_fer2013(path: str | Path, skip_bad_rows: bool = False) -> Fer2013:
    """Read a Kaggle fer2013.csv(.gz) or an image-folder tree; bad rows raise DataError naming the line."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if path.is_dir():
        return _load_folder(path)
    if zipfile.is_zipfile(path):
        return _load_packed(path)
    return _load_csv(path, skip_bad_rows)


@contextmanager
def open_text(path: Path):
    """The lines of a text file, plain or gzipped, as str; DataError naming the line that cannot be read."""
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if gzipped else open(path, "rb") as raw:
        yield _decoded_lines(raw, path, "gzip file" if gzipped else "file")


def _decoded_lines(raw, path: Path, kind: str):
    """Each line of `raw` decoded as UTF-8, one at a time, so that an error can name its line; the byte-order
    mark a spreadsheet writes before the first line is dropped."""
    number = 0
    try:
        for number, line in enumerate(raw, 1):
            yield line.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: line {number}: not UTF-8 text (byte {exc.start + 1} of the line)") from None
    except (EOFError, OSError, zlib.error) as exc:  # a gzip file cut short, or not gzip after its first two bytes
        raise DataError(f"{path}: line {number + 1}: cannot read the {kind} ({exc})") from None


def csv_rows(reader, path: Path):
    """(line, row) for each row of a csv.reader, `line` being where the row begins; DataError naming that line for a
    row the csv module cannot split or one whose quoted field runs on over several lines: none of the formats read
    here has a line break inside a field, so that is a quote never closed."""
    start = reader.line_num + 1
    try:
        for row in reader:
            if any("\n" in field for field in row):
                raise DataError(f"{path}: line {start}: a quoted field runs on to line {reader.line_num}; "
                                "is a closing quote missing?")
            yield start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        problem = f"cannot split the row into fields ({exc}); is a closing quote missing?"
        raise DataError(f"{path}: line {start}: {problem}") from None


def csv_records(handle, path: Path) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    """The header of a CSV with named columns and its (line, record) pairs, as csv.DictReader would make them
    (values past the header under None, missing ones None, blank lines skipped; names stripped of spaces), each with
    the line it begins on."""
    reader = csv.reader(handle)
    header = [name.strip() for name in next(csv_rows(reader, path), (1, []))[1]]  # "path, label" from a spreadsheet

    def records():
        for line, row in csv_rows(reader, path):
            if row:
                record = dict(zip(header, row + [None] * (len(header) - len(row))))
                if len(row) > len(header):
                    record[None] = row[len(header):]
                yield line, record

    return header, records()


def parse_row(row: list[str]) -> tuple[int, np.ndarray, str]:
    """(label, 48x48 uint8 face, usage) of one CSV row; ValueError saying what is wrong."""
    if len(row) != 3:
        raise ValueError(f"expected 3 fields (emotion,pixels,Usage), got {len(row)}")
    emotion, pixels, usage = row
    if not emotion.strip().isdigit() or int(emotion) >= NUM_CLASSES:
        raise ValueError(f"unknown emotion label {emotion!r} (expected 0..{NUM_CLASSES - 1})")
    usage = usage.strip()
    if usage not in USAGES:
        raise ValueError(f"unknown Usage {usage!r} (expected {', '.join(USAGES)})")
    try:
        values = np.array(pixels.split(), dtype=np.int32)
    except ValueError:
        bad = next(v for v in pixels.split() if not v.lstrip("-").isdigit())
        raise ValueError(f"non-numeric pixel {bad!r}") from None
    if values.size != PIXELS:
        raise ValueError(f"{values.size} pixels, expected {PIXELS}")
    if values.min() < 0 or values.max() > 255:
        raise ValueError("pixel value outside 0..255")
    return int(emotion), values.astype(np.uint8).reshape(FACE_SIZE, FACE_SIZE), usage


def _load_csv(path: Path, skip_bad_rows: bool) -> Fer2013:
    images, labels, usages, rows, skipped = [], [], [], [], 0
    with open_text(path) as handle:
        reader = csv.reader(handle)
        header = [c.strip() for c in next(reader, [])]
        if header[:3] != list(COLUMNS):
            raise DataError(f"{path}: line 1: header is {','.join(header)!r}, expected {','.join(COLUMNS)!r}")
        for data_row, (line, row) in enumerate(csv_rows(reader, path)):
            try:
                label, face, usage = parse_row(row)
            except ValueError as exc:
                if not skip_bad_rows:
                    raise DataError(f"{path}: line {line}: {exc} (--skip-bad-rows skips such rows)") from None
                skipped += 1
                continue
            images.append(face)
            labels.append(label)
            usages.append(usage)
            rows.append(data_row)
    if not images:
        raise DataError(f"{path}: no usable rows")
    if skipped:
        logger.warning("%s: skipped %d bad rows", path, skipped)
    return Fer2013(np.stack(images), np.array(labels, np.int64), np.array(usages), path, skipped, np.array(rows))


def _load_packed(path: Path) -> Fer2013:
    """The compact `fer2013-xz/1` zip (labels.npy, usage.npy, xz-packed pixels) carried to a GPU machine."""
    try:
        with zipfile.ZipFile(path) as archive:
            meta = json.loads(archive.read("meta.json"))
            labels = np.load(io.BytesIO(archive.read("labels.npy")), allow_pickle=False).astype(np.int64)
            usage_codes = np.load(io.BytesIO(archive.read("usage.npy")), allow_pickle=False)
            pixels = lzma.decompress(archive.read("pixels.u8.xz"), format=lzma.FORMAT_XZ)
    except (KeyError, lzma.LZMAError, ValueError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DataError(f"{path}: not a fer2013-xz/1 archive, or a damaged one ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != "fer2013-xz/1":
        raise DataError(f"{path}: meta.json does not say format fer2013-xz/1")
    if labels.ndim != 1 or usage_codes.shape != labels.shape or len(pixels) != len(labels) * PIXELS:
        raise DataError(f"{path}: {len(pixels)} pixel bytes, {labels.shape} labels and {usage_codes.shape} usage "
                        f"codes do not describe the same faces ({PIXELS} bytes a face)")
    for name, values, top in (("labels.npy", labels, NUM_CLASSES), ("usage.npy", usage_codes, len(USAGES))):
        if values.size and not (values.dtype.kind in "iu" and 0 <= values.min() and values.max() < top):
            raise DataError(f"{path}: {name} holds values outside 0..{top - 1}")
    images = np.frombuffer(pixels, np.uint8).reshape(-1, FACE_SIZE, FACE_SIZE).copy()
    return Fer2013(images, labels, np.array(USAGES)[usage_codes], path, rows=np.arange(len(labels)))


def _load_folder(root: Path) -> Fer2013:
    import cv2

    images, labels, usages = [], [], []
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        usage = FOLDER_USAGE.get(split_dir.name.lower())
        if usage is None:
            continue
        for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            if class_dir.name.lower() not in EMOTIONS:
                raise DataError(f"{class_dir}: unknown class folder; expected one of {', '.join(EMOTIONS)}")
            for file in sorted(class_dir.iterdir()):
                if file.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                image = cv2.imread(str(file), cv2.IMREAD_GRAYSCALE)
                if image is None:
                    raise DataError(f"{file}: not a readable image")
                images.append(face_to_gray48(image))
                labels.append(EMOTIONS.index(class_dir.name.lower()))
                usages.append(usage)
    if not images:
        raise DataError(f"{root}: no images under train/<class>/, val/<class>/ or test/<class>/")
    labels, usages = np.array(labels, np.int64), np.array(usages)
    if "PublicTest" not in usages:
        usages = hold_out_validation(labels, usages, root)
    return Fer2013(np.stack(images), labels, usages, root)


VALIDATION_SHARE = 1 / 8  # FER2013's own PublicTest is 3,589 faces beside 28,709 training ones


def hold_out_validation(labels: np.ndarray, usages: np.ndarray, root: Path) -> np.ndarray:
    """Usages with an eighth of each class's training faces (a fixed draw) made PublicTest, for a folder release
    without val/ (Kaggle's image FER2013 has only train/ and test/): fer-train selects its epoch on them."""
    rng = np.random.default_rng(0)
    usages = usages.copy()
    for label in np.unique(labels):
        faces = np.flatnonzero((labels == label) & (usages == "Training"))
        held = round(len(faces) * VALIDATION_SHARE) or (1 if len(faces) > 1 else 0)
        usages[rng.permutation(faces)[:held]] = "PublicTest"
    logger.info("%s: no val/ folder; %d of train/'s faces (an eighth of each class, a fixed draw) are the validation "
                "split (PublicTest)", root, int((usages == "PublicTest").sum()))
    return usages
