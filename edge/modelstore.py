"""The installed models of one agent: a folder per bundle, and `current` / `previous` symlinks between them.

    <store>/<name>/            model.tflite, model.json, verify.json, golden.npz, manifest.json[, signature.json]
    <store>/current -> <name>  (name: the bundle's digest with its signature, Bundle.folder_name)
    <store>/previous -> <name>
    <store>/rollback.json      while the agent runs the previous model because the current one failed

An install writes the new folder beside the others under a staging name, fsyncs every file and the folder,
renames it, then swaps the symlinks with rename(2). A crash at any point leaves `current` naming a complete
folder: the old one until the final rename, the new one after it. (One exception: installing a bundle again over
its own damaged folder removes the damaged one first; a crash then leaves `current` dangling, and the agent starts
on `previous`.)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
from datetime import datetime, timezone
from dataclasses import dataclass
from pathlib import Path

from edge.bundle import MODEL, Bundle, UnsignedBundleError, check_golden, read_bundle, read_directory, verify
from edge.errors import FerEdgeError, ModelError
from edge.signing import trusted_keys

logger = logging.getLogger(__name__)

CURRENT, PREVIOUS, ROLLBACK = "current", "previous", "rollback.json"
STAGING_PREFIX = ".staging-"


@dataclass(frozen=True)
class RunningModel:
    """The model the agent runs: its classifier, sha256, and the rollback that led to it, if any."""

    classifier: object
    sha256: str
    rollback: dict | None = None


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def point(store: Path, name: str, target: str) -> None:
    """Make `store/name` a symlink to `target` atomically (a new link beside it, renamed over the old)."""
    tmp = store / f".{name}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, store / name)
    fsync_path(store)


def target(store: Path, name: str) -> str | None:
    """The folder name a symlink of the store points at, or None. A link set by hand to a path (absolute, or
    ./name) into the store gives the folder's name too, so that prune keeps that folder."""
    link = store / name
    if not link.is_symlink():
        return None
    text = os.readlink(link)
    pointed = Path(os.path.normpath(store.absolute() / text))
    return pointed.name if pointed.parent == Path(os.path.normpath(store.absolute())) else text


def staging_folder(store: Path, bundle: Bundle) -> Path:
    """Where `stage` writes a bundle before `commit` renames it into place."""
    return store / (STAGING_PREFIX + bundle.folder_name)


