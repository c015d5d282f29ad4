"""fer-monitor: the subscriber side. Watches a fleet over MQTT, keeps what it sent, and plots it.

Light on purpose: paho-mqtt only; matplotlib is imported by `report` alone.
"""
