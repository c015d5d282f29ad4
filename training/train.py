"""Train one model on FER2013 and leave a complete run directory behind."""

from __future__ import annotations

import csv
import logging
import os
import platform
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from edge.errors import DataError, FerEdgeError, ModelError
from edge.framing import Framing
from edge.labels import EMOTIONS, NUM_CLASSES
from edge.metadata import ModelMetadata, file_sha256, write_metadata
from edge.preprocess import to_model_input
from training.batches import TrainingBatches
from training.crop_augment import CropAugment
from training.data import Fer2013, load_fer2013
from training.evaluate import keras_probabilities
from training.options import TrainOptions
from training.plots import plot_history, read_history
from training.report import write_dataset_analysis, write_evaluation
from training.schedules import budget_cosine, time_budget
from training.soft_labels import SoftLabelSpec, default_votes_path, load_votes, soft_targets

logger = logging.getLogger(__name__)

class RunDirError(FerEdgeError, FileExistsError):
    """A run directory that already holds a run."""


BEST_MODEL = "model.keras"
LAST_CHECKPOINT = "last.keras"
HISTORY = "history.csv"
SITTINGS = "sittings.csv"  # one row per fer-train invocation of the run: its epochs and wall-clock seconds
STAGE_HISTORY = "history_stages.csv"


def train(options: TrainOptions, data: Fer2013 | None = None) -> dict:
    """Train, keep the best epoch on PublicTest, evaluate it on PrivateTest; returns the metadata dict."""
    import keras

    run_dir = check_run_dir(options)  # everything that can refuse the input runs before the folder is made
    keras.utils.set_random_seed(options.seed)
    data = data or load_fer2013(options.data, options.skip_bad_rows)
    x_train, targets, labels = training_targets(options, data)
    x_val, y_val = data.split("PublicTest")
    logger.info("%d training faces, %d validation (PublicTest)", len(x_train), len(y_val))

    batches = TrainingBatches(
        x_train, targets, options.batch_size, options.seed,
        class_weights=_class_weights(labels) if options.class_weights else None,
        crop_augment=CropAugment() if options.crop_augment else None,
    )
    model, initial_epoch = _model_to_train(options, len(batches))
    try:
        return _fit_and_report(options, data, model, initial_epoch, batches, (x_val, y_val), run_dir)
    except OSError as exc:  # a full disk or a read-only folder, met while writing the run
        where = f"{exc.filename}: " if exc.filename else ""
        remedy = (f"--resume {run_dir / LAST_CHECKPOINT} goes on from the last saved epoch"
                  if (run_dir / LAST_CHECKPOINT).is_file() else "then run again with --overwrite")
        raise RunDirError(f"{run_dir}: cannot write the run ({where}{exc.strerror}); make room, {remedy}") from None


def _fit_and_report(options: TrainOptions, data: Fer2013, model, initial_epoch: int, batches, validation,
                    run_dir: Path) -> dict:
    import keras

    x_val, y_val = validation
    run_dir.mkdir(parents=True, exist_ok=True)
    write_dataset_analysis(run_dir, data.class_counts())
    started = time.monotonic()
    callbacks = _callbacks(options, run_dir, started)
    pause = time_budget(options.session_minutes, started, what="session") if options.session_minutes else None
    model.fit(
        batches,
        epochs=options.epochs,
        initial_epoch=initial_epoch,
        validation_data=(to_model_input(x_val), one_hot(y_val)),
        callbacks=callbacks + ([pause] if pause else []),
        verbose=keras_verbosity(options.verbose),
    )
    sitting_seconds = time.monotonic() - started
    plot_history(write_stage_history(options, run_dir), run_dir / "training_curves.png")
    done = _epochs_done(run_dir / HISTORY)
    training_seconds = record_sitting(run_dir, initial_epoch, done, sitting_seconds, bool(options.resume))
    stopped_early = any(isinstance(c, keras.callbacks.EarlyStopping) and c.stopped_epoch for c in callbacks)
    best = keras.models.load_model(run_dir / BEST_MODEL, compile=False)
    if pause is not None and pause.spent and done < options.epochs and not stopped_early:
        return paused_run(options, data, best, run_dir, training_seconds, done)
    return finish_run(options, data, best, run_dir, training_seconds)


