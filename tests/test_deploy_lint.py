"""deploy/: shellcheck and ansible-lint (default profile) find nothing; each runs where installed (make test installs both)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def tool(name: str) -> str:
    found = shutil.which(name, path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if found is None:
        pytest.skip(f"{name} is not installed (make system-deps / the dev extra install it)")
    return found


def test_shellcheck_is_clean_on_deploy():
    scripts = sorted(DEPLOY.rglob("*.sh"))
    result = subprocess.run([tool("shellcheck"), *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ansible_lint_is_clean_at_its_default_profile():
    env = os.environ | {"ANSIBLE_LINT_SKIP_SCHEMA_UPDATE": "1", "NO_COLOR": "1"}
    result = subprocess.run([tool("ansible-lint"), "--offline"], cwd=DEPLOY / "ansible", capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
