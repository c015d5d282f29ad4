"""edge/tlsfiles.py through `fer-edge check-config`: the CA, certificate and key files checked before a connect."""

import shutil

import pytest

from certs import make_certs, sign
from stderr_lines import without_camera_warning
from edge.cli import main

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"), "pi-01", "pi-02")


def check(capsys, certs, cert: str = "pi-01", key: str | None = None, ca: str = "ca", device: str = "pi-01"):
    """check-config's exit status and stderr for device `device` with these files of `certs`."""
    status = main(["check-config", "--device-id", device, "--mqtt-tls-ca-file", str(certs / f"{ca}.crt"),
                   "--mqtt-tls-cert-file", str(certs / f"{cert}.crt"), "--mqtt-tls-key-file", str(certs / f"{key or cert}.key")])
    return status, without_camera_warning(capsys.readouterr().err)


def test_good_files_pass_quietly(capsys, certs):
    assert check(capsys, certs) == (0, "")


def test_a_missing_ca_file_is_named(capsys, certs):
    status, err = check(capsys, certs, ca="absent")
    assert status == 1 and err == f"fer-edge: error: field 'mqtt.tls.ca_file': {certs / 'absent.crt'} not found\n"


def test_a_file_that_is_no_certificate_is_named(capsys, certs, tmp_path):
    shutil.copy(certs / "pi-01.key", tmp_path / "pi-01.key")
    (tmp_path / "pi-01.crt").write_bytes(b"\x00\xff binary")
    shutil.copy(certs / "ca.crt", tmp_path / "ca.crt")
    status, err = check(capsys, tmp_path)
    assert status == 1 and f"field 'mqtt.tls.cert_file': {tmp_path / 'pi-01.crt'} is not a PEM certificate" in err


def test_a_key_of_another_certificate_is_refused(capsys, certs):
    status, err = check(capsys, certs, key="pi-02")
    assert status == 1 and "is not the key of the certificate in mqtt.tls.cert_file" in err


def test_a_certificate_expiring_within_30_days_is_a_warning(capsys, tmp_path):
    files = make_certs(tmp_path / "c")
    sign(files, "soon", "pi-01", days=10)
    status, err = check(capsys, files, cert="soon")
    assert status == 0 and "warning: field 'mqtt.tls.cert_file': certificate pi-01 in" in err and "expires in 9 days" in err


def test_an_expired_certificate_is_an_error(capsys, tmp_path):
    files = make_certs(tmp_path / "c")
    sign(files, "old", "pi-01", days=-1)
    status, err = check(capsys, files, cert="old")
    assert status == 1 and "certificate pi-01 in" in err and "expired on" in err


def test_a_certificate_of_another_name_than_the_device_is_a_warning(capsys, certs):
    status, err = check(capsys, certs, device="kitchen")
    assert status == 0
    assert "warning: device_id 'kitchen' is not the broker identity 'pi-01'" in err and "under fer/pi-01/" in err
