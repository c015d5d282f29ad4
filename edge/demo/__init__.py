"""The first-run demo: a bundled clip of FER2013 faces, a local Mosquitto, the agent and a subscriber."""

from pathlib import Path

CLIP = Path(__file__).resolve().parent / "faces_demo.avi"
