"""Home Assistant MQTT discovery: one sensor per device whose state is the latest face's emotion.

Key names follow Home Assistant's MQTT sensor documentation (www.home-assistant.io/integrations/sensor.mqtt):
with a single `availability_topic`, the template that reads it is `availability_template`; `value_template`
reads the state topic.
"""

from __future__ import annotations

from typing import Any

from edge import __version__
from edge.messages import Topics


def discovery_messages(
    topics: Topics, model_id: str, discovery_prefix: str = "homeassistant"
) -> list[tuple[str, dict[str, Any]]]:
    """(topic, payload) pairs to publish retained on every connect."""
    node = f"fer_{topics.device_id}"
    sensor = {
        "name": "Emotion",
        "unique_id": f"{node}_emotion",
        "icon": "mdi:emoticon-outline",
        "state_topic": topics.emotion,
        "value_template": "{{ value_json.label }}",
        "json_attributes_topic": topics.emotion,
        "json_attributes_template": "{{ value_json.probabilities | tojson }}",
        "availability_topic": topics.status,
        "availability_template": "{{ value_json.state }}",
        "payload_available": "online",
        "payload_not_available": "offline",
        "qos": 1,
        "device": {
            "identifiers": [node],
            "name": f"fer-edge {topics.device_id}",
            "manufacturer": "fer-edge",
            "model": model_id,
            "sw_version": __version__,
        },
    }
    return [(f"{discovery_prefix}/sensor/{node}/emotion/config", sensor)]
