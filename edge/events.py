"""Events: motion opens one, a quiet time (or a maximum length) closes it; it counts what it saw.

Times fed to the tracker are monotonic (time.monotonic()): a Pi without a battery clock steps its wall clock
at boot, which must neither keep an event open nor make it last a day. The wall clock only stamps an event's
start and end (`started_at`, `ended_at`).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)


@dataclass
class EventRecord:
    """One event's tallies; probabilities are summed over its faces and averaged on demand.

    `started` and `ended` are monotonic seconds, `started_at` and `ended_at` the wall-clock times then.
    """

    id: str
    trigger: str
    started: float
    started_at: float = 0.0
    ended: float | None = None
    ended_at: float | None = None
    frames: int = 0
    faces: int = 0
    probability_sum: np.ndarray | None = field(default=None, repr=False)
    tracks: dict[int, TrackTally] = field(default_factory=dict, repr=False)

    def add_frame(self) -> None:
        self.frames += 1

    def add_face(self, probabilities: list[float], track: int | None = None) -> None:
        row = np.asarray(probabilities, np.float64)
        self.probability_sum = row if self.probability_sum is None else self.probability_sum + row
        self.faces += 1
        if track is not None:
            self.tracks.setdefault(track, TrackTally()).add(row)

    @property
    def duration(self) -> float:
        return (self.ended if self.ended is not None else self.started) - self.started

    def mean_probabilities(self) -> np.ndarray | None:
        return None if self.probability_sum is None else self.probability_sum / self.faces


@dataclass
class TrackTally:
    """One tracked face over an event: the frames it was seen in and its probabilities summed over them."""

    frames: int = 0
    probability_sum: np.ndarray | None = field(default=None, repr=False)

    def add(self, row: np.ndarray) -> None:
        self.probability_sum = row if self.probability_sum is None else self.probability_sum + row
        self.frames += 1

    def mean_probabilities(self) -> np.ndarray:
        return self.probability_sum / self.frames


class EventTracker:
    """Opens an event on motion; closes it after `quiet_seconds` without motion or at `max_seconds`.

    `now` is monotonic seconds; `wall` gives the wall-clock time that stamps the event.
    """

    def __init__(self, trigger: str, quiet_seconds: float, max_seconds: float, wall=time.time):
        self.trigger = trigger
        self.wall = wall
        self.quiet_seconds = quiet_seconds
        self.max_seconds = max_seconds
        self.current: EventRecord | None = None
        self._last_motion = 0.0

    def update(self, motion: bool, now: float) -> EventRecord | None:
        """Feed one observation; returns the event it closed, if any."""
        closed = None
        if self.current is not None:
            quiet = now - self._last_motion >= self.quiet_seconds and not motion
            if quiet or now - self.current.started >= self.max_seconds:
                closed = self.close(now)
        if motion:
            self._last_motion = now
            if self.current is None:
                self.current = EventRecord(uuid.uuid4().hex, self.trigger, now, started_at=self.wall())
                logger.info("event %s opened (%s)", self.current.id[:8], self.trigger)
        return closed

    def close(self, now: float) -> EventRecord | None:
        """Close the open event (at shutdown, for instance); None when there is none."""
        event, self.current = self.current, None
        if event is not None:
            event.ended, event.ended_at = now, self.wall()
            logger.info("event %s closed after %.1f s: %d frames, %d faces", event.id[:8], event.duration,
                        event.frames, event.faces)
        return event
