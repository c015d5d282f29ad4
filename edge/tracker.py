"""Faces followed from frame to frame within an event: a small IoU tracker with constant-velocity prediction.

Each frame's faces are matched, best overlap first, to where each track's face is expected now (its last box
moved by its last step), so two faces that cross keep their own tracks. A face matched to no track starts a
new one; a track unmatched for `max_missed` frames ends. Between detections (`detector.every_n_frames`)
`carried()` gives each live track's expected face, which the agent classifies as if it had been detected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.detector import Box, Face, iou


@dataclass
class Track:
    id: int
    box: Box  # where the face is now: as detected, or as carried on since
    landmarks: np.ndarray | None
    seen: Box | None = None  # the last detected box, `since` frames ago
    since: int = 0
    step: tuple[float, float] = (0.0, 0.0)  # how far the box moves per frame
    missed: int = 0  # detections in a row that did not find it

    def __post_init__(self):
        self.seen = self.seen or self.box

    def expected(self) -> Box:
        """The box one frame on."""
        x, y, w, h = self.box
        return round(x + self.step[0]), round(y + self.step[1]), w, h

    def advance(self) -> None:
        box = self.expected()
        if self.landmarks is not None:
            self.landmarks = self.landmarks + np.float32([box[0] - self.box[0], box[1] - self.box[1]])
        self.box = box
        self.since += 1

    def observe(self, face: Face) -> None:
        frames = self.since + 1
        self.step = ((face.box[0] - self.seen[0]) / frames, (face.box[1] - self.seen[1]) / frames)
        self.box = self.seen = face.box
        self.landmarks, self.since, self.missed = face.landmarks, 0, 0


class FaceTracker:
    """update(faces) -> track ids, one per face; carried() -> the faces expected where no detection ran."""

    def __init__(self, min_iou: float = 0.2, max_missed: int = 15):
        self.min_iou = min_iou
        self.max_missed = max_missed
        self.tracks: list[Track] = []
        self._next_id = 1

    def reset(self) -> None:
        """Forget every track; ids start again at 1 (a new event)."""
        self.tracks = []
        self._next_id = 1

    def update(self, faces: list[Face]) -> list[int]:
        """The faces detected in this frame -> their track ids (new faces get new ids)."""
        pairs = sorted(
            ((iou(face.box, track.expected()), f, t) for f, face in enumerate(faces) for t, track in enumerate(self.tracks)),
            reverse=True,
        )
        ids: list[int | None] = [None] * len(faces)
        matched: set[int] = set()
        for overlap, f, t in pairs:
            if overlap < self.min_iou:
                break
            if ids[f] is None and t not in matched:
                ids[f] = self.tracks[t].id
                matched.add(t)
                self.tracks[t].observe(faces[f])
        for t, track in enumerate(self.tracks):
            if t not in matched:
                track.missed += 1
                track.advance()
        self.tracks = [track for track in self.tracks if track.missed <= self.max_missed]
        for f, face in enumerate(faces):
            if ids[f] is None:
                self.tracks.append(Track(self._next_id, face.box, face.landmarks))
                ids[f] = self._next_id
                self._next_id += 1
        return ids

    def expected(self) -> list[Box]:
        """Where each track found last time should be in the next frame."""
        return [track.expected() for track in self.tracks if not track.missed]

    def carried(self) -> tuple[list[Face], list[int]]:
        """A frame without detection: the faces of the tracks found last time, moved one step on, and their ids."""
        faces, ids = [], []
        for track in self.tracks:
            if not track.missed:
                track.advance()
                faces.append(Face(track.box, track.landmarks))
                ids.append(track.id)
        return faces, ids
