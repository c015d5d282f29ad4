"""What the live table shows: per device its state, model, last emotion, events and counts per emotion."""

from __future__ import annotations

import time
from datetime import datetime
from collections import Counter
from dataclasses import dataclass, field

from edge.labels import EMOTIONS
from edge.monitor.records import Record

CLEAR = "\x1b[H\x1b[2J"
COUNT_WIDTH = max(len(name) for name in EMOTIONS)  # each emotion's column fits its whole name (surprise)
MODEL_WIDTH = 36  # a model id, @, 8 hex digits of its sha256, and !rollback
BOLD, DIM, RED, GREEN, RESET = "\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[32m", "\x1b[0m"


@dataclass
class DeviceState:
    state: str = "?"
    last_label: str = "-"
    last_confidence: float | None = None
    last_seen: float = 0.0
    faces: int = 0
    events: int = 0
    fps: float | None = None
    queue: int | None = None
    counts: Counter = field(default_factory=Counter)
    expires_at: float | None = None
    model: str = "-"
    model_sha256: str | None = None
    rolled_back: bool = False

    def shown_model(self) -> str:
        """`<model id>@<first 8 of its sha256>`, `!rollback` while it runs its previous model."""
        sha = f"@{self.model_sha256[:8]}" if self.model_sha256 else ""
        return self.model + sha + ("!rollback" if self.rolled_back else "")

    def shown_state(self, now: float) -> str:
        """`stale` for an online device whose status expired: three health reports missed."""
        if self.state == "online" and self.expires_at is not None and now > self.expires_at:
            return "stale"
        return self.state


class Fleet:
    """Folds records into one DeviceState per device."""

    def __init__(self):
        self.devices: dict[str, DeviceState] = {}
        self.messages = 0

    def add(self, record: Record) -> None:
        device = self.devices.setdefault(record.device, DeviceState())
        device.last_seen = record.received_at
        self.messages += 1
        device.model = str(record.payload.get("model", device.model))
        if record.kind == "status":
            device.model_sha256 = record.payload.get("model_sha256")
            device.rolled_back = "rollback" in record.payload
            device.state = str(record.payload.get("state", device.state))
            device.expires_at = expiry(record)
            # an offline device (its goodbye, or its Last Will) sends no health: its old figures no longer hold
            health = record.payload.get("health") or {}
            device.fps = health.get("fps")
            device.queue = health.get("queue_depth")
        elif record.kind == "emotion" and record.label:
            device.faces += 1
            device.counts[record.label] += 1
            device.last_label = record.label
            device.last_confidence = record.payload.get("confidence")
        elif record.kind == "event":
            device.events += 1


def expiry(record: Record) -> float | None:
    """When a status stops being current: `expire_after` from its own timestamp, or from its arrival if earlier.

    A retained status received now may have been sent long ago (by an agent whose broker died with it).
    """
    expire_after = record.payload.get("expire_after")
    if expire_after is None:
        return None
    try:
        sent = datetime.fromisoformat(record.timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        sent = record.received_at
    return min(sent, record.received_at) + expire_after


DEVICE_WIDTH = 40  # the widest device column; a longer name keeps its start and its end


def shortened(name: str, width: int) -> str:
    """`name` in `width` characters: its start, an ellipsis and its last 6 (camera-building-A-1 and -2 differ there)."""
    return name if len(name) <= width else name[: width - 7] + "…" + name[-6:]


def render(fleet: Fleet, now: float | None = None, color: bool = True) -> str:
    """The table as text; with color, ANSI-styled and starting with a clear-screen sequence."""
    now = time.time() if now is None else now
    style = (lambda code, text: f"{code}{text}{RESET}") if color else (lambda code, text: text)
    width = min(max([len(name) for name in fleet.devices] + [17]), DEVICE_WIDTH) + 1
    header = f"{'device':<{width}}{'state':<9}{'fps':>5}{'queue':>7}  {'last emotion':<20}{'seen':>7}{'events':>8}{'faces':>7}  {'model':<{MODEL_WIDTH}}" + " ".join(
        f"{name:>{COUNT_WIDTH}}" for name in EMOTIONS
    )
    lines = [style(BOLD, header)]
    for name in sorted(fleet.devices):
        device = fleet.devices[name]
        shown = device.shown_state(now)
        state = style(GREEN if shown == "online" else RED, f"{shown:<9}")
        last = device.last_label + (f" {device.last_confidence:.2f}" if device.last_confidence is not None else "")
        seen = f"{now - device.last_seen:.0f}s" if device.last_seen else "-"
        current = shown == "online"  # a stale device's last figures are not today's
        fps = f"{device.fps:.1f}" if device.fps is not None and current else "-"
        queue = str(device.queue) if device.queue is not None and current else "-"
        counts = " ".join(f"{device.counts[label]:>{COUNT_WIDTH}}" for label in EMOTIONS)
        lines.append(f"{shortened(name, width - 1):<{width}}{state}{fps:>5}{queue:>7}  {last:<20}{seen:>7}{device.events:>8}{device.faces:>7}  {device.shown_model()[:MODEL_WIDTH - 1]:<{MODEL_WIDTH}}{counts}")
    if not fleet.devices:
        lines.append(style(DIM, "waiting for messages..."))
    lines.append(style(DIM, f"{fleet.messages} messages from {len(fleet.devices)} devices; Ctrl-C to stop"))
    return (CLEAR if color else "") + "\n".join(lines) + "\n"
