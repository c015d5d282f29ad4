"""deploy/: shellcheck and ansible-lint (default profile) find nothing; each runs where installed (make test installs both)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tools import installed_tool

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def tool(name: str) -> str:
    return installed_tool(name, "make system-deps and the dev extra install it")


def test_shellcheck_is_clean_on_deploy():
    scripts = sorted(DEPLOY.rglob("*.sh"))
    result = subprocess.run([tool("shellcheck"), *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ansible_lint_is_clean_at_its_default_profile():
    env = os.environ | {"ANSIBLE_LINT_SKIP_SCHEMA_UPDATE": "1", "NO_COLOR": "1"}
    result = subprocess.run([tool("ansible-lint"), "--offline"], cwd=DEPLOY / "ansible", capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
