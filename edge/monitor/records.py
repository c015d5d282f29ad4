"""One received MQTT message of the fleet, as the monitor keeps it: where from, which kind, which id."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

KINDS = ("emotion", "event", "status")


@dataclass(frozen=True)
class Record:
    """A message on <prefix>/<device>/<kind>; `id` is the payload's (the agent's dedup key)."""

    id: str
    device: str
    kind: str
    topic: str
    timestamp: str
    received_at: float
    payload: dict[str, Any]

    @property
    def label(self) -> str | None:
        """The emotion of a face, or the dominant one of an event."""
        return self.payload.get("label") or self.payload.get("dominant")


def parse(topic: str, payload: bytes, prefix: str, received_at: float | None = None) -> Record | None:
    """The Record of a fleet message; None for other topics and for payloads that are not a JSON object."""
    parts = topic.split("/")
    prefix_parts = prefix.split("/")
    if len(parts) != len(prefix_parts) + 2 or parts[: len(prefix_parts)] != prefix_parts or parts[-1] not in KINDS:
        return None
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    message_id = str(data.get("id") or hashlib.sha256(topic.encode() + b"\0" + payload).hexdigest())
    return Record(
        id=message_id,
        device=parts[-2],
        kind=parts[-1],
        topic=topic,
        timestamp=str(data.get("timestamp", "")),
        received_at=time.time() if received_at is None else received_at,
        payload=data,
    )