def paused_run(options: TrainOptions, data: Fer2013, best, run_dir: Path, seconds: float, done: int) -> dict:
    """A run paused by --session-minutes: metadata for its best epoch so far (so that fer-eval, fer-bench and
    fer-convert can read it; no test-split reports, the last sitting writes those), and how to continue."""
    flip_average, flip_choice = choose_flip_average(options.flip_average, best, data)
    metadata = run_metadata(options, data, best, run_dir, seconds, flip_average, flip_choice, metrics={})
    metadata.source["paused_after_epoch"] = done
    write_metadata(run_dir, metadata)
    return {"paused_after_epoch": done, "epochs": options.epochs, "resume": str(run_dir / LAST_CHECKPOINT)}


def check_run_dir(options: TrainOptions, continuable: bool = True) -> Path:
    """The run directory, not yet created; refused if it is a file, or holds an earlier run that is neither
    resumed nor explicitly overwritten. continuable=False for commands without --resume and --overwrite."""
    run_dir = Path(options.run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: a file, not a folder; --run-dir names the folder the run writes into")
    earlier = [name for name in (BEST_MODEL, LAST_CHECKPOINT, HISTORY) if (run_dir / name).exists()]
    if earlier and not options.resume and not options.overwrite:
        resume = f"--resume {run_dir / LAST_CHECKPOINT} continues it, " if (run_dir / LAST_CHECKPOINT).is_file() else ""
        remedy = (f"{resume}--overwrite replaces it, or choose another --run-dir" if continuable
                  else "choose another --run-dir")
        raise RunDirError(f"{run_dir} already holds a run ({', '.join(earlier)}): {remedy}")
    return run_dir


def keras_verbosity(verbose: int | None) -> int:
    """Keras' progress output: as asked, else a progress bar on a terminal and one line per epoch in a log."""
    if verbose is not None:
        return verbose
    return 1 if sys.stdout.isatty() else 2


def _model_to_train(options: TrainOptions, steps_per_epoch: int):
    import keras

    from training.model import build_model, network_difference

    if options.resume:
        model = _loaded("--resume", options.resume, keras.models.load_model)
        difference = network_difference(build_model(options.model), model)
        if difference:
            raise ModelError(f"--resume {options.resume}: these flags build another network ({difference}); "
                             "give the network flags the run started with")
        check_history(Path(options.run_dir) / HISTORY)
        done = _epochs_done(Path(options.run_dir) / HISTORY)
        if done >= options.epochs:
            raise ModelError(f"--resume {options.resume}: {options.run_dir} ran {done} epoch{'s' * (done != 1)} "
                             f"already, and --epochs is {options.epochs}; raise --epochs to train on (its schedule "
                             "is laid over --epochs)")
        logger.info("resuming %s after epoch %d", options.resume, done)
        if not model.compiled:
            _compile(model, options, steps_per_epoch)
            model.optimizer.iterations.assign(done * steps_per_epoch)
            logger.info("%s holds no optimizer state: a fresh %s optimizer, its schedule at step %d",
                        options.resume, options.optimizer, done * steps_per_epoch)
        return model, done
    model = build_model(options.model)
    if options.init_from:
        if str(options.init_from).endswith(".keras"):  # a whole model: name a network other than these flags build
            source = _loaded("--init-from", options.init_from,
                             lambda path: keras.models.load_model(path, compile=False))
            difference = network_difference(model, source)
            if difference:
                raise ModelError(f"--init-from {options.init_from}: these flags build another network ({difference}); "
                                 "give the network flags it was trained with")
            model.set_weights(source.get_weights())  # the file is read once
        else:
            _loaded("--init-from", options.init_from, model.load_weights)
        logger.info("starting from the weights of %s", options.init_from)
    _compile(model, options, steps_per_epoch)
    logger.info("%s: %s parameters", model.name, f"{model.count_params():,}")
    return model, 0


def _loaded(flag: str, path, load):
    """load(path); ModelError naming the flag and the file when it is no Keras file of this model."""
    if str(path).endswith(".keras") and Path(path).is_file() and not zipfile.is_zipfile(path):
        raise ModelError(f"{flag} {path}: not a .keras file (a .keras file is a zip; this one is empty or damaged)")
    try:
        return load(path)
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__  # Keras lists every array
        raise ModelError(f"{flag} {path}: not a loadable Keras model of this architecture ({first})") from None


def _compile(model, options: TrainOptions, steps_per_epoch: int) -> None:
    model.compile(optimizer=_optimizer(options, steps_per_epoch), loss="categorical_crossentropy", metrics=["accuracy"])


def _optimizer(options: TrainOptions, steps_per_epoch: int):
    import keras

    rate, decay = _learning_rate(options, steps_per_epoch), options.weight_decay or None
    if options.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=rate, momentum=options.momentum, nesterov=True, weight_decay=decay)
    if options.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=rate, weight_decay=options.weight_decay)
    raise ValueError(f"optimizer {options.optimizer!r} is not one of adamw, sgd")


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(NUM_CLASSES, dtype=np.float32)[labels]


