"""A user's own labelled photos, and the faces the edge agent would take from them.

A folder of photos is labelled either by a `labels.csv` (columns `path,label`, paths relative to the folder) or
by one sub-folder per class (`happy/*.jpg`, ..., photos in folders below them included; hidden ones
skipped). Each photo goes through the agent's own path: grayscale, the
configured face detector (edge/detector.py), the crop the model's framing asks for (edge/framing.py, as the agent
applies it); the largest face found is the photo's face.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.config import EdgeConfig
from edge.errors import DataError
from edge.framing import Framing, frame_face
from edge.labels import EMOTIONS, label_index
from edge.preprocess import to_gray
from training.data import csv_records, open_text

LABELS_FILE = "labels.csv"
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


@dataclass
class LabelledPhotos:
    paths: list[Path]
    labels: np.ndarray  # int, EMOTIONS order


def read_labelled_photos(folder: Path) -> LabelledPhotos:
    """The photos of `folder` and their labels; DataError naming the file and line of anything unusable."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder of photos")
    listing = folder / LABELS_FILE
    photos = _from_labels_csv(listing) if listing.is_file() else _from_class_folders(folder)
    if not photos.paths:
        raise DataError(f"{folder}: no photos (expected {LABELS_FILE} with path,label or one sub-folder per class: "
                        f"{', '.join(EMOTIONS)})")
    return photos


def _from_labels_csv(listing: Path) -> LabelledPhotos:
    paths, labels, listed_on = [], [], {}
    with open_text(listing) as lines:
        header, records = csv_records(lines, listing)
        if not {"path", "label"} <= set(header):
            raise DataError(f"{listing}: line 1: expected the columns path,label, got {header}")
        for line, record in records:
            where = f"{listing}: line {line}"
            if any(value.strip() for value in record.get(None, [])):  # values beyond the header
                raise DataError(f"{where}: {len(header) + len(record[None])} values, but the header "
                                f"names {len(header)} columns ({','.join(header)})")
            if not (record["label"] or "").strip():
                raise DataError(f"{where}: no label; expected one of {', '.join(EMOTIONS)}")
            try:
                labels.append(label_index(record["label"]))
            except ValueError as exc:
                raise DataError(f"{where}: {exc}") from None
            path = listing.parent / (record["path"] or "").strip()
            if not path.is_file():
                raise DataError(f"{where}: {path}: no such photo")
            if path.resolve() in listed_on:  # twice would count it twice, under two labels perhaps
                raise DataError(f"{where}: {record['path'].strip()} is listed on line {listed_on[path.resolve()]} "
                                "already")
            listed_on[path.resolve()] = line
            paths.append(path)
    return LabelledPhotos(paths, np.array(labels, np.int64))


def _from_class_folders(folder: Path) -> LabelledPhotos:
    paths, labels = [], []
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            label = label_index(class_dir.name)
        except ValueError as exc:
            raise DataError(f"{class_dir}: {exc}") from None
        found = sorted(p for p in class_dir.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(class_dir).parts))
        paths += found
        labels += [label] * len(found)
    return LabelledPhotos(paths, np.array(labels, np.int64))


def read_photo(path: Path) -> np.ndarray:
    """A photo as a camera hands the agent a frame: a BGR uint8 image."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{path}: not a readable image")
    return image


def agent_faces(paths: list[Path], config: EdgeConfig, model_framing: Framing) -> tuple[np.ndarray, np.ndarray]:
    """(48x48 faces [M, 48, 48] of the photos where a face was found, found bool [N]), cut the agent's way."""
    from edge.agent import face_framing
    from edge.detector import open_detector

    detector = open_detector(config.detector)
    framing = face_framing(config, model_framing)
    faces, found = [], []
    for path in paths:
        image = read_photo(path)
        located = detector.find(image)
        found.append(bool(located))
        if located:
            faces.append(frame_face(to_gray(image), located[0].box, framing, located[0].landmarks))
    return np.array(faces, np.uint8).reshape(-1, 48, 48), np.array(found, bool)
