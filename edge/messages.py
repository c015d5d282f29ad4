"""Topics and payloads the agent publishes; the contract is edge/schema/*.schema.json and its README."""

from __future__ import annotations

import base64
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from edge.classifier import Emotion
from edge.events import EventRecord


@dataclass(frozen=True)
class Topics:
    """The topics of one device: <prefix>/<device>/emotion, .../event, .../status."""

    prefix: str
    device_id: str

    def _topic(self, leaf: str) -> str:
        return f"{self.prefix}/{self.device_id}/{leaf}"

    @property
    def emotion(self) -> str:
        return self._topic("emotion")

    @property
    def event(self) -> str:
        return self._topic("event")

    @property
    def status(self) -> str:
        return self._topic("status")


def utc_timestamp(seconds: float) -> str:
    """Epoch seconds -> ISO 8601 UTC with milliseconds and a Z."""
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(device_id: str, model_id: str, at: float) -> dict[str, Any]:
    """The fields every message starts with; `id` is what a subscriber deduplicates on."""
    return {"id": uuid.uuid4().hex, "device": device_id, "timestamp": utc_timestamp(at), "model": model_id}


def emotion_message(
    device_id: str,
    model_id: str,
    event_id: str,
    captured_at: float,
    box: tuple[int, int, int, int],
    emotion: Emotion,
    face_jpeg: bytes | None = None,
    track: int = 1,
) -> dict[str, Any]:
    """One face: where it was in the frame, its track in the event, what the model says; `timestamp`: capture time."""
    x, y, w, h = (int(v) for v in box)
    message = envelope(device_id, model_id, captured_at) | {
        "event": event_id,
        "track": track,
        "box": {"x": x, "y": y, "w": w, "h": h},
        "label": emotion.label,
        "confidence": emotion.confidence,
        "probabilities": emotion.probabilities,
    }
    if face_jpeg is not None:
        message["image"] = base64.b64encode(face_jpeg).decode("ascii")
    return message


def averaged(mean: np.ndarray, labels: list[str]) -> tuple[str, dict[str, float]]:
    """(top label, rounded probabilities by label) of mean probabilities."""
    return labels[int(np.argmax(mean))], {label: round(float(p), 6) for label, p in zip(labels, mean)}


def event_message(device_id: str, model_id: str, event: EventRecord, labels: list[str]) -> dict[str, Any]:
    """A closed event: how long, what triggered it, frames and faces seen, the averaged emotion, per track too."""
    mean = event.mean_probabilities()
    ended_at = event.ended_at if event.ended_at is not None else event.started_at
    message = envelope(device_id, model_id, ended_at) | {
        "event": event.id,
        "trigger": event.trigger,
        "started": utc_timestamp(event.started_at),
        "ended": utc_timestamp(ended_at),
        "duration_s": round(event.duration, 3),
        "frames": event.frames,
        "faces": event.faces,
        "dominant": None,
        "probabilities": None,
        "tracks": [],
    }
    if mean is not None:
        message["dominant"], message["probabilities"] = averaged(mean, labels)
    for track, tally in sorted(event.tracks.items()):
        dominant, probabilities = averaged(tally.mean_probabilities(), labels)
        message["tracks"].append({"track": track, "frames": tally.frames, "dominant": dominant, "probabilities": probabilities})
    return message


def status_message(
    device_id: str,
    model_id: str,
    state: str,
    at: float,
    health: dict[str, Any] | None = None,
    *,
    model_sha256: str | None = None,
    rollback: dict[str, Any] | None = None,
    expire_after: float | None = None,
) -> dict[str, Any]:
    """online / offline, the running model's sha256, the latest health figures, and a rollback if one happened.

    `expire_after` (seconds) lets a subscriber see a retained `online` go stale when the agent and the broker
    stopped together and no Last Will was sent.
    """
    message = envelope(device_id, model_id, at) | {"state": state}
    if model_sha256 is not None:
        message["model_sha256"] = model_sha256
    if rollback is not None:
        message["rollback"] = rollback
    if expire_after is not None:
        message["expire_after"] = max(1, math.ceil(expire_after))
    if health is not None:
        message["health"] = health
    return message
