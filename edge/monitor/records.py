"""One received MQTT message of the fleet, as the monitor keeps it: where from, which kind, which id."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from edge.errors import FerEdgeError
from edge.schemas import problem

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


class InvalidMessage(FerEdgeError, ValueError):
    """A fleet message that breaks the published schema (edge/schema/), or whose payload names another device than
    its topic; the text says how."""


def parse(topic: str, payload: bytes, prefix: str, received_at: float | None = None) -> Record | None:
    """The Record of a fleet message; None for other topics; InvalidMessage when it breaks its JSON Schema or
    names another device than its topic."""
    parts = topic.split("/")
    prefix_parts = prefix.split("/")
    if len(parts) != len(prefix_parts) + 2 or parts[: len(prefix_parts)] != prefix_parts or parts[-1] not in KINDS:
        return None
    data = checked(parts[-1], payload)
    if data["device"] != parts[-2]:
        raise InvalidMessage(f"field 'device' is {data['device']!r}, but the topic names device {parts[-2]!r}")
    return Record(
        id=data["id"],
        device=parts[-2],
        kind=parts[-1],
        topic=topic,
        timestamp=data["timestamp"],
        received_at=time.time() if received_at is None else received_at,
        payload=data,
    )


LARGEST_NUMBER = 1e15  # beyond any count, size or time an agent sends; larger ones overflow what they feed


def _no_constant(name: str):
    raise InvalidMessage(f"holds {name}, which is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not abs(value) <= LARGEST_NUMBER:
        raise InvalidMessage(f"holds the number {text[:20]}, too large for any field")
    return value


def _sane_int(text: str) -> int:
    if len(text.lstrip("-")) > 15:
        raise InvalidMessage(f"holds the number {text[:20]}{'…' if len(text) > 20 else ''}, too large for any field")
    return int(text)


def checked(kind: str, payload: bytes) -> dict[str, Any]:
    """The decoded payload if it is valid JSON that meets edge/schema/<kind>.schema.json; InvalidMessage otherwise."""
    try:
        data = json.loads(payload, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_sane_int)
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # a lone surrogate (\ud800) is no text to show or store
        reason = problem(kind, data)
    except UnicodeEncodeError:
        raise InvalidMessage("holds a \\u escape that is no Unicode character (a lone surrogate)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessage(f"not UTF-8 JSON ({exc})") from None
    except RecursionError:
        raise InvalidMessage("JSON nested too deeply") from None
    if reason is not None:
        raise InvalidMessage(reason)
    return data
