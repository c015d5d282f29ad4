"""Valid fleet messages for the monitor's tests, built by the agent's own edge/messages.py."""

from __future__ import annotations

import uuid

from edge.classifier import Emotion
from edge.events import EventRecord
from edge.labels import EMOTIONS
from edge.messages import emotion_message, event_message, status_message

EVENT_ID = "e" * 32
HEALTH = {"uptime_s": 1.0, "fps": 4.5, "queue_depth": 3, "frames": 10, "faces": 2, "events": 1, "published": 2,
          "dropped": 0, "not_stored": 0, "camera_failures": 0, "errors": 0}


def face(device: str, label: str, at: float, confidence: float = 0.9) -> dict:
    probabilities = {name: (confidence if name == label else (1 - confidence) / 6) for name in EMOTIONS}
    return emotion_message(device, "m", EVENT_ID, at, (1, 2, 30, 30), Emotion(label, confidence, probabilities))


def event(device: str, dominant: str, at: float) -> dict:
    record = EventRecord(uuid.uuid4().hex, "motion", 0.0, started_at=at - 2, ended=2.0, ended_at=at, frames=3)
    record.add_face([0.9 if name == dominant else 0.1 / 6 for name in EMOTIONS])
    return event_message(device, "m", record, list(EMOTIONS))


def status(device: str, state: str, at: float, health: dict | None = None, expire_after: float | None = None) -> dict:
    return status_message(device, "m", state, at, health, expire_after=expire_after)
