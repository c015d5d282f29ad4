"""Command-line tools some tests run: found beside this Python (the venv's bin) or on PATH, else the test skips."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def installed_tool(name: str, how: str) -> str:
    """Path of the tool `name`; skips the test, saying `how` to install it, when it is absent."""
    found = shutil.which(name, path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if found is None:
        pytest.skip(f"{name} is not installed ({how})")
    return found
