"""Figures saved as PNG (matplotlib, no display needed).

Figures are made with matplotlib's object API (``Figure``), not pyplot's global state, so that
trials of a search can draw in parallel threads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from textclf.files import atomic_path

__all__ = [
    "plot_class_distribution",
    "plot_confusion_matrix",
    "plot_length_histogram",
    "plot_per_class_f1",
    "plot_reliability",
    "plot_training_curves",
    "save_figure",
    "subplots",
]


def subplots(*args, figsize, **kwargs):
    """Like ``pyplot.subplots``, without pyplot's global figure registry."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def save_figure(fig, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return Path(path)


def plot_class_distribution(counts: dict[str, list[int]], label_names: list[str], path: Path):
    """Horizontal bars: one group of bars per class, one bar per split."""
    fig, ax = subplots(figsize=(8, 0.32 * len(label_names) + 1.5))
    y = np.arange(len(label_names))
    height = 0.8 / max(len(counts), 1)
    for k, (split, values) in enumerate(counts.items()):
        ax.barh(y + k * height, values, height=height, label=f"{split} ({sum(values):,})")
    ax.set_yticks(y + height * (len(counts) - 1) / 2, label_names)
    ax.invert_yaxis()
    ax.set_xlabel("documents")
    ax.set_title("Class distribution")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    return save_figure(fig, path)


def plot_reliability(curves: dict[str, list[dict]], path: Path, title: str):
    """Reliability diagram: accuracy against confidence per bin, one line per curve (e.g. before
    and after calibration), the diagonal for perfect calibration; bars: share of documents."""
    fig, ax = subplots(figsize=(5.5, 5.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    for name, bins in curves.items():
        kept = [b for b in bins if b["count"]]
        ax.plot([b["confidence"] for b in kept], [b["accuracy"] for b in kept], marker="o", label=name)
    first = next(iter(curves.values()))
    total = max(sum(b["count"] for b in first), 1)
    ax.bar([(b["low"] + b["high"]) / 2 for b in first], [b["count"] / total for b in first],
           width=1 / len(first), alpha=0.15, color="tab:blue", label="share of documents")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(loc="upper left")
    return save_figure(fig, path)


def plot_per_class_f1(per_class: list[dict], path: Path, title: str):
    """Horizontal bars of each class's F1, precision and recall, classes by F1 (the multilabel
    stand-in for a confusion matrix); each class's test support in its tick label."""
    rows = sorted(per_class, key=lambda r: -r["f1"])
    fig, ax = subplots(figsize=(8, 0.3 * len(rows) + 1.5))
    y = np.arange(len(rows))
    ax.barh(y, [r["f1"] for r in rows], height=0.6, color="tab:blue", label="F1")
    ax.scatter([r["precision"] for r in rows], y, marker="|", s=120, color="tab:orange", label="precision")
    ax.scatter([r["recall"] for r in rows], y, marker="x", s=25, color="tab:green", label="recall")
    ax.set_yticks(y, [f"{r['label']} ({r['support']})" for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("score (support in brackets)")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    return save_figure(fig, path)


def plot_confusion_matrix(matrix: list[list[int]], label_names: list[str], path: Path, title: str):
    """Heatmap of row-normalised counts (recall per true class); raw counts printed in cells."""
    counts = np.asarray(matrix, dtype=np.float64)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(5.0, 0.45 * len(label_names) + 2)
    fig, ax = subplots(figsize=(size + 1, size))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(len(label_names))
    ax.set_xticks(ticks, label_names, rotation=90)
    ax.set_yticks(ticks, label_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(label_names) <= 30:
        for i in ticks:
            for j in ticks:
                if counts[i, j]:
                    color = "white" if rates[i, j] > 0.5 else "black"
                    ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    return save_figure(fig, path)


def plot_training_curves(history: list[dict], best_epoch: int, path: Path):
    """Loss (train and val) and validation accuracy / macro-F1 per epoch; best epoch marked."""
    epochs = [h["epoch"] for h in history]
    fig, (left, right) = subplots(1, 2, figsize=(11, 4))
    left.plot(epochs, [h["train/loss"] for h in history], marker="o", label="train")
    left.plot(epochs, [h["val/loss"] for h in history], marker="o", label="val")
    left.set_title("Loss")
    left.set_ylabel("cross-entropy")
    right.plot(epochs, [h["train/accuracy"] for h in history], marker="o", label="train accuracy")
    right.plot(epochs, [h["val/accuracy"] for h in history], marker="o", label="val accuracy")
    right.plot(epochs, [h["val/f1_macro"] for h in history], marker="s", label="val macro-F1")
    right.set_title("Accuracy and macro-F1")
    for ax in (left, right):
        ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label=f"best epoch ({best_epoch})")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    return save_figure(fig, path)


def plot_length_histogram(lengths: dict[str, np.ndarray], max_len: int, path: Path):
    """Token counts per document (before truncation), clipped at 3 × max_seq_len for readability."""
    fig, ax = subplots(figsize=(8, 4))
    cap = 3 * max_len
    bins = np.linspace(0, cap, 61)
    for split, values in lengths.items():
        ax.hist(np.minimum(values, cap), bins=bins, alpha=0.5, label=split)
    ax.axvline(max_len, color="black", linestyle="--", linewidth=1, label=f"max_seq_len = {max_len}")
    ax.set_xlabel(f"tokens per document (longer than {cap} counted at {cap})")
    ax.set_ylabel("documents")
    ax.set_title("Document lengths")
    ax.legend()
    return save_figure(fig, path)
