"""fer-edge model keygen / pack / sign / install / status, through main()."""

from __future__ import annotations

import hashlib
import io
import json
import shutil

import numpy as np
import pytest

from edge.bundle import Bundle, read_bundle, write_bundle
from edge.classifier import TFLiteEmotionClassifier
from edge.cli import main
from edge.metadata import file_sha256


def config_file(tmp_path, keys=()):
    path = tmp_path / "edge.toml"
    trusted = ", ".join(f'"{key}"' for key in keys)
    path.write_text(f'[model_store]\npath = "{tmp_path / "store"}"\ntrusted_keys = [{trusted}]\n')
    return path


def test_keygen_pack_sign_install_status(tmp_path, tflite_model, capsys):
    key, bundle = tmp_path / "release.key", tmp_path / "m.bundle"
    assert main(["model", "keygen", str(key)]) == 0
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert main(["model", "pack", str(tflite_model), "-o", str(bundle)]) == 0
    assert main(["model", "sign", str(bundle), "--key", str(key)]) == 0
    config = config_file(tmp_path, [f"{key}.pub"])
    assert main(["model", "install", str(bundle), "--config", str(config), "--no-restart"]) == 0
    sha = file_sha256(tflite_model)
    assert main(["model", "status", "--config", str(config), "--expect-sha256", sha]) == 0
    assert f"current   tiny_int8 {sha}" in capsys.readouterr().out


def test_keygen_writes_nothing_when_the_public_key_file_is_taken(tmp_path, capsys):
    (tmp_path / "k.pub").mkdir()
    assert main(["model", "keygen", str(tmp_path / "k")]) == 1
    assert capsys.readouterr().err == f"fer-edge: error: {tmp_path / 'k.pub'}: a folder; not overwriting a key\n"
    assert not (tmp_path / "k").exists()
    assert main(["model", "sign", str(tmp_path / "m.bundle"), "--key", str(tmp_path / "k")]) == 1
    assert capsys.readouterr().err == f"fer-edge: error: {tmp_path / 'k'}: cannot read key (No such file or directory)\n"


def test_signing_an_installed_bundle_and_installing_it_again_installs_the_signed_copy(tmp_path, tflite_model, capsys):
    from edge.modelstore import open_current
    from edge.signing import trusted_keys

    key, bundle = tmp_path / "release.key", tmp_path / "m.bundle"
    main(["model", "keygen", str(key)])
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    assert main(["model", "install", str(bundle), "--config", str(config_file(tmp_path)), "--no-restart"]) == 0
    main(["model", "sign", str(bundle), "--key", str(key)])
    signed_config = config_file(tmp_path, [f"{key}.pub"])
    capsys.readouterr()
    assert main(["model", "status", "--config", str(signed_config), "--expect-bundle", str(bundle)]) == 1
    assert "the bundle is not the current model" in capsys.readouterr().err
    assert main(["model", "install", str(bundle), "--config", str(signed_config), "--no-restart"]) == 0
    assert main(["model", "status", "--config", str(signed_config), "--expect-bundle", str(bundle)]) == 0
    store = tmp_path / "store"
    assert (store / "current" / "signature.json").is_file() and (store / "previous" / "manifest.json").is_file()
    open_current(store, trusted_keys([key.with_name("release.key.pub")]), TFLiteEmotionClassifier)


def test_installing_a_bundle_again_repairs_its_damaged_folder(tmp_path, tflite_model, capsys):
    bundle, config = tmp_path / "m.bundle", config_file(tmp_path)
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    assert main(["model", "install", str(bundle), "--config", str(config), "--no-restart"]) == 0
    sidecar = tmp_path / "store" / "current" / "model.json"
    sidecar.write_text("damaged")
    capsys.readouterr()
    assert main(["model", "status", "--config", str(config), "--expect-bundle", str(bundle)]) == 1
    assert capsys.readouterr().err.endswith("the installed files differ from the bundle's: install it again\n")
    assert main(["model", "install", str(bundle), "--config", str(config), "--no-restart"]) == 0
    assert sidecar.read_bytes() == read_bundle(bundle).parts["model.json"]
    assert main(["model", "status", "--config", str(config), "--expect-bundle", str(bundle)]) == 0
    assert not list((tmp_path / "store").glob(".staging-*"))


