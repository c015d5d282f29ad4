"""`fer-edge model ...`: make signing keys, pack and sign bundles, install one on a Pi, say which model runs."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from edge.argparsing import float_between, path_arg
from edge.errors import FerEdgeError

SERVICE = "fer-edge.service"
AGENT_CONFIG = Path("/etc/fer-edge/edge.toml")  # where deploy/ puts the agent's config


class ServiceError(FerEdgeError, RuntimeError):
    """systemd did not restart the agent after an install."""


class RolloutCheckError(FerEdgeError, RuntimeError):
    """`model status --expect-sha256`: the store does not run the expected model (refused or rolled back)."""


def add_model_verbs(model: argparse.ArgumentParser, add_setting_flags) -> None:
    verbs = model.add_subparsers(dest="model_verb", required=True)
    keygen = verbs.add_parser(
        "keygen", help="Make an Ed25519 signing key (KEY, mode 0600) and its public key KEY.pub.",
        description="Write a new Ed25519 private key to KEY (mode 0600) and its public key to KEY.pub beside it; "
        "neither file is overwritten. Sign bundles with KEY; list KEY.pub in model_store.trusted_keys on each Pi.",
    )
    keygen.add_argument("key", type=path_arg, help="private key file to create (never overwritten)")
    pack = verbs.add_parser("pack", help="Bundle a converted model with the sidecar, report and golden faces beside it.")
    pack.add_argument("model", type=path_arg, help="the .tflite fer-convert wrote (its .json, .verify.json, .golden.npz beside it)")
    pack.add_argument("-o", "--output", type=path_arg, required=True, help="bundle file to write")
    # a tolerance below 0 would make every Pi refuse the bundle at install
    pack.add_argument("--tolerance", type=float_between(0.0, 1.0), default=0.05, metavar="F",
                      help="largest probability gap on the golden faces accepted at install (default: %(default)s)")
    sign = verbs.add_parser("sign", help="Sign a bundle's manifest with an Ed25519 key (replaces any signature).")
    sign.add_argument("bundle", type=path_arg, help="bundle file, rewritten in place")
    sign.add_argument("--key", type=path_arg, required=True, help="private key from `fer-edge model keygen`")
    install = verbs.add_parser(
        "install", help="Verify a bundle, check its golden faces, switch to it atomically and restart the agent.",
        description="Verify the bundle's signature (when model_store.trusted_keys is set) and the sha256 of every "
        "part, run its model on its golden faces through the agent's classifier, then make it the current model "
        "of model_store.path (the old one is kept as previous) and restart the agent if it is running.",
    )
    install.add_argument("bundle", type=path_arg, help="bundle file (fer-convert --bundle, fer-edge model pack)")
    install.add_argument("--no-restart", action="store_true", help=f"do not run `systemctl try-restart {SERVICE}`")
    add_setting_flags(install)
    status = verbs.add_parser("status", help="Print the store's current and previous model and any rollback.")
    status.add_argument("--expect-sha256", metavar="SHA256",
                        help="exit 1 unless the current model has this sha256 and no rollback is recorded")
    status.add_argument("--expect-bundle", type=path_arg, metavar="BUNDLE",
                        help="exit 1 unless this bundle (verified as install would) is the current model and no "
                        "rollback is recorded")
    add_setting_flags(status)


def run_model(args: argparse.Namespace, load_config, setting_flags) -> int:
    verb = args.model_verb
    if verb == "keygen":
        from edge.signing import generate_key

        private, public, ident = generate_key(args.key)
        print(f"wrote {private} (keep it secret) and {public} (key id {ident}): list {public.name} in "
              "model_store.trusted_keys on each Pi")
        return 0
    if verb == "pack":
        from edge.bundle import pack

        bundle = pack(args.model, args.output, args.tolerance)
        print(f"wrote {args.output} (model {bundle.model_id}, sha256 {bundle.model_sha256})")
        return 0
    if verb == "sign":
        return sign(args.bundle, args.key)
    if args.config is None and AGENT_CONFIG.is_file():
        print(f"note: {AGENT_CONFIG} is not read without --config {AGENT_CONFIG}; using the built-in model_store "
              "settings and any flags or variables", file=sys.stderr)
    config = load_config(args.config, flags=setting_flags(args))
    if verb == "install":
        return install(config, args.bundle, restart=not args.no_restart)
    expected = None
    if args.expect_bundle is not None:
        from edge.bundle import read_bundle, verify
        from edge.signing import trusted_keys

        bundle = read_bundle(args.expect_bundle)
        verify(bundle, trusted_keys(config.model_store.trusted_keys))  # a bundle that would be refused is not current
        expected = bundle
    return status(config.model_store.path, args.expect_sha256, expected)


def sign(bundle_path: Path, key_path: Path) -> int:
    from edge.bundle import read_bundle, signed, verify, write_bundle
    from edge.signing import load_private_key

    key = load_private_key(key_path)
    bundle = read_bundle(bundle_path)
    verify(bundle, {})  # every part as its manifest lists it: a signature must not vouch for an altered bundle
    bundle = signed(bundle, key)
    write_bundle(bundle_path, bundle)
    print(f"signed {bundle_path} with key {bundle.signature['key_id']}")
    return 0


def install(config, bundle_path: Path, restart: bool) -> int:
    from edge.modelstore import classifier_factory
    from edge.modelstore import install as install_bundle
    from edge.signing import trusted_keys

    keys = trusted_keys(config.model_store.trusted_keys)
    bundle, gap = install_bundle(bundle_path, config.model_store.path, keys, classifier_factory(config.classifier))
    if not keys:
        signer = ", unsigned" if bundle.signature is None else ", signature not checked: no model_store.trusted_keys"
    else:
        signer = f", signed by {bundle.signature['key_id']}"
    print(f"installed {bundle.model_id} (sha256 {bundle.model_sha256}{signer}; golden faces within {gap:.4f}) "
          f"in {config.model_store.path}")
    if config.classifier.model is not None:
        print(f"note: classifier.model is set ({config.classifier.model}); the agent runs that file, not the store")
    if restart:
        restart_service()
    return 0


def restart_service() -> None:
    """Restart the agent if systemd runs it (try-restart leaves a stopped unit stopped)."""
    if not Path("/run/systemd/system").is_dir() or shutil.which("systemctl") is None:
        print("no systemd here: restart the agent yourself")
        return
    result = subprocess.run(["systemctl", "try-restart", SERVICE], capture_output=True, text=True)
    if result.returncode != 0:
        raise ServiceError(f"systemctl try-restart {SERVICE} failed: {result.stderr.strip()}")
    print(f"restarted {SERVICE} (if it was running)")


def model_file_sha256(folder: Path) -> str | None:
    """The sha256 of the model file an installed folder holds (not the one its manifest lists), or None."""
    from edge.bundle import MODEL
    from edge.metadata import file_sha256

    try:
        return file_sha256(folder / MODEL)
    except OSError:
        return None


def status(store: Path, expect_sha256: str | None, expect_bundle=None) -> int:
    from edge.modelstore import CURRENT, PREVIOUS, describe, holds_the_same_files, read_rollback, target

    if expect_sha256 is not None:
        expect_sha256 = expect_sha256.lower()
    current = target(store, CURRENT)
    for name in (CURRENT, PREVIOUS):
        folder = target(store, name)
        info = describe(store / folder) if folder else {"model": "-", "sha256": "-"}
        print(f"{name:<9} {info['model']} {info['sha256']}")
    rollback = read_rollback(store)
    if rollback:
        print(f"rollback  from {rollback['from']['model']} at {rollback['at']}: {rollback['reason']}")
    state = "" if store.is_dir() else " (a file, not a store)" if store.exists() else " (absent: nothing installed)"
    print(f"store     {store}{state}")
    running = model_file_sha256(store / current) if current else None
    after = " after a rollback" if rollback else ""
    if expect_sha256 is not None and (running != expect_sha256 or rollback):
        raise RolloutCheckError(f"{store}: expected model sha256 {expect_sha256}, current is {running}{after}")
    if expect_bundle is not None and (current != expect_bundle.folder_name or rollback):
        raise RolloutCheckError(f"{store}: the bundle is not the current model (current: {current}{after})")
    if expect_bundle is not None and not holds_the_same_files(store / current, expect_bundle.members()):
        raise RolloutCheckError(f"{store / current}: the installed files differ from the bundle's: install it again")
    return 0
