"""The first-run demo: a bundled clip of FER2013 faces, a private local broker, the agent and a subscriber."""

from pathlib import Path

CLIP = Path(__file__).resolve().parent / "faces_demo.avi"
BROKERS = ("auto", "mosquitto", "amqtt")  # the private broker of `fer-edge demo`: auto picks Mosquitto if installed


def labels_path(clip: Path) -> Path:
    """Where a clip's true labels are kept: <clip stem>.labels.json beside it (see make_demo_clip.py)."""
    return clip.with_name(clip.stem + ".labels.json")


LABELS = labels_path(CLIP)