def stage(bundle: Bundle, store: Path) -> Path:
    """Write the bundle's files into a staging folder of the store, each fsynced; returns the folder."""
    make_store(store)
    for stale in store.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(stale)  # an install that died before its rename
    folder = staging_folder(store, bundle)
    folder.mkdir()
    for name, data in bundle.members().items():
        with open(folder / name, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    fsync_path(folder)
    return folder


def make_store(store: Path) -> None:
    if not store.exists():
        store.mkdir(parents=True)
        give_to_parent_owner(store)


def holds_the_same_files(folder: Path, other: Path | dict[str, bytes]) -> bool:
    """Whether `folder` holds exactly the files of `other` (a folder, or file contents by name), byte for byte."""
    wanted = other if isinstance(other, dict) else {p.name: p.read_bytes() for p in other.iterdir() if p.is_file()}
    try:
        present = {p.name for p in folder.iterdir()}
        return present == set(wanted) and all((folder / name).read_bytes() == data for name, data in wanted.items())
    except OSError:
        return False


def give_to_parent_owner(store: Path) -> None:
    """A store made by root belongs to whoever owns the folder it is in (the agent's /var/lib/fer-edge), so
    that the agent can record a rollback and swap the symlinks itself."""
    if os.geteuid() == 0:
        parent = store.parent.stat()
        os.chown(store, parent.st_uid, parent.st_gid)


def commit(store: Path, staged: Path) -> str:
    """Rename the staged folder into place and make it current, the current one previous; returns its name."""
    name = staged.name.removeprefix(STAGING_PREFIX)
    final = store / name
    if final.exists() and holds_the_same_files(final, staged):
        shutil.rmtree(staged)  # the same bundle again: its folder is already complete
    else:
        if final.exists():  # the same bundle over a damaged copy: the damaged one goes
            damaged = store / (STAGING_PREFIX + "damaged-" + name)
            os.rename(final, damaged)
            shutil.rmtree(damaged)
        os.rename(staged, final)
        fsync_path(store)
    old = target(store, CURRENT)
    if old is not None and old != name:
        if (store / old).is_dir():
            point(store, PREVIOUS, old)
        else:
            logger.warning("%s pointed at %s, which is gone; it is not kept as the previous model", store / CURRENT, old)
    point(store, CURRENT, name)
    if target(store, PREVIOUS) == name:
        (store / PREVIOUS).unlink()
    (store / ROLLBACK).unlink(missing_ok=True)
    prune(store)
    return name


def prune(store: Path) -> None:
    """Remove installed folders neither current nor previous."""
    keep = {target(store, CURRENT), target(store, PREVIOUS)}
    for folder in store.iterdir():
        if folder.is_dir() and not folder.is_symlink() and not folder.name.startswith(".") and folder.name not in keep:
            shutil.rmtree(folder)


def load_checked(folder: Path, keys: dict, make_classifier) -> RunningModel:
    """Verify an installed folder (signature, sha256 of every file), load its model and run its golden faces."""
    bundle = read_directory(folder)
    verify(bundle, keys)
    classifier = make_classifier(folder / MODEL)
    gap = check_golden(classifier, bundle)
    logger.info("model %s (sha256 %s) reproduces its golden faces (largest gap %.4f)",
                bundle.model_id, bundle.model_sha256[:12], gap)
    return RunningModel(classifier, bundle.model_sha256, read_rollback(folder.parent))


def has_current(store: Path) -> bool:
    return target(store, CURRENT) is not None


def check_links(store: Path) -> None:
    """ModelError when `current` or `previous` is something other than a symlink (a folder copied there by hand):
    the swap could not replace it."""
    for name in (CURRENT, PREVIOUS):
        if (store / name).exists() and not (store / name).is_symlink():
            raise ModelError(f"{store / name}: not a symlink, as fer-edge makes it; move it out of the store and "
                             "install again")


@contextlib.contextmanager
def install_lock(store: Path, wait: bool = False):
    """Hold a lock on the store folder itself (no lock file to leave behind); without `wait`, ModelError when another
    install holds it."""
    fd = os.open(store, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise ModelError(f"{store}: another fer-edge model install is running; try again when it is done") \
                from None
        yield
    finally:
        os.close(fd)


def naming_the_bundle(exc: FerEdgeError, staged: Path, bundle_path: Path) -> FerEdgeError:
    """The error with the staging folder, removed by now, replaced by the bundle the file came from."""
    text = str(exc).replace(str(staged / MODEL), f"{bundle_path} ({MODEL})")
    if text == str(exc):
        return exc
    try:
        return type(exc)(text)
    except TypeError:  # a subclass that takes more than its message
        return ModelError(text)


def install(bundle_path: Path, store: Path, keys: dict, make_classifier) -> tuple[Bundle, float]:
    """Verify a bundle, stage it, check its golden faces with the staged model, then switch to it."""
    bundle = read_bundle(bundle_path)
    verify(bundle, keys)
    if store.exists() and not store.is_dir():
        raise ModelError(f"field 'model_store.path': {store} is a file, not the folder of installed models")
    check_links(store)
    staged = staging_folder(store, bundle)
    try:
        make_store(store)
        with install_lock(store):
            try:
                stage(bundle, store)
                gap = check_golden(make_classifier(staged / MODEL), bundle)
                commit(store, staged)
            finally:
                shutil.rmtree(staged, ignore_errors=True)
    except OSError as exc:  # a full disk, a read-only store: the store is named, and nothing half-written stays
        raise ModelError(f"{store}: cannot install {bundle_path} ({exc.strerror}); the running model is unchanged") \
            from None
    except FerEdgeError as exc:
        raise naming_the_bundle(exc, staged, bundle_path) from None
    return bundle, gap


def describe(folder: Path) -> dict:
    """Model id and sha256 of an installed folder, as far as its manifest can be read."""
    try:
        bundle = read_directory(folder)
        return {"model": bundle.model_id, "sha256": bundle.model_sha256}
    except (FerEdgeError, OSError, KeyError, ValueError):
        return {"model": folder.name, "sha256": None}


def model_to_run(store: Path, keys: dict, make_classifier) -> tuple[RunningModel, str | None]:
    """The store's current model, checked, and None; if it fails, the previous one and why the current failed.
    Nothing in the store is changed (open_current records the rollback)."""
    current = target(store, CURRENT)
    try:
        return load_checked(store / current, keys, make_classifier), None
    except (FerEdgeError, OSError) as exc:
        previous = target(store, PREVIOUS)
        if previous is None or previous == current:
            named = str(exc) if str(exc).startswith(str(store / current)) else f"{store / current}: {exc}"
            raise ModelError(f"{named}; no previous model to go back to") from None
        reason = str(exc)
    return load_checked(store / previous, keys, make_classifier), reason


def open_current(store: Path, keys: dict, make_classifier) -> RunningModel:
    """The store's current model, checked; if it fails, the previous one, made current and the rollback recorded."""
    with install_lock(store, wait=True):  # an install under way finishes first; its model is then the one checked
        current = target(store, CURRENT)
        running, reason = model_to_run(store, keys, make_classifier)
        if reason is None:
            return running
        return rolled_back(store, current, running, reason)


def rolled_back(store: Path, current: str, running: RunningModel, reason: str) -> RunningModel:
    """Make the previous model (`running`) current and record why `current` was left."""
    previous = target(store, PREVIOUS)
    logger.error("model %s failed at start (%s); went back to the previous model %s", current, reason, previous)
    rollback = {"from": describe(store / current), "to": describe(store / previous), "reason": reason,
                "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    write_rollback(store, rollback)
    point(store, CURRENT, previous)
    (store / PREVIOUS).unlink()
    return RunningModel(running.classifier, running.sha256, rollback)


def write_rollback(store: Path, rollback: dict) -> None:
    tmp = store / (ROLLBACK + ".tmp")
    tmp.write_text(json.dumps(rollback) + "\n")
    os.replace(tmp, store / ROLLBACK)


def read_rollback(store: Path) -> dict | None:
    """The recorded rollback, or None; also None for a file not as write_rollback writes it (edited by hand)."""
    try:
        rollback = json.loads((store / ROLLBACK).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    sides_ok = isinstance(rollback, dict) and all(
        isinstance(rollback.get(side), dict) and isinstance(rollback[side].get("model"), str)
        for side in ("from", "to"))
    if not (sides_ok and isinstance(rollback.get("reason"), str) and isinstance(rollback.get("at"), str)):
        logger.warning("%s: not a rollback record fer-edge wrote; ignored", store / ROLLBACK)
        return None
    return rollback


def classifier_factory(settings):
    """path -> TFLiteEmotionClassifier with the [classifier] section's threads and runtime."""
    from edge.classifier import TFLiteEmotionClassifier

    def make_classifier(path: Path) -> TFLiteEmotionClassifier:
        return TFLiteEmotionClassifier(path, num_threads=settings.threads, runtime=settings.runtime)

    return make_classifier


def open_running_model(classifier_config, store_config) -> RunningModel:
    """The model the agent runs: classifier.model if set, else the store's current bundle, else the shipped model.

    With trusted keys configured only an installed, signed bundle is run.
    """
    from edge.classifier import TFLiteEmotionClassifier
    from edge.modelfile import find_model

    settings = classifier_config
    keys = trusted_keys(store_config.trusted_keys)
    make_classifier = classifier_factory(settings)

    if settings.model is None and has_current(store_config.path):
        running = open_current(store_config.path, keys, make_classifier)
        if settings.flip_average is not None:  # the golden faces were checked as the converter measured them
            running.classifier.flip_average = settings.flip_average
        return running
    if keys:
        raise UnsignedBundleError(
            f"{settings.model or 'the shipped model'}: a bare model file, and model_store.trusted_keys is set: "
            f"install a signed bundle into {store_config.path} (fer-edge model install) and unset classifier.model"
        )
    path = find_model(settings.model)
    classifier = TFLiteEmotionClassifier(path, num_threads=settings.threads, runtime=settings.runtime,
                                         flip_average=settings.flip_average)
    return RunningModel(classifier, classifier.metadata.sha256)
