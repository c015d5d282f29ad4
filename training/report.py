"""Evaluation reports: scikit-learn's per-class precision/recall/F1 and confusion matrices, as files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge.labels import EMOTIONS
from training.plots import plot_class_distribution, plot_confusion_matrix


def evaluation_metrics(y_true: np.ndarray, probabilities: np.ndarray, labels=EMOTIONS) -> dict:
    """Accuracy, macro/weighted F1, per-class precision/recall/F1/support and the confusion matrix."""
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix

    y_pred = np.argmax(probabilities, axis=1)
    classes = list(range(len(labels)))
    report = classification_report(
        y_true, y_pred, labels=classes, target_names=list(labels), output_dict=True, zero_division=0
    )
    return {
        "samples": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(report["macro avg"]["f1-score"]),
        "weighted_f1": float(report["weighted avg"]["f1-score"]),
        "per_class": {name: report[name] for name in labels},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
    }


def write_evaluation(out_dir: Path, y_true: np.ndarray, probabilities: np.ndarray, split: str, labels=EMOTIONS) -> dict:
    """Write <split>_report.txt/.json and raw + normalized confusion-matrix PNGs; returns the metrics."""
    from sklearn.metrics import classification_report

    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = evaluation_metrics(y_true, probabilities, labels)
    y_pred = np.argmax(probabilities, axis=1)
    text = classification_report(
        y_true, y_pred, labels=list(range(len(labels))), target_names=list(labels), digits=4, zero_division=0
    )
    stem = split.lower()
    (out_dir / f"{stem}_report.txt").write_text(f"{split}: {len(y_true)} faces\n\n{text}")
    (out_dir / f"{stem}_report.json").write_text(json.dumps({"split": split, **metrics}, indent=2) + "\n")
    matrix = np.array(metrics["confusion_matrix"], dtype=float)
    plot_confusion_matrix(matrix, list(labels), out_dir / f"{stem}_confusion.png", f"{split} confusion matrix", False)
    rows = matrix.sum(axis=1, keepdims=True)
    normalized = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    plot_confusion_matrix(
        normalized, list(labels), out_dir / f"{stem}_confusion_normalized.png", f"{split} (row-normalized)", True
    )
    return metrics


def write_dataset_analysis(out_dir: Path, counts: dict[str, list[int]], labels=EMOTIONS) -> None:
    """Class counts per Usage as a Markdown table and a CSV, and the distribution plot (Table I / Fig. 3)."""
    header = ["Usage", "total", *labels]
    rows = [[usage, sum(values), *values] for usage, values in counts.items()]
    totals = [sum(column) for column in zip(*(values for values in counts.values()))]
    rows.append(["all", sum(totals), *totals])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    (out_dir / "dataset.md").write_text("\n".join(lines) + "\n")
    (out_dir / "dataset.csv").write_text("\n".join(",".join(str(v) for v in r) for r in [header, *rows]) + "\n")
    plot_class_distribution(counts, list(labels), out_dir / "dataset_distribution.png")
