"""One fixture per real part the tests use."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from mosquitto import Broker  # noqa: E402

SHARED_FER2013 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"


@pytest.fixture
def broker(tmp_path):
    """A real Mosquitto on a free loopback port, stopped after the test."""
    instance = Broker(tmp_path).start()
    yield instance
    instance.stop()


@pytest.fixture
def shared_fer2013() -> Path:
    """The full FER2013 CSV from ../shared; the test is skipped where it is absent (a fresh clone)."""
    if not SHARED_FER2013.exists():
        pytest.skip(f"{SHARED_FER2013} is absent")
    return SHARED_FER2013