def test_an_unsigned_bundle_is_one_error_line_and_nothing_changes(tmp_path, tflite_model, capsys):
    bundle, key = tmp_path / "m.bundle", tmp_path / "k"
    main(["model", "keygen", str(key)])
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    capsys.readouterr()
    assert main(["model", "install", str(bundle), "--config", str(config_file(tmp_path, [f"{key}.pub"])), "--no-restart"]) == 1
    assert capsys.readouterr().err == (f"fer-edge: error: {bundle}: not signed, and trusted keys are configured "
                                       "(sign it: fer-edge model sign BUNDLE --key KEY)\n")
    assert not (tmp_path / "store" / "current").exists()


def test_an_install_the_disk_cannot_hold_is_named_and_leaves_nothing(tmp_path, tflite_model, capsys, small_disk):
    bundle = tmp_path / "m.bundle"
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    store = small_disk("64k") / "store"
    capsys.readouterr()
    assert main(["model", "install", str(bundle), "--model-store-path", str(store), "--no-restart"]) == 1
    assert capsys.readouterr().err == (f"fer-edge: error: {store}: cannot install {bundle} (No space left on device); "
                                       "the running model is unchanged\n")
    assert list(store.iterdir()) == []


def test_a_store_path_that_is_a_file_and_a_bundle_into_a_missing_folder_are_named(tmp_path, tflite_model, capsys):
    bundle = tmp_path / "m.bundle"
    assert main(["model", "pack", str(tflite_model), "-o", str(tmp_path / "gone" / "m.bundle")]) == 1
    assert capsys.readouterr().err == (f"fer-edge: error: {tmp_path / 'gone' / 'm.bundle'}: cannot write the bundle "
                                       "(its folder does not exist)\n")
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    (tmp_path / "notes").write_text("not a store")
    capsys.readouterr()
    assert main(["model", "install", str(bundle), "--model-store-path", str(tmp_path / "notes"), "--no-restart"]) == 1
    assert capsys.readouterr().err == (f"fer-edge: error: field 'model_store.path': {tmp_path / 'notes'} is a file, "
                                       "not the folder of installed models\n")


