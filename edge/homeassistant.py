"""Home Assistant MQTT discovery, device-based: one retained `<prefix>/device/fer_<device>/config` per device.

The payload follows www.home-assistant.io/integrations/mqtt/ ("Device discovery payload"): the device (`dev`),
the origin (`o`) and the availability at the root, shared by every component in `cmps`; each component names
its platform (`p`) and has a unique_id. Components:

- `emotion`: an `enum` sensor whose state is the latest face's label (the seven options), its probabilities as
  attributes, unavailable after `emotion_expire_seconds` without a face;
- `face`: an MQTT `event` entity that fires once per detected face, the label as its event type;
- diagnostics read from the status topic's health: fps, queue depth, published, dropped, errors; and the model:
  its id, its sha256, and the rollback (the model refused at start and why) or "none".

The whole device is available while its retained status says online (the Last Will says offline), and the
health-based diagnostics expire when the status would go stale (three missed health reports).

Devices discovered the old way (one retained `<prefix>/sensor/fer_<device>/emotion/config`) are migrated on
every connect as that page describes: `{"migrate_discovery": true}` on the old topic, the device payload, then
the old topic cleared (an empty retained payload, sent here as None).
"""

from __future__ import annotations

import math
from typing import Any

from edge import __version__
from edge.labels import EMOTIONS
from edge.messages import Topics

ORIGIN = {"name": "fer-edge", "sw": __version__}
# a health figure the diagnostics show: (component id, name, field of the status's health, unit, icon)
HEALTH_DIAGNOSTICS = [
    ("fps", "Frame rate", "fps", "fps", "mdi:speedometer"),
    ("queue_depth", "Queued results", "queue_depth", "messages", "mdi:tray-full"),
    ("published", "Published results", "published", "messages", "mdi:upload"),
    ("dropped", "Dropped results", "dropped", "messages", "mdi:delete-alert"),
    ("errors", "Frame errors", "errors", "frames", "mdi:alert-circle-outline"),
]
# a status field the diagnostics show as text: (component id, name, field of the status message, icon).
# New fields of the status message (the model's sha256, say) are one more line here.
STATUS_DIAGNOSTICS = [
    ("model", "Model", "model", "mdi:brain"),
    ("model_sha256", "Model sha256", "model_sha256", "mdi:fingerprint"),
]
# which model the agent went back from, and why (its status's rollback), or "none"; a state holds 255 characters
ROLLBACK_TEMPLATE = (
    "{{ ((value_json.rollback['from'].model ~ ': ' ~ value_json.rollback.reason)[:250]) "
    "if value_json.rollback is defined else 'none' }}"
)


def node_id(topics: Topics) -> str:
    return f"fer_{topics.device_id}"


def legacy_topics(topics: Topics, discovery_prefix: str) -> list[str]:
    """The per-entity discovery topics of fer-edge before device-based discovery."""
    return [f"{discovery_prefix}/sensor/{node_id(topics)}/emotion/config"]


def discovery_messages(
    topics: Topics,
    model_id: str,
    discovery_prefix: str = "homeassistant",
    health_expire_seconds: float = 180.0,
    emotion_expire_seconds: int = 0,
) -> list[tuple[str, dict[str, Any] | None]]:
    """(topic, payload) pairs to publish retained on every connect, in order; a None payload clears the topic.

    Health diagnostics expire after `health_expire_seconds` (the status's own expire_after), the emotion after
    `emotion_expire_seconds` without a face (0: never).
    """
    device_topic = f"{discovery_prefix}/device/{node_id(topics)}/config"
    payload = device_payload(topics, model_id, health_expire_seconds, emotion_expire_seconds)
    legacy = legacy_topics(topics, discovery_prefix)
    return [(t, {"migrate_discovery": True}) for t in legacy] + [(device_topic, payload)] + [(t, None) for t in legacy]


def device_payload(topics: Topics, model_id: str, health_expire_seconds: float, emotion_expire_seconds: int) -> dict:
    node = node_id(topics)
    components = {
        "emotion": emotion_sensor(topics, node, emotion_expire_seconds),
        "face": face_event(topics, node),
    }
    health_expiry = max(1, math.ceil(health_expire_seconds))
    for key, name, field, unit, icon in HEALTH_DIAGNOSTICS:
        components[key] = health_sensor(topics, node, key, name, field, unit, icon, health_expiry)
    for key, name, field, icon in STATUS_DIAGNOSTICS:
        components[key] = diagnostic(topics, node, key, name, icon) | {
            "value_template": f"{{{{ value_json.{field} | default(None) }}}}",
        }
    components["model_rollback"] = diagnostic(topics, node, "model_rollback", "Model rollback", "mdi:backup-restore") | {
        "value_template": ROLLBACK_TEMPLATE,
    }
    return {
        "dev": {
            "ids": [node],
            "name": f"fer-edge {topics.device_id}",
            "mf": "fer-edge",
            "mdl": "fer-edge agent",
            "sw": __version__,
        },
        "o": ORIGIN,
        "availability": [{
            "topic": topics.status,
            "value_template": "{{ value_json.state }}",
            "payload_available": "online",
            "payload_not_available": "offline",
        }],
        "qos": 1,
        "cmps": components,
    }


def emotion_sensor(topics: Topics, node: str, expire_seconds: int) -> dict[str, Any]:
    sensor = {
        "p": "sensor",
        "name": "Emotion",
        "unique_id": f"{node}_emotion",
        "icon": "mdi:emoticon-outline",
        "device_class": "enum",
        "options": list(EMOTIONS),
        "state_topic": topics.emotion,
        "value_template": "{{ value_json.label }}",
        "json_attributes_topic": topics.emotion,
        "json_attributes_template": "{{ value_json.probabilities | tojson }}",
    }
    if expire_seconds:
        sensor["expire_after"] = expire_seconds
    return sensor


def face_event(topics: Topics, node: str) -> dict[str, Any]:
    """Fires once per face; the event's attributes are its confidence, box, event and track."""
    return {
        "p": "event",
        "name": "Face",
        "unique_id": f"{node}_face",
        "icon": "mdi:face-recognition",
        "state_topic": topics.emotion,
        "event_types": list(EMOTIONS),
        "value_template": (
            '{{ {"event_type": value_json.label, "confidence": value_json.confidence, "box": value_json.box, '
            '"event": value_json.event, "track": value_json.track | default(None)} | tojson }}'
        ),
    }


def diagnostic(topics: Topics, node: str, key: str, name: str, icon: str) -> dict[str, Any]:
    return {
        "p": "sensor",
        "name": name,
        "unique_id": f"{node}_{key}",
        "icon": icon,
        "entity_category": "diagnostic",
        "state_topic": topics.status,
    }


def health_sensor(topics, node, key, name, field, unit, icon, expire_after: int) -> dict[str, Any]:
    """A number from the status's health; "None" (unknown to Home Assistant) in a status without health."""
    return diagnostic(topics, node, key, name, icon) | {
        "state_class": "measurement",
        "unit_of_measurement": unit,
        "value_template": f"{{{{ value_json.health.{field} if value_json.health is defined else None }}}}",
        "expire_after": expire_after,
    }
