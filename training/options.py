"""Training options: one dataclass, one field per fer-train flag."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from training.model import ModelOptions


@dataclass
class TrainOptions:
    """How to train; the model's sizes are in `model`."""

    data: Path
    """Kaggle fer2013.csv(.gz) (emotion,pixels,Usage), the fer2013-xz/1 archive, or an image-folder tree
    (train/<class>/*.png, test/<class>/*.png); default: $FER2013."""
    run_dir: Path
    """Directory that receives the model, metadata, history, plots and reports; an existing run is refused
    unless --resume continues it or --overwrite replaces it."""
    model: ModelOptions = field(default_factory=ModelOptions)
    epochs: int = 100
    """Maximum epochs (the paper's 100); early stopping may end sooner."""
    batch_size: int = 64
    """Faces per step (the paper's 64)."""
    optimizer: Literal["adamw", "sgd"] = "adamw"
    """adamw (Adam with decoupled weight decay) or sgd (SGD with Nesterov momentum, as the 73 % FER2013 results)."""
    momentum: float = 0.9
    """Nesterov momentum of sgd."""
    learning_rate: float = 1e-3
    """Peak learning rate of the optimizer."""
    lr_schedule: Literal["cosine", "plateau", "constant"] = "cosine"
    """cosine: one warm-up epoch, then cosine decay to 1% over the epochs (with --max-minutes: over the time
    budget, so a cut run ends annealed); plateau: halve after 3 epochs without a better validation accuracy;
    constant."""
    weight_decay: float = 1e-4
    """Decoupled weight decay of either optimizer; 0 turns it off."""
    class_weights: bool = False
    """Weight the loss by inverse class frequency (disgust has 436 training faces, happy 7,215)."""
    soft_labels: str | None = None
    """ferplus[:WEIGHT]: train towards FER+'s crowd-vote distribution mixed with FER2013's one-hot label,
    WEIGHT (0..1, default 1) on the votes; faces FER+ has no votes for keep their label. Validation and reports
    stay on FER2013's own labels."""
    ferplus_votes: Path | None = None
    """The FER+ votes CSV aligned to the data's rows (default: ferplus/fer2013plus_votes.csv.gz two folders above
    --data, as laid out in ../shared/data)."""
    drop_not_faces: bool = False
    """With --soft-labels: leave out training faces whose FER+ votes are mostly 'unknown' or 'not a face'."""
    crop_augment: bool = False
    """Re-frame half the training faces the way the edge's detectors frame a camera's faces (box scale 0.85-1.2
    and shift +-8 %, a 28-96 px face resized to 48, some JPEG and blur); training/crop_augment.py."""
    align_faces: bool = False
    """Record in the model's metadata that faces with landmarks (YuNet) are turned so the eyes are level before
    cropping (framing.align, edge/framing.py); the edge agent and fer-eval --photos then crop that way. Training
    faces are not rotated: FER2013's are already roughly upright."""
    patience: int = 15
    """Early stopping: epochs without a better validation accuracy."""
    seed: int = 1337
    """Seed of weights, shuffling and augmentation."""
    resume: Path | None = None
    """A checkpoint (.keras) to continue from; epochs count on from the run's history. One saved without optimizer
    state (weights committed between sessions) gets a fresh optimizer with its schedule at the step reached."""
    init_from: Path | None = None
    """Start from these trained weights with a fresh optimizer and schedule (a warm restart or fine-tuning)."""
    flip_average: Literal["auto", "on", "off"] = "auto"
    """Average each face's probabilities with its mirror image's at inference: on, off, or auto (on when it
    raises PublicTest accuracy). The choice goes into the model's metadata, which the converter and edge follow."""
    overwrite: bool = False
    """Replace the run already in --run-dir (without it, fer-train refuses to write over a finished run)."""
    skip_bad_rows: bool = False
    """Skip malformed CSV rows (counted) instead of stopping at the first."""
    max_minutes: float | None = None
    """Stop after the epoch that passes this wall-clock budget (the best checkpoint is kept); a cosine schedule
    then decays over the budget instead of the epochs."""
    session_minutes: float | None = None
    """Pause after the epoch that passes this many minutes, for a run longer than one sitting: the run is left cut
    (last.keras, history, curves; no evaluation, no metadata) for --resume to continue, and the schedule still runs
    over --epochs (unlike --max-minutes, which ends the run and fits the cosine to its budget)."""
    verbose: Literal[0, 1, 2] | None = None
    """Keras progress output: 0 silent, 1 progress bar, 2 one line per epoch; default: 1 on a terminal, else 2."""

    def __post_init__(self) -> None:
        """A value no run can use is refused here, before the run directory is made or the data read."""
        for name, value, least in (("epochs", self.epochs, 1), ("batch_size", self.batch_size, 1),
                                   ("patience", self.patience, 0)):
            if value < least:
                raise ValueError(f"--{name.replace('_', '-')} must be {least} or more, got {value}")
        for name in ("max_minutes", "session_minutes"):
            value = getattr(self, name)
            if value is not None and not value > 0:  # 0 minutes would otherwise mean no limit at all
                raise ValueError(f"--{name.replace('_', '-')} must be above 0, got {value}")
        for name in ("learning_rate", "weight_decay"):  # a rate of 0 is allowed: the weights stay as they start
            value = getattr(self, name)
            if not 0 <= value < float("inf"):
                raise ValueError(f"--{name.replace('_', '-')} must be 0 or more (and finite), got {value}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"--momentum must be in 0..1 (1 excluded), got {self.momentum}")
        for name in ("ferplus_votes", "drop_not_faces"):  # they act on the votes only --soft-labels reads
            if getattr(self, name) and not self.soft_labels:
                raise ValueError(f"--{name.replace('_', '-')} needs --soft-labels ferplus[:WEIGHT]; without it the "
                                 "votes are not read")

    def to_dict(self) -> dict:
        data = asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()}
