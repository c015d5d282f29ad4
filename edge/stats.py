"""What the agent counts and times: the health report's figures and the benchmark's per-stage times."""

from __future__ import annotations

import time
from collections import Counter, defaultdict, deque
from contextlib import contextmanager

import numpy as np


class StageTimes:
    """The last `keep` durations of each named stage, in seconds of `clock` (the benchmark uses CPU time)."""

    def __init__(self, keep: int = 10_000, clock=time.perf_counter):
        self._samples: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=keep))
        self._clock = clock

    @contextmanager
    def time(self, stage: str):
        start = self._clock()
        try:
            yield
        finally:
            self._samples[stage].append(self._clock() - start)

    def add(self, stage: str, seconds: float) -> None:
        self._samples[stage].append(seconds)

    def samples(self) -> dict[str, list[float]]:
        """stage -> its kept durations, oldest first."""
        return {stage: list(s) for stage, s in self._samples.items()}

    def summary(self) -> dict[str, tuple[int, float, float]]:
        """stage -> (count, median seconds, 95th percentile seconds)."""
        return {
            stage: (len(s), float(np.median(s)), float(np.percentile(s, 95)))
            for stage, s in self._samples.items()
            if s
        }


class Counters:
    """Running totals since start, and a frame rate measured between two health reports."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self.started = clock()
        self.frames = 0
        self.faces = 0
        self.faces_in_frame: Counter[int] = Counter()  # analysed frames by the number of faces in them
        self.events = 0
        self.errors = 0
        self._rate_mark = (self.started, 0)

    def frame_rate(self) -> float:
        """Frames per second since the previous call."""
        now = self._clock()
        then, frames = self._rate_mark
        self._rate_mark = (now, self.frames)
        return (self.frames - frames) / (now - then) if now > then else 0.0

    def uptime(self) -> float:
        return self._clock() - self.started
