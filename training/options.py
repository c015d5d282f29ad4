"""Training options: one dataclass, one field per fer-train flag."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from training.model import ModelOptions


@dataclass
class TrainOptions:
    """How to train; the model's sizes are in `model`."""

    data: Path
    """Kaggle fer2013.csv(.gz) or an image-folder tree (train/<class>/, test/<class>/)."""
    run_dir: Path
    """Directory that receives the model, metadata, history, plots and reports."""
    model: ModelOptions = field(default_factory=ModelOptions)
    epochs: int = 100
    """Maximum epochs (the paper's 100); early stopping may end sooner."""
    batch_size: int = 64
    """Faces per step (the paper's 64)."""
    learning_rate: float = 1e-3
    """Peak learning rate of Adam."""
    lr_schedule: str = "cosine"
    """cosine (decay to 1% over the epochs, after one warm-up epoch), plateau (halve after 3 flat epochs) or constant."""
    weight_decay: float = 1e-4
    """Decoupled weight decay (AdamW); 0 gives plain Adam."""
    class_weights: bool = False
    """Weight the loss by inverse class frequency (disgust has 436 training faces, happy 7,215)."""
    patience: int = 15
    """Early stopping: epochs without a better validation accuracy."""
    seed: int = 1337
    """Seed of weights, shuffling and augmentation."""
    resume: Path | None = None
    """A checkpoint (.keras) to continue from; epochs count on from the run's history."""
    init_from: Path | None = None
    """Start from these trained weights with a fresh optimizer and schedule (a warm restart or fine-tuning)."""
    flip_average: str = "auto"
    """Average each face's probabilities with its mirror image's at inference: on, off, or auto (on when it
    raises PublicTest accuracy). The choice goes into the model's metadata, which the converter and edge follow."""
    skip_bad_rows: bool = False
    """Skip malformed CSV rows (counted) instead of stopping at the first."""
    max_minutes: float | None = None
    """Stop after the epoch that passes this wall-clock budget (the best checkpoint is kept)."""
    verbose: int = 1
    """Keras progress output: 0 silent, 1 progress bar, 2 one line per epoch."""

    def to_dict(self) -> dict:
        data = asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()}