def test_status_reads_past_a_rollback_record_edited_by_hand(tmp_path, tflite_model, capsys):
    bundle, config = tmp_path / "m.bundle", config_file(tmp_path)
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    main(["model", "install", str(bundle), "--config", str(config), "--no-restart"])
    (tmp_path / "store" / "rollback.json").write_text('{"from": {}}')
    capsys.readouterr()
    assert main(["model", "status", "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("current   tiny_int8 ") and "rollback" not in out and "Traceback" not in err


def test_status_fails_when_the_expected_model_is_not_current(tmp_path, capsys):
    config = config_file(tmp_path)
    assert main(["model", "status", "--config", str(config), "--expect-sha256", "0" * 64]) == 1
    assert "expected model sha256 0000" in capsys.readouterr().err


def test_a_bundle_that_is_no_tar_is_named(tmp_path, tflite_model, capsys):
    shutil.copy(tflite_model, tmp_path / "x.bundle")
    assert main(["model", "install", str(tmp_path / "x.bundle"), "--config", str(config_file(tmp_path)), "--no-restart"]) == 1
    assert capsys.readouterr().err.startswith(f"fer-edge: error: {tmp_path / 'x.bundle'}: not a model bundle")


PARTS_AND_TOLERANCE = ("needs parts model.tflite, model.json, verify.json, golden.npz (each to its sha256) and a "
                       "tolerance between 0 and 1")


@pytest.mark.parametrize("change, complaint", [
    ({"model_id": None}, "needs a model_id, as one line of printable text"),
    ({"model_id": "v5\ncurrent   forged 0000"}, "needs a model_id, as one line of printable text"),
    ({"tolerance": float("nan")}, PARTS_AND_TOLERANCE),
    ({"parts": ["model.tflite", "model.json", "verify.json", "golden.npz"]}, PARTS_AND_TOLERANCE),
    ({"parts": dict.fromkeys(["model.tflite", "model.json", "verify.json", "golden.npz"], 1)}, PARTS_AND_TOLERANCE),
])
def test_a_manifest_without_a_model_id_or_a_usable_tolerance_is_refused(tmp_path, tflite_model, capsys, change,
                                                                         complaint):
    bundle = tmp_path / "m.bundle"
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    packed = read_bundle(bundle)
    manifest = {key: value for key, value in (packed.manifest | change).items() if value is not None}
    write_bundle(bundle, Bundle(packed.source, json.dumps(manifest).encode(), packed.parts, None))
    capsys.readouterr()
    assert main(["model", "install", str(bundle), "--config", str(config_file(tmp_path)), "--no-restart"]) == 1
    assert capsys.readouterr().err == f"fer-edge: error: {bundle}: manifest.json: {complaint}\n"
    assert not (tmp_path / "store" / "current").exists()


def golden_faces(faces, probabilities):
    buffer = io.BytesIO()
    np.savez(buffer, faces=faces, probabilities=probabilities)
    return buffer.getvalue()


@pytest.mark.parametrize("faces, probabilities, complaint", [
    (np.zeros((2, 32, 32), np.uint8), np.full((2, 7), 1 / 7, np.float32), "holds 32x32 uint8 faces, expected 48x48 uint8"),
    (np.zeros((2, 48, 48), np.float32), np.full((2, 7), 1 / 7, np.float32), "holds 48x48 float32 faces"),
    (np.zeros((2, 48, 48), np.uint8), np.full((2, 7), np.nan, np.float32), "holds probabilities that are not numbers"),
    (np.zeros((2, 48, 48), np.uint8), np.full((2, 7), 3, np.int64), "holds probabilities that are not numbers"),
])
def test_golden_faces_the_model_cannot_take_are_named(tmp_path, tflite_model, capsys, faces, probabilities, complaint):
    bundle = tmp_path / "m.bundle"
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    packed = read_bundle(bundle)
    parts = packed.parts | {"golden.npz": golden_faces(faces, probabilities)}
    manifest = packed.manifest
    manifest["parts"]["golden.npz"] = hashlib.sha256(parts["golden.npz"]).hexdigest()
    write_bundle(bundle, Bundle(packed.source, json.dumps(manifest).encode(), parts, None))
    capsys.readouterr()
    assert main(["model", "install", str(bundle), "--config", str(config_file(tmp_path)), "--no-restart"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"fer-edge: error: {bundle}: golden.npz {complaint}") and err.count("\n") == 1
    assert not (tmp_path / "store" / "current").exists()


def test_expect_bundle_refuses_a_bundle_install_would_refuse(tmp_path, tflite_model, capsys):
    key, stranger, bundle = tmp_path / "release.key", tmp_path / "stranger.key", tmp_path / "m.bundle"
    for path in (key, stranger):
        main(["model", "keygen", str(path)])
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    main(["model", "sign", str(bundle), "--key", str(key)])
    config = config_file(tmp_path, [f"{key}.pub"])
    assert main(["model", "install", str(bundle), "--config", str(config), "--no-restart"]) == 0
    assert main(["model", "status", "--config", str(config), "--expect-bundle", str(bundle)]) == 0
    main(["model", "sign", str(bundle), "--key", str(stranger)])  # the same model, now signed by a stranger
    capsys.readouterr()
    assert main(["model", "status", "--config", str(config), "--expect-bundle", str(bundle)]) == 1
    assert "not among the trusted keys" in capsys.readouterr().err


@pytest.mark.parametrize("tolerance", ["-1", "2", "nan"])
def test_pack_refuses_a_tolerance_no_install_could_meet(tmp_path, capsys, tolerance):
    with pytest.raises(SystemExit) as stop:
        main(["model", "pack", str(tmp_path / "m.tflite"), "-o", str(tmp_path / "m.bundle"), "--tolerance", tolerance])
    assert stop.value.code == 2 and "argument --tolerance: must be between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "m.bundle").exists()


def test_pack_into_a_folder_is_refused_and_leaves_nothing(tmp_path, tflite_model, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["model", "pack", str(tflite_model), "-o", str(folder)]) == 1
    assert f"{folder}: a folder; name the bundle file to write" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and list(folder.iterdir()) == []


def add_an_unknown_key(model):
    sidecar = model.with_suffix(".json")
    sidecar.write_text(json.dumps(json.loads(sidecar.read_text()) | {"colour": "x"}))


def append_a_byte(model):
    model.write_bytes(model.read_bytes() + b"\0")


@pytest.mark.parametrize("damage, complaint", [
    (add_an_unknown_key, "{sidecar}: field 'colour': unknown key"),
    (append_a_byte,
     "{model}: sha256 {sha} is not the {recorded} recorded in m.json; the file was changed or belongs to another sidecar"),
])
def test_pack_refuses_a_sidecar_install_would_refuse(tmp_path, tflite_model, capsys, damage, complaint):
    for path in tflite_model.parent.glob(tflite_model.stem + ".*"):
        shutil.copy(path, tmp_path / ("m" + path.name[len(tflite_model.stem):]))
    model = tmp_path / "m.tflite"
    damage(model)
    assert main(["model", "pack", str(model), "-o", str(tmp_path / "m.bundle")]) == 1
    expected = complaint.format(sidecar=model.with_suffix(".json"), model=model, sha=file_sha256(model),
                                recorded=file_sha256(tflite_model))
    assert capsys.readouterr().err == f"fer-edge: error: {expected}\n"
    assert not (tmp_path / "m.bundle").exists()


@pytest.mark.parametrize("output_name", ["m.tflite", "m.json", "m.verify.json", "m.golden.npz"])
def test_pack_over_one_of_its_own_inputs_is_refused_and_changes_nothing(tmp_path, tflite_model, capsys, output_name):
    for path in tflite_model.parent.glob(tflite_model.stem + ".*"):
        shutil.copy(path, tmp_path / ("m" + path.name[len(tflite_model.stem):]))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert main(["model", "pack", str(tmp_path / "m.tflite"), "-o", str(tmp_path / output_name)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"fer-edge: error: {tmp_path / output_name}: is the bundle's ") and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("argv", [["model", "keygen", ""], ["model", "pack", "", "-o", "x.bundle"]])
def test_an_empty_file_name_is_a_usage_error(tmp_path, capsys, argv, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and "is empty: name a file or folder" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def rebundled(bundle, parts=None, manifest_bytes=None):
    """Write `bundle` again with some parts or the manifest replaced (the manifest's sha256s left as they were)."""
    packed = read_bundle(bundle)
    write_bundle(bundle, Bundle(packed.source, manifest_bytes or packed.manifest_bytes, packed.parts | (parts or {}),
                                None))


@pytest.mark.parametrize("golden", [b"", b"PK\x03\x04 cut short"])
def test_an_empty_or_truncated_golden_file_is_one_line_at_pack_and_install(tmp_path, tflite_model, capsys, golden):
    for path in tflite_model.parent.glob(tflite_model.stem + ".*"):
        shutil.copy(path, tmp_path / ("m" + path.name[len(tflite_model.stem):]))
    bundle = tmp_path / "m.bundle"
    main(["model", "pack", str(tmp_path / "m.tflite"), "-o", str(bundle)])
    packed = read_bundle(bundle)
    manifest = packed.manifest
    manifest["parts"]["golden.npz"] = hashlib.sha256(golden).hexdigest()
    rebundled(bundle, {"golden.npz": golden}, json.dumps(manifest).encode())
    (tmp_path / "m.golden.npz").write_bytes(golden)
    capsys.readouterr()
    assert main(["model", "pack", str(tmp_path / "m.tflite"), "-o", str(tmp_path / "again.bundle")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"fer-edge: error: {tmp_path / 'm.golden.npz'}: golden.npz is not a golden-face file (")
    assert err.count("\n") == 1
    assert main(["model", "install", str(bundle), "--config", str(config_file(tmp_path)), "--no-restart"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"fer-edge: error: {bundle}: golden.npz is not a golden-face file (") and err.count("\n") == 1


@pytest.mark.parametrize("manifest", [b"[" * 100000 + b"]" * 100000, b'{"format": ' + b"9" * 5000 + b"}"])
def test_a_hostile_manifest_is_one_line(tmp_path, tflite_model, capsys, manifest):
    bundle = tmp_path / "m.bundle"
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    rebundled(bundle, manifest_bytes=manifest)
    capsys.readouterr()
    assert main(["model", "install", str(bundle), "--config", str(config_file(tmp_path)), "--no-restart"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"fer-edge: error: {bundle}: manifest.json or signature.json is not valid JSON (")
    assert err.count("\n") == 1


def test_sign_refuses_a_bundle_whose_parts_were_altered(tmp_path, tflite_model, capsys):
    key, bundle = tmp_path / "k", tmp_path / "m.bundle"
    main(["model", "keygen", str(key)])
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    rebundled(bundle, {"model.json": b"{}"})
    before = bundle.read_bytes()
    capsys.readouterr()
    assert main(["model", "sign", str(bundle), "--key", str(key)]) == 1
    assert "model.json has sha256" in capsys.readouterr().err and bundle.read_bytes() == before


def test_without_trusted_keys_a_signature_is_said_to_be_unchecked(tmp_path, tflite_model, capsys):
    key, bundle = tmp_path / "k", tmp_path / "m.bundle"
    main(["model", "keygen", str(key)])
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    main(["model", "sign", str(bundle), "--key", str(key)])
    capsys.readouterr()
    assert main(["model", "install", str(bundle), "--config", str(config_file(tmp_path)), "--no-restart"]) == 0
    out = capsys.readouterr().out
    assert "signature not checked: no model_store.trusted_keys" in out and "signed by" not in out


def test_expect_sha256_hashes_the_installed_file_and_ignores_case(tmp_path, tflite_model, capsys):
    bundle, config = tmp_path / "m.bundle", config_file(tmp_path)
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    main(["model", "install", str(bundle), "--config", str(config), "--no-restart"])
    sha = file_sha256(tflite_model)
    assert main(["model", "status", "--config", str(config), "--expect-sha256", sha.upper()]) == 0
    model = tmp_path / "store" / "current" / "model.tflite"
    model.write_bytes(model.read_bytes()[:-1])
    assert main(["model", "status", "--config", str(config), "--expect-sha256", sha]) == 1
    assert f"current is {file_sha256(model)}" in capsys.readouterr().err


def test_status_names_the_store_and_says_when_it_is_absent(tmp_path, capsys):
    assert main(["model", "status", "--model-store-path", str(tmp_path / "gone")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"store     {tmp_path / 'gone'} (absent: nothing installed)"


def test_install_without_config_says_the_agents_config_is_not_read(tmp_path, capsys, monkeypatch):
    import edge.model_cli

    agent_config = tmp_path / "edge.toml"
    agent_config.write_text("")
    monkeypatch.setattr(edge.model_cli, "AGENT_CONFIG", agent_config)
    main(["model", "status", "--model-store-path", str(tmp_path / "store")])
    assert f"note: {agent_config} is not read without --config {agent_config}" in capsys.readouterr().err
    main(["model", "status", "--config", str(agent_config), "--model-store-path", str(tmp_path / "store")])
    assert "note:" not in capsys.readouterr().err


def test_a_hand_set_absolute_link_keeps_its_folder_and_a_dangling_current_is_not_kept(tmp_path, tflite_model,
                                                                                     tflite_model_float, capsys):
    store, config = tmp_path / "store", config_file(tmp_path)
    first, second = tmp_path / "a.bundle", tmp_path / "b.bundle"
    main(["model", "pack", str(tflite_model), "-o", str(first)])
    main(["model", "pack", str(tflite_model_float), "-o", str(second)])
    main(["model", "install", str(first), "--config", str(config), "--no-restart"])
    main(["model", "install", str(second), "--config", str(config), "--no-restart"])
    first_folder = store / read_bundle(first).folder_name
    (store / "current").unlink()
    (store / "current").symlink_to(first_folder)  # a rollback by hand, with an absolute path
    main(["model", "install", str(second), "--config", str(config), "--no-restart"])
    assert first_folder.is_dir() and (store / "previous").resolve() == first_folder
    shutil.rmtree(store / read_bundle(second).folder_name)  # current now dangles
    assert main(["model", "install", str(first), "--config", str(config), "--no-restart"]) == 0
    assert (store / "current").resolve() == first_folder and not (store / "previous").is_symlink()


def test_an_install_while_another_holds_the_store_is_refused(tmp_path, tflite_model, capsys):
    import fcntl
    import os

    bundle, store = tmp_path / "m.bundle", tmp_path / "store"
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    store.mkdir()
    held = os.open(store, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(held, fcntl.LOCK_EX)  # as a second `fer-edge model install` does while it runs
    try:
        capsys.readouterr()
        assert main(["model", "install", str(bundle), "--model-store-path", str(store), "--no-restart"]) == 1
        assert capsys.readouterr().err == (f"fer-edge: error: {store}: another fer-edge model install is running; "
                                           "try again when it is done\n")
        assert list(store.iterdir()) == []
    finally:
        os.close(held)
    assert main(["model", "install", str(bundle), "--model-store-path", str(store), "--no-restart"]) == 0


def test_a_current_that_is_a_folder_is_named_and_nothing_is_staged(tmp_path, tflite_model, capsys):
    bundle, store = tmp_path / "m.bundle", tmp_path / "store"
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    (store / "current").mkdir(parents=True)
    capsys.readouterr()
    assert main(["model", "install", str(bundle), "--model-store-path", str(store), "--no-restart"]) == 1
    assert capsys.readouterr().err == (f"fer-edge: error: {store / 'current'}: not a symlink, as fer-edge makes it; "
                                       "move it out of the store and install again\n")
    assert [p.name for p in store.iterdir()] == ["current"]


def test_a_model_the_runtime_cannot_load_is_named_by_its_bundle_not_the_staging_folder(tmp_path, tflite_model, capsys):
    bundle = tmp_path / "m.bundle"
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    packed = read_bundle(bundle)
    broken = b"not a flatbuffer"
    manifest = packed.manifest
    manifest["parts"]["model.tflite"] = hashlib.sha256(broken).hexdigest()
    write_bundle(bundle, Bundle(packed.source, json.dumps(manifest).encode(), packed.parts | {"model.tflite": broken},
                                None))
    capsys.readouterr()
    assert main(["model", "install", str(bundle), "--config", str(config_file(tmp_path)), "--no-restart"]) == 1
    err = capsys.readouterr().err
    assert ".staging-" not in err and f"{bundle} (model.tflite)" in err and err.count("\n") == 1


def test_signing_through_a_symlink_signs_the_file_it_names(tmp_path, tflite_model):
    key, bundle, link = tmp_path / "k", tmp_path / "m.bundle", tmp_path / "latest.bundle"
    main(["model", "keygen", str(key)])
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    link.symlink_to(bundle.name)
    assert main(["model", "sign", str(link), "--key", str(key)]) == 0
    assert link.is_symlink() and read_bundle(bundle).signature is not None


def test_a_bundle_given_as_the_model_file_says_to_install_it(tmp_path, tflite_model, capsys):
    from edge.errors import ModelError
    from edge.modelfile import find_model

    bundle = tmp_path / "m.bundle"
    main(["model", "pack", str(tflite_model), "-o", str(bundle)])
    with pytest.raises(ModelError, match="a model bundle, not a .tflite model: install it with `fer-edge model install`"):
        find_model(bundle)
