"""Classification metrics (scikit-learn) and their rendering as a table."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    hamming_loss,
    precision_recall_fscore_support,
)

__all__ = ["classification_metrics", "multilabel_metrics", "cross_entropy", "format_per_class"]


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of ``logits`` (n, C) against integer ``labels`` (n,)."""
    return float(
        torch.nn.functional.cross_entropy(
            torch.from_numpy(logits).double(), torch.from_numpy(np.array(labels, dtype=np.int64))
        )
    )


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, label_names: list[str]
) -> dict:
    """Accuracy, macro/weighted F1, per-class precision/recall/F1/support, confusion matrix."""
    labels = np.arange(len(label_names))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "f1_weighted": float(
            f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
        ),
        "per_class": [
            {
                "label": name,
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(label_names)
        ],
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def multilabel_metrics(y_true: np.ndarray, y_pred: np.ndarray, label_names: list[str]) -> dict:
    """Metrics of predicted label sets: F1, precision and recall (micro, macro, weighted and
    per document: ``samples``), Hamming loss, subset accuracy (every label of a document right),
    per-class precision/recall/F1/support, and the mean number of labels per document, true and
    predicted. ``y_true`` and ``y_pred`` are (n, C) 0/1 matrices."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    out: dict = {}
    for average in ("micro", "macro", "weighted", "samples"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        out[f"f1_{average}"], out[f"precision_{average}"], out[f"recall_{average}"] = float(f), float(p), float(r)
    out.update(
        hamming_loss=float(hamming_loss(y_true, y_pred)),
        subset_accuracy=float(accuracy_score(y_true, y_pred)),
        label_cardinality={"true": float(y_true.sum(axis=1).mean()), "predicted": float(y_pred.sum(axis=1).mean())},
        per_class=[
            {
                "label": name,
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
                "predicted": int(y_pred[:, i].sum()),
            }
            for i, name in enumerate(label_names)
        ],
    )
    return out


def format_per_class(metrics: dict) -> str:
    rows = metrics["per_class"]
    width = max(len("class"), *(len(r["label"]) for r in rows))
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    for r in rows:
        lines.append(
            f"{r['label']:<{width}}  {r['precision']:9.4f}  {r['recall']:6.4f}  {r['f1']:6.4f}"
            f"  {r['support']:7d}"
        )
    return "\n".join(lines)
