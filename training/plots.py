"""Pictures of a run: training curves, class distribution, confusion matrices."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_history(history_csv: Path, stage: str = "") -> list[dict]:
    """The rows of a Keras CSVLogger file (or of a stages file, which has a `stage` column already)."""
    with open(history_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [{"stage": stage, **row} for row in rows] if stage else rows


def kept_epoch(rows: list[dict]) -> int:
    """Index of the epoch whose weights were kept: the best validation accuracy of the last stage."""
    last = [i for i, row in enumerate(rows) if row["stage"] == rows[-1]["stage"]]
    return max(last, key=lambda i: float(rows[i]["val_accuracy"]))


def plot_history(rows: list[dict], png: Path) -> Path:
    """Loss and accuracy per epoch, training against validation, over every stage (warm restarts) of a model.

    Stage boundaries are dotted lines; the epoch the model was kept from (best validation accuracy of the last
    stage) is a star.
    """
    epochs = np.arange(1, len(rows) + 1)
    stages = [r["stage"] for r in rows]
    best = kept_epoch(rows)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, [float(r[metric]) for r in rows], marker=".", label="training")
        validation = [float(r["val_" + metric]) for r in rows]
        ax.plot(epochs, validation, marker=".", label="validation (PublicTest)")
        ax.plot(epochs[best], validation[best], marker="*", markersize=14, color="crimson", linestyle="none",
                label=f"kept: epoch {best + 1}, val accuracy {float(rows[best]['val_accuracy']):.4f}")
        for i in range(1, len(rows)):
            if stages[i] != stages[i - 1]:
                ax.axvline(i + 0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("epoch (all stages)" if len(set(stages)) > 1 else "epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


def plot_class_distribution(counts: dict[str, list[int]], labels: list[str], png: Path) -> Path:
    """Grouped bars: faces per class for each Usage (the paper's Fig. 3)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(1, len(counts))
    x = np.arange(len(labels))
    for i, (usage, values) in enumerate(counts.items()):
        bars = ax.bar(x + i * width, values, width, label=usage)
        ax.bar_label(bars, fontsize=7)
    ax.set_xticks(x + width * (len(counts) - 1) / 2, labels)
    ax.set_ylabel("faces")
    ax.set_title("FER2013 class distribution")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


def plot_confusion_matrix(matrix: np.ndarray, labels: list[str], png: Path, title: str, normalized: bool) -> Path:
    """A labelled heat map; cells show counts, or row fractions when normalized."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalized else None)
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = matrix.max() / 2
    for (i, j), value in np.ndenumerate(matrix):
        text = f"{value:.2f}" if normalized else str(int(value))
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if value > threshold else "black")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png
