"""Motion seen in frames: difference against a running background on a downscaled, blurred gray frame.

As NVR software does it: a pixel has changed when it differs from the background by more than `threshold`
gray levels; the frame has motion when a connected changed region covers at least `min_area` of it.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.config import FrameMotionConfig


class FrameDifferencing:
    """motion(gray) -> bool, learning the background as it goes; the first frame only seeds it."""

    needs_frames = True

    def __init__(self, config: FrameMotionConfig):
        self.config = config
        self._background: np.ndarray | None = None

    def motion(self, gray: np.ndarray | None) -> bool:
        if gray is None:
            return False
        small = self._shrink(gray)
        if self._background is None or self._background.shape != small.shape:
            self._background = small.astype(np.float32)
            return False
        changed = self._changed_mask(small)
        cv2.accumulateWeighted(small, self._background, self.config.alpha)
        return self._largest_region(changed) >= self.config.min_area * changed.size

    def close(self) -> None:
        self._background = None

    def _shrink(self, gray: np.ndarray) -> np.ndarray:
        height = max(1, round(gray.shape[0] * self.config.width / gray.shape[1]))
        small = cv2.resize(gray, (self.config.width, height), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small, (5, 5), 0)

    def _changed_mask(self, small: np.ndarray) -> np.ndarray:
        difference = cv2.absdiff(small, cv2.convertScaleAbs(self._background))
        _, mask = cv2.threshold(difference, self.config.threshold, 255, cv2.THRESH_BINARY)
        return cv2.dilate(mask, None, iterations=2)

    @staticmethod
    def _largest_region(mask: np.ndarray) -> int:
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        return int(stats[1:, cv2.CC_STAT_AREA].max()) if count > 1 else 0
