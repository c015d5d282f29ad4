"""deploy/*.sh: parse, explain themselves, reject bad input; and agree with the agent on paths."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edge.config import OutboxConfig
from edge.modelfile import MODEL_NAME, SEARCH_PATH

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SCRIPTS = [DEPLOY / "install.sh", DEPLOY / "check_debootstrap.sh", DEPLOY / "mosquitto" / "make-certs.sh",
           DEPLOY / "ansible" / "check_chroot.sh"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_parses_and_is_strict(script):
    assert subprocess.run(["bash", "-n", script]).returncode == 0
    assert "set -euo pipefail" in script.read_text()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_help_and_bad_flag(script):
    help_run = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert help_run.returncode == 0 and help_run.stdout.startswith("Usage:")
    bad = subprocess.run([script, "--no-such-flag"], capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stderr.startswith(f"{script.name}: error: ") and "'--no-such-flag'" in bad.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
@pytest.mark.parametrize("value", [[], [""]], ids=["last", "empty"])
def test_a_flag_without_its_value_is_named(script, value):
    flags = re.findall(r"^\s+(--[a-z-]+)\) need_value ", script.read_text(), re.MULTILINE)
    assert flags and not re.search(r"\$\{2:\?", script.read_text())
    for flag in flags:
        run = subprocess.run([script, flag, *value], capture_output=True, text=True)
        assert (run.returncode, run.stderr) == (1, f"{script.name}: error: {flag} needs a value (see --help)\n")


@pytest.mark.parametrize("script, flags, complaint", [
    ("store_bench.py", ["--agents", "5", "0"], "argument --agents: must be between 1 and 500, got 0"),
    ("store_bench.py", ["--timeout", "nan"], "argument --timeout: must be between 1 and 86400, got nan"),
    ("store_bench.py", ["--agents", "501"], "argument --agents: must be between 1 and 500, got 501"),
    ("loadtest.py", ["--timeout", "inf"], "argument --timeout: must be between 1 and 86400, got inf"),
    ("loadtest.py", ["--rate", "nan"], "argument --rate: must be between 0 and 10000, got nan"),
    ("loadtest.py", ["--agents", "0"], "argument --agents: must be between 1 and 500, got 0"),
    ("outbox_writes.py", ["--repeats", "0"], "--repeats: must be above 0 (got 0)"),
])
def test_benchmark_scripts_refuse_flags_no_run_can_use(script, flags, complaint):
    run = subprocess.run([sys.executable, DEPLOY / script, *flags], capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.splitlines()[-1] == f"{script}: error: {complaint}"


def shell_variable(script: Path, name: str) -> str:
    return re.search(rf"^{name}=(\S+)$", script.read_text(), re.MULTILINE).group(1)


def test_install_puts_the_model_where_the_agent_looks():
    install = DEPLOY / "install.sh"
    assert Path(shell_variable(install, "MODEL_DIR")) in SEARCH_PATH
    assert f"{shell_variable(install, 'MODEL_NAME')}.tflite" == MODEL_NAME


def test_outbox_default_is_inside_the_units_state_directory():
    state = re.search(r"^StateDirectory=(\S+)$", (DEPLOY / "fer-edge.service").read_text(), re.MULTILINE).group(1)
    assert OutboxConfig().path.parent == Path("/var/lib") / state


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_make_certs_keeps_what_exists(tmp_path):
    script = DEPLOY / "mosquitto" / "make-certs.sh"
    subprocess.run([script, "--out", tmp_path, "pi-01"], check=True, capture_output=True)
    ca = (tmp_path / "ca.crt").read_bytes()
    again = subprocess.run([script, "--out", tmp_path, "pi-01", "pi-02"], check=True, capture_output=True, text=True)
    assert again.stdout.strip() == f"make-certs.sh: made {tmp_path}/pi-02.crt (CN=pi-02)"
    assert (tmp_path / "ca.crt").read_bytes() == ca
    verify = subprocess.run(["openssl", "verify", "-CAfile", tmp_path / "ca.crt", tmp_path / "pi-02.crt"])
    assert verify.returncode == 0


def tiny_wheel(folder: Path, code: str) -> Path:
    """A wheel named like fer-edge's, always version 0.1.0, holding one module with `code`."""
    folder.mkdir()
    wheel = folder / "fer_edge-0.1.0-py3-none-any.whl"
    info = "fer_edge-0.1.0.dist-info"
    files = {"fer_edge_probe.py": code, f"{info}/METADATA": "Metadata-Version: 2.1\nName: fer-edge\nVersion: 0.1.0\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr(f"{info}/RECORD", "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n")
    return wheel


def test_install_really_reinstalls_a_rebuilt_wheel_of_the_same_version(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    # this venv's pip, installing into that one (quicker than giving it a pip of its own)
    (venv / "bin" / "pip").write_text(f'#!/bin/sh\nexec {sys.executable} -m pip --python {venv}/bin/python "$@"\n')
    (venv / "bin" / "pip").chmod(0o755)
    first, second = (tiny_wheel(tmp_path / build, f"BUILD = {build!r}\n") for build in ("first", "second"))
    seen = []
    for wheel in (first, second, second):
        script = f'source {DEPLOY / "install.sh"}; PREFIX={tmp_path}; SOURCE={wheel}; install_agent'
        said = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.strip()
        build = subprocess.check_output([venv / "bin" / "python", "-c", "import fer_edge_probe as p; print(p.BUILD)"])
        seen.append((said.split(": ", 1)[1].split(" from ")[0], build.decode().strip()))
    assert seen == [("installed fer-edge", "first"), ("installed fer-edge", "second"), ("fer-edge", "second")]


def install_parse(*flags) -> subprocess.CompletedProcess:
    script = f'source {DEPLOY / "install.sh"}; parse_args "$@"; echo "source=$SOURCE password=$PASSWORD_FILE"'
    return subprocess.run(["bash", "-c", script, "install.sh", *flags], capture_output=True, text=True,
                          cwd=DEPLOY.parent)


@pytest.mark.parametrize("password, complaint", [
    ("folder", "not a file"),
    ("blank", "its first line (the password) is empty"),
])
def test_install_refuses_a_password_file_that_gives_no_password(tmp_path, password, complaint):
    (tmp_path / "folder").mkdir()
    (tmp_path / "blank").write_text("\nsecret\n")
    run = install_parse("--source", str(DEPLOY.parent), "--mqtt-password-file", str(tmp_path / password))
    assert run.returncode == 1
    assert run.stderr == f"install.sh: error: --mqtt-password-file {tmp_path / password}: {complaint}\n"


def test_install_takes_flag_equals_value(tmp_path):
    (tmp_path / "pw").write_text("secret\n")
    run = install_parse(f"--source={DEPLOY.parent}", f"--mqtt-password-file={tmp_path / 'pw'}")
    if os.geteuid() == 0:
        assert run.stdout.strip() == f"source={DEPLOY.parent} password={tmp_path / 'pw'}"
    else:  # parse_args ends by refusing a user who is not root, once every flag was read
        assert run.stderr == "install.sh: error: must run as root\n"
