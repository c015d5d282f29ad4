"""deploy/loadtest.py: one small round through the real publisher and outbox, over the shipped TLS broker set-up."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LOADTEST = Path(__file__).resolve().parents[1] / "deploy" / "loadtest.py"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_a_small_round_delivers_everything_it_stored(tmp_path):
    result = subprocess.run([sys.executable, LOADTEST, "--agents", "1", "--messages", "5", "--rate", "0"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "TLS" in result.stdout.splitlines()[0]
    cells = [cell.strip() for cell in result.stdout.splitlines()[-1].strip("|").split("|")]
    assert cells[:8] == ["1", "max", "5", "5", "0", "0", "0", "0"]  # K, rate, sent, delivered, unsent, dropped, refused, dup
