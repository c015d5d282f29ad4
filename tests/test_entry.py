"""edge/entry.py: the training-side commands on an edge-only install, and their wiring in pyproject.toml."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from certs import make_certs
from edge.entry import COMMANDS

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
TRAIN_ONLY = ("tensorflow", "tf_keras", "keras", "tensorboard", "sklearn", "scikit_learn", "matplotlib", "mpl_toolkits")


@pytest.fixture(scope="module")
def edge_only_site(tmp_path_factory) -> Path:
    """This venv's packages without the `train` extra's: what `pip install 'fer-edge[edge]'` leaves on a Pi."""
    site = tmp_path_factory.mktemp("edge-only-site")
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.lower().startswith(TRAIN_ONLY) and entry.suffix != ".pth":
            (site / entry.name).symlink_to(entry)
    return site


def run_edge_only(site: Path, *args: str) -> subprocess.CompletedProcess:
    # -S: no site-packages of ours, only the filtered copy and this checkout
    env = {"PYTHONPATH": f"{ROOT}:{site}", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-S", *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_edge_only_install_names_the_extra_in_one_line(edge_only_site, prog):
    result = run_edge_only(edge_only_site, "-m", "edge.entry", prog, "runs/x")
    assert result.returncode == 1
    assert result.stderr == (
        f"{prog}: error: needs TensorFlow, scikit-learn and matplotlib, not installed here: pip install 'fer-edge[train]'\n"
    )


def test_the_edge_still_works_there(edge_only_site, tmp_path):
    ca = make_certs(tmp_path) / "ca.crt"
    example = ROOT / "deploy" / "edge.toml.example"
    result = run_edge_only(edge_only_site, "-m", "edge.cli", "check-config", str(example), "--mqtt-tls-ca-file", str(ca))
    assert result.returncode == 0, result.stderr


def test_console_scripts_start_in_edge_entry():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for prog in COMMANDS:
        assert scripts[prog] == f"edge.entry:{prog.replace('-', '_')}"


@pytest.mark.parametrize("verbose", [False, True])
def test_tensorflow_banners_only_with_verbose(tmp_path, verbose):
    command = [sys.executable, "-m", "edge.entry", "fer-bench", str(tmp_path / "none")] + ["-v"] * verbose
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1
    assert result.stderr.endswith(f"fer-bench: error: {tmp_path / 'none'}: no such file\n")
    assert ("absl::InitializeLog" in result.stderr) == verbose


def test_fer_trains_verbose_level_is_not_the_switch_for_tensorflows_banners(tmp_path):
    command = [sys.executable, "-m", "edge.entry", "fer-train", "--data", str(tmp_path / "none.csv"), "--run-dir",
               str(tmp_path / "run"), "--verbose", "0"]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1
    assert result.stderr == f"fer-train: error: {tmp_path / 'none.csv'}: no such file or directory\n"
