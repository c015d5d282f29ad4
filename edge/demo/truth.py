"""The demo's answer key: which labelled face an emotion message is about, and the demo's accuracy.

The clip's true labels (faces_demo.labels.json, written by make_demo_clip.py) are per frame. The agent stamps
each emotion message with the time it read the frame, so FrameClock notes when each frame was read and a
message finds its frame by time, then its face by overlap with the labelled boxes.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from edge.errors import DataError
from edge.labels import EMOTIONS
from edge.validation import first_problem

MIN_OVERLAP = 0.3  # intersection over union with a labelled box


class LabelledFace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Literal[EMOTIONS]
    box: Annotated[list[Annotated[StrictInt, Field(ge=0)]], Field(min_length=4, max_length=4)]

    @field_validator("box")
    @classmethod
    def _has_area(cls, box: list[int]) -> list[int]:
        if box[2] == 0 or box[3] == 0:
            raise ValueError("a box [x, y, w, h] needs a width and a height above 0")
        return box


class DemoLabels(BaseModel):
    """What make_demo_clip.py writes; other top-level keys (clip, fps, source) describe it and are not read."""

    frames: list[list[LabelledFace]]


def load_labels(path: Path) -> list[list[dict]]:
    """Per frame, the labelled faces [{"label": ..., "box": [x, y, w, h]}]; DataError naming the field."""
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise DataError(f"{path}: cannot read the demo labels ({exc.strerror})") from None
    except ValueError as exc:  # also UnicodeDecodeError
        raise DataError(f"{path}: not a demo labels file (not UTF-8 JSON: {exc})") from None
    except RecursionError:
        raise DataError(f"{path}: not a demo labels file (JSON nested too deeply)") from None
    try:
        return DemoLabels.model_validate(data).model_dump()["frames"]
    except ValidationError as exc:
        raise DataError(f"{path}: not a demo labels file ({first_problem(exc)})") from None


def overlap(a: list[int], b: list[int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    return inter / (aw * ah + bw * bh - inter) if inter else 0.0


class FrameClock:
    """Wraps the agent's frame source: notes the wall-clock time (the agent's `timestamp`) of each frame read.

    A file plays in real time, skipping the frames the loop has no time for, so a frame's index in the clip is
    the file source's position, not the count of frames read.
    """

    def __init__(self, source):
        self._source = source
        self._file = getattr(source, "source", source)  # under edge.camera.Reopening
        self._times: list[float] = []
        self._indices: list[int] = []
        self._lock = threading.Lock()

    def read(self):
        image = self._source.read()
        if image is not None:
            with self._lock:
                self._indices.append(getattr(self._file, "position", len(self._indices) + 1) - 1)
                self._times.append(time.time())
        return image

    def frame_at(self, timestamp: float, tolerance: float = 0.05) -> int | None:
        """Index in the clip of the frame read closest to `timestamp`; None if none was read within `tolerance` s."""
        with self._lock:
            times, indices = list(self._times), list(self._indices)
        at = bisect.bisect_left(times, timestamp)
        near = [i for i in (at - 1, at) if 0 <= i < len(times)]
        best = min(near, key=lambda i: abs(times[i] - timestamp), default=None)
        return indices[best] if best is not None and abs(times[best] - timestamp) <= tolerance else None

    def __getattr__(self, name):
        return getattr(self._source, name)


class Scorer:
    """true_label(message) for each emotion message; `correct` and `judged` count the faces with a label."""

    def __init__(self, labels: list[list[dict]], clock: FrameClock):
        self.labels = labels
        self.clock = clock
        self.correct = 0
        self.judged = 0
        self.unlabelled = 0

    def true_label(self, message: dict) -> str | None:
        """The label of the face this message is about (and count it), None where the clip has no face there."""
        stamp = datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00")).timestamp()
        index = self.clock.frame_at(stamp)
        box = [message["box"][k] for k in ("x", "y", "w", "h")]
        faces = self.labels[index] if index is not None and index < len(self.labels) else []
        best = max(faces, key=lambda face: overlap(face["box"], box), default=None)
        if best is None or overlap(best["box"], box) < MIN_OVERLAP:
            self.unlabelled += 1
            return None
        self.judged += 1
        self.correct += best["label"] == message["label"]
        return best["label"]

    def summary(self) -> str:
        if not self.judged:
            return "demo accuracy: no labelled face was classified"
        line = f"demo accuracy: {self.correct} of {self.judged} faces right ({self.correct / self.judged:.0%})"
        return line + (f"; {self.unlabelled} detections were not a labelled face" if self.unlabelled else "")
