"""FER+ crowd votes as soft training targets, aligned to the rows of the FER2013 CSV.

The votes file (../shared/data/ferplus/fer2013plus_votes.csv.gz) has one row per FER2013 data row, in the CSV's
order, with FER+'s ten columns (neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown,
NF). The seven emotions are reordered into EMOTIONS order; contempt is not one of FER2013's classes and is left
out; a face whose votes are mostly `unknown` or `NF` (not a face) can be dropped from training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import DataError
from edge.labels import EMOTIONS, NUM_CLASSES
from training.data import csv_records, open_text

# FER+ column -> our emotion name
FERPLUS_EMOTIONS = {
    "anger": "angry", "disgust": "disgust", "fear": "fear", "happiness": "happy",
    "sadness": "sad", "surprise": "surprise", "neutral": "neutral",
}
NOT_AN_EMOTION = ("contempt", "unknown", "NF")
DEFAULT_VOTES = Path("ferplus") / "fer2013plus_votes.csv.gz"


@dataclass
class SoftLabelSpec:
    """`ferplus[:WEIGHT]`: mix FER+'s vote distribution into the one-hot target with this weight (0..1)."""

    weight: float = 1.0

    @classmethod
    def parse(cls, text: str) -> "SoftLabelSpec":
        name, _, weight = text.partition(":")
        if name != "ferplus":
            raise ValueError(f"--soft-labels {text!r}: the only source is 'ferplus' (as ferplus or ferplus:WEIGHT)")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise ValueError(f"--soft-labels {text!r}: WEIGHT must be a number in 0..1") from None
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"--soft-labels {text!r}: WEIGHT must be in 0..1")
        return cls(value)


@dataclass
class Votes:
    """Per FER2013 data row: the 7-emotion vote distribution (EMOTIONS order), and which rows have usable votes."""

    distribution: np.ndarray  # float32 [rows, 7], zero where `has_votes` is False
    has_votes: np.ndarray  # bool [rows]
    not_a_face: np.ndarray  # bool [rows]: majority of all ten columns is unknown or NF


def default_votes_path(data: Path) -> Path:
    """Where the votes lie beside a ../shared-style data tree: <data>/../../ferplus/fer2013plus_votes.csv.gz."""
    return Path(data).resolve().parent.parent / DEFAULT_VOTES


def load_votes(path: str | Path) -> Votes:
    """Read the votes CSV; a malformed row raises DataError naming its line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such votes file (FER+ votes aligned to the FER2013 CSV's rows)")
    order = [EMOTIONS.index(FERPLUS_EMOTIONS[c]) for c in FERPLUS_EMOTIONS]
    distributions, has_votes, not_a_face = [], [], []
    with open_text(path) as handle:
        header, records = csv_records(handle, path)
        missing = [c for c in ("row", *FERPLUS_EMOTIONS, *NOT_AN_EMOTION) if c not in header]
        if missing:
            raise DataError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
        for expected_row, (line, record) in enumerate(records):
            counts, empty = _vote_counts(record, path, line, expected_row)
            emotion = np.zeros(NUM_CLASSES, np.float64)
            emotion[order] = counts[: len(FERPLUS_EMOTIONS)]
            total = emotion.sum()
            distributions.append(emotion / total if total else emotion)
            has_votes.append(not empty and total > 0)
            not_a_face.append(not empty and counts[-2:].sum() > counts[:-2].sum())
    return Votes(np.stack(distributions).astype(np.float32), np.array(has_votes), np.array(not_a_face))


def _vote_counts(record: dict, path: Path, line: int, expected_row: int) -> tuple[np.ndarray, bool]:
    if record["row"] != str(expected_row):
        raise DataError(f"{path}: line {line}: row {record['row']!r}, expected {expected_row} (rows must follow the CSV)")
    columns = [*FERPLUS_EMOTIONS, *NOT_AN_EMOTION]
    cells = [(record[c] or "").strip() for c in columns]
    if not any(cells):
        return np.zeros(len(columns), np.float64), True
    counts = np.array([_count(cell) for cell in cells], np.float64)
    bad = [column for column, count in zip(columns, counts) if not math.isfinite(count)]
    if bad:
        raise DataError(f"{path}: line {line}: vote column {bad[0]!r} is {record[bad[0]]!r}, not a count")
    if (counts < 0).any():
        raise DataError(f"{path}: line {line}: negative vote count")
    return counts, False


def _count(cell: str) -> float:
    """The number a vote cell holds, NaN for text that is none; the caller refuses it, and inf too (NaN targets)."""
    try:
        return float(cell)
    except ValueError:
        return math.nan


def soft_targets(labels: np.ndarray, rows: np.ndarray, votes: Votes, weight: float) -> np.ndarray:
    """(1 - weight) * one-hot(label) + weight * votes; rows without votes keep their one-hot label."""
    if rows.max(initial=-1) >= len(votes.has_votes):
        raise DataError(f"the votes cover {len(votes.has_votes)} rows, the data has row {rows.max()}")
    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[labels]
    mixed = (1.0 - weight) * onehot + weight * votes.distribution[rows]
    return np.where(votes.has_votes[rows, None], mixed, onehot).astype(np.float32)
