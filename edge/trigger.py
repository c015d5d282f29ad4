"""What opens an event: a PIR sensor on a GPIO pin, motion in the frames, or nothing at all (always).

Every trigger has `needs_frames`, `motion(gray) -> bool` and `close()`; they are chosen by name and each
imports its own library, so gpiozero is only needed where a PIR is configured.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from edge.config import PirConfig, TriggerConfig
from edge.errors import ConfigError

logger = logging.getLogger(__name__)


class AlwaysTrigger:
    """Motion all the time: the agent captures continuously, in events of at most max_event_seconds."""

    needs_frames = False

    def motion(self, gray: np.ndarray | None) -> bool:
        return True

    def close(self) -> None:
        pass


class PirTrigger:
    """A PIR motion sensor read through gpiozero's MotionSensor (any pin factory, MockFactory included)."""

    needs_frames = False

    def __init__(self, config: PirConfig):
        try:
            from gpiozero import MotionSensor
            from gpiozero.exc import GPIOZeroError, PinFactoryFallback
        except ImportError:
            raise ConfigError("field 'trigger.kind': 'pir' needs gpiozero (pip install 'fer-edge[pi]')") from None
        pin = int(config.pin) if config.pin.isdigit() else config.pin
        # gpiozero warns once per pin library it falls back from; they are the reasons of the one error that matters
        with warnings.catch_warnings(record=True) as fallbacks:
            warnings.simplefilter("always", PinFactoryFallback)
            try:
                self._sensor = MotionSensor(pin, queue_len=config.queue_len, threshold=config.threshold)
            except GPIOZeroError as exc:
                reasons = "; ".join(str(w.message).removeprefix("Falling back from ") for w in fallbacks)
                cause = f"no GPIO pin library works on this machine: {reasons}" if reasons else str(exc)
                raise ConfigError(f"field 'trigger.pir.pin': cannot use {config.pin!r} ({cause})") from None
        for fallback in fallbacks:
            logger.debug("gpiozero: %s", fallback.message)
        logger.info("PIR sensor on %s", self._sensor.pin)

    def motion(self, gray: np.ndarray | None) -> bool:
        return bool(self._sensor.motion_detected)

    def close(self) -> None:
        self._sensor.close()


def open_trigger(config: TriggerConfig):
    """The trigger named by config.kind."""
    if config.kind == "pir":
        return PirTrigger(config.pir)
    if config.kind == "motion":
        from edge.motion import FrameDifferencing

        return FrameDifferencing(config.motion)
    return AlwaysTrigger()