def training_targets(options: TrainOptions, data: Fer2013) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training faces, their targets [N, 7] (one-hot, or mixed with FER+ votes) and FER2013 labels."""
    images, labels = data.split("Training")
    if not options.soft_labels:
        return images, one_hot(labels), labels
    spec = SoftLabelSpec.parse(options.soft_labels)
    votes = load_votes(options.ferplus_votes or default_votes_path(data.source))
    rows = data.split_rows("Training")
    targets = soft_targets(labels, rows, votes, spec.weight)
    logger.info("soft labels: FER+ votes with weight %.2f (%d of %d faces have votes)",
                spec.weight, int(votes.has_votes[rows].sum()), len(rows))
    if options.drop_not_faces:
        keep = ~votes.not_a_face[rows]
        logger.info("dropping %d faces FER+ calls unknown or not a face", int((~keep).sum()))
        images, targets, labels = images[keep], targets[keep], labels[keep]
    return images, targets, labels


def _learning_rate(options: TrainOptions, steps_per_epoch: int):
    import keras

    if options.lr_schedule == "cosine" and options.max_minutes:
        return options.learning_rate / 10  # budget_cosine sets it before every step
    if options.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=options.learning_rate / 10,
            decay_steps=max(1, (options.epochs - 1) * steps_per_epoch),
            alpha=0.01,
            warmup_target=options.learning_rate,
            warmup_steps=steps_per_epoch,
        )
    return options.learning_rate


def _class_weights(labels: np.ndarray) -> dict[int, float]:
    from sklearn.utils.class_weight import compute_class_weight

    classes = np.arange(NUM_CLASSES)
    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    lookup = dict(zip(present.tolist(), weights.tolist()))
    return {int(c): lookup.get(int(c), 1.0) for c in classes}


def _callbacks(options: TrainOptions, run_dir: Path, started: float) -> list:
    import keras

    resumed_best = options.resume and (run_dir / BEST_MODEL).exists()
    best_so_far = best_val_accuracy(run_dir / HISTORY) if resumed_best else None  # a resumed run keeps its best
    callbacks = [
        keras.callbacks.ModelCheckpoint(run_dir / BEST_MODEL, monitor="val_accuracy", mode="max", save_best_only=True,
                                        initial_value_threshold=best_so_far),
        keras.callbacks.ModelCheckpoint(run_dir / LAST_CHECKPOINT),
        keras.callbacks.CSVLogger(run_dir / HISTORY, append=options.resume is not None),
        keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=options.patience),
    ]
    if options.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_accuracy", mode="max", factor=0.5, patience=3))
    if options.max_minutes:
        callbacks.append(time_budget(options.max_minutes, started))
        if options.lr_schedule == "cosine":
            callbacks.append(budget_cosine(options.max_minutes, options.learning_rate, started))
    return callbacks


def write_stage_history(options: TrainOptions, run_dir: Path) -> list[dict]:
    """history_stages.csv: the epochs of every stage that led to this model (the run --init-from started from,
    and its own earlier stages), then this run's; returns its rows."""
    rows = read_history(run_dir / HISTORY, stage=run_dir.resolve().name)  # "." has no name of its own
    if options.init_from:
        earlier = Path(options.init_from).parent
        if (earlier / STAGE_HISTORY).is_file():
            rows = read_history(earlier / STAGE_HISTORY) + rows
        elif (earlier / HISTORY).is_file():
            rows = read_history(earlier / HISTORY, stage=earlier.resolve().name) + rows
    columns = ["stage", *[c for c in rows[0] if c != "stage"]] if rows else ["stage"]
    with open(run_dir / STAGE_HISTORY, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def check_history(history: Path) -> None:
    """Before a resume: DataError naming a line of history.csv that is no whole epoch's row (a run killed while
    writing it); a last row without its line end gets one, so the next epoch is not appended to it."""
    if not history.exists():
        return
    text = history.read_text(errors="replace")
    lines = text.splitlines()
    columns = len(lines[0].split(",")) if lines else 0
    for number, line in enumerate(lines[1:], 2):
        values = line.split(",")
        if len(values) != columns or not all(_is_number(value) for value in values):
            raise DataError(f"{history}: line {number} is not a whole epoch's row ({line[:40]!r}); the run was "
                            "stopped while writing it? Delete that line (and any after it) and resume again")
    if text and not text.endswith("\n"):
        with open(history, "a", newline="") as handle:
            handle.write("\r\n")  # what csv (and Keras' CSVLogger) ends a row with


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def best_val_accuracy(history: Path) -> float | None:
    """The best validation accuracy in a run's history.csv, or None when it has no epochs yet."""
    rows = read_history(history) if history.exists() else []
    return max((float(row["val_accuracy"]) for row in rows if row.get("val_accuracy")), default=None)


def record_sitting(run_dir: Path, first_done: int, last_done: int, seconds: float, resumed: bool) -> float:
    """Add this invocation's epochs and seconds to sittings.csv (a new run starts the file again); returns the seconds
    of all the run's sittings, so a run resumed across sessions reports its whole training time."""
    path = run_dir / SITTINGS
    new = not (resumed and path.exists())
    with open(path, "w" if new else "a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(["first_epoch", "last_epoch", "seconds"])
        writer.writerow([first_done + 1, last_done, round(seconds, 1)])
    with open(path, newline="") as handle:
        return sum(float(row["seconds"]) for row in csv.DictReader(handle))


def _epochs_done(history: Path) -> int:
    if not history.exists():
        return 0
    with open(history, newline="") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def describe_machine() -> str:
    """CPU count, architecture and model name, e.g. '2 x86_64 CPUs (AMD EPYC)'."""
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} {platform.machine()} CPUs" + (f" ({cpu})" if cpu else "")


def choose_flip_average(setting: str, model, data: Fer2013) -> tuple[bool, dict]:
    """Whether to flip-average at inference, and the PublicTest accuracies behind an `auto` choice."""
    if setting != "auto":
        return setting == "on", {}
    if not data.has("PublicTest"):
        return False, {}
    images, labels = data.split("PublicTest")
    plain = float(np.mean(keras_probabilities(model, images).argmax(1) == labels))
    averaged = float(np.mean(keras_probabilities(model, images, flip_average=True).argmax(1) == labels))
    chosen = averaged > plain
    logger.info("flip averaging %s: PublicTest accuracy %.4f plain, %.4f averaged", "on" if chosen else "off", plain, averaged)
    return chosen, {"publictest_accuracy_plain": plain, "publictest_accuracy_flip_averaged": averaged}


def finish_run(options: TrainOptions, data: Fer2013, model, run_dir: Path, seconds: float) -> dict:
    """Choose flip averaging, write the PublicTest/PrivateTest reports and the metadata of a finished model."""
    flip_average, flip_choice = choose_flip_average(options.flip_average, model, data)
    metrics = {}
    for split in filter(data.has, ("PublicTest", "PrivateTest")):
        images, labels = data.split(split)
        probabilities = keras_probabilities(model, images, flip_average)
        metrics[split] = write_evaluation(run_dir, labels, probabilities, split)
        logger.info("%s accuracy %.4f, macro F1 %.4f", split, metrics[split]["accuracy"], metrics[split]["macro_f1"])
    metrics = {split: {k: m[k] for k in ("samples", "accuracy", "macro_f1", "weighted_f1")}
               for split, m in metrics.items()}
    metadata = run_metadata(options, data, model, run_dir, seconds, flip_average, flip_choice, metrics)
    write_metadata(run_dir, metadata)
    return metadata.model_dump(mode="json")


def run_metadata(options: TrainOptions, data: Fer2013, model, run_dir: Path, seconds: float, flip_average: bool,
                 flip_choice: dict, metrics: dict) -> ModelMetadata:
    """The sidecar of the run's best model (model.keras)."""
    data_hash = file_sha256(data.source) if Path(data.source).is_file() else None
    return ModelMetadata(
        model_id=f"fer2013-{options.model.arch}-{file_sha256(run_dir / BEST_MODEL)[:8]}",
        labels=list(EMOTIONS),
        arch=options.model.arch,
        flip_average=flip_average,
        framing=Framing(align=options.align_faces),
        source={
            "data": str(Path(data.source).resolve()),
            "data_sha256": data_hash,
            "skipped_rows": data.skipped,
            "seed": options.seed,
            "training_seconds": round(seconds, 1),
            "epochs_run": _epochs_done(run_dir / HISTORY),
            "machine": describe_machine(),
            "parameters": int(model.count_params()),
            "flip_average_choice": flip_choice,
        },
        metrics=metrics,
        options=options.model.to_dict(),
        training=options.to_dict(),
    )
