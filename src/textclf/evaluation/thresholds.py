"""Multilabel decision thresholds, chosen on the validation split (``train.threshold``).

- a number: that threshold for every class;
- ``tune_global``: one threshold for all classes, the one of 0.01, 0.02, …, 0.99 that gives the
  best F1 (micro or macro, the monitored one) with the at-least-one rule applied;
- ``tune_per_class``: each class's own threshold, the one that maximises that class's F1 (which
  maximises macro-F1). The best cut is searched over every distinct probability of the class and
  put halfway between the last document kept and the first one left out. A class with no
  positive example in validation keeps the best global threshold.
- ``tune_mixed``: each class with at least ``MIN_POSITIVES`` positive examples in validation gets
  its own threshold as above, every other class the best global one: a cut chosen on two or
  three documents is noise, and rare classes are where per-class thresholds overfit most.
"""

from __future__ import annotations

import numpy as np

from textclf.task import apply_thresholds

__all__ = ["tune_thresholds", "GLOBAL_GRID", "MIN_POSITIVES"]

GLOBAL_GRID = np.round(np.arange(1, 100) / 100, 2)
MIN_POSITIVES = 10  # tune_mixed: validation positives a class needs for a threshold of its own


def _f1(chosen: np.ndarray, truth: np.ndarray, average: str) -> float:
    tp = (chosen & truth).sum(axis=0).astype(np.float64)
    predicted, actual = chosen.sum(axis=0), truth.sum(axis=0)
    if average == "micro":
        denominator = predicted.sum() + actual.sum()
        return float(2 * tp.sum() / denominator) if denominator else 0.0
    denominator = predicted + actual
    per_class = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return float(per_class.mean())


def _best_global(probabilities: np.ndarray, truth: np.ndarray, average: str, allow_empty: bool) -> float:
    scores = [_f1(apply_thresholds(probabilities, t, allow_empty), truth, average) for t in GLOBAL_GRID]
    return float(GLOBAL_GRID[int(np.argmax(scores))])


def _best_for_class(p: np.ndarray, y: np.ndarray, fallback: float) -> float:
    positives = int(y.sum())
    if positives == 0:
        return fallback
    order = np.argsort(-p, kind="stable")
    p, y = p[order], y[order]
    tp = np.cumsum(y)  # keeping the first k documents: tp[k - 1] true positives
    k = np.arange(1, len(p) + 1)
    f1 = 2 * tp / (k + positives)
    # A cut is only possible where the next probability is strictly lower.
    possible = np.append(p[1:] < p[:-1], True)
    f1 = np.where(possible, f1, -1.0)
    best = int(np.argmax(f1))
    if best + 1 < len(p):
        return float((p[best] + p[best + 1]) / 2)
    return float(p[best])


def tune_thresholds(probabilities: np.ndarray, labels: np.ndarray, setting, objective: str = "f1_micro",
                    allow_empty: bool = False) -> np.ndarray:
    """(C,) float32 thresholds for ``setting`` (``train.threshold``), chosen on ``probabilities``
    (n, C) against the 0/1 ``labels`` (n, C). ``objective`` (f1_micro or f1_macro) is what
    ``tune_global`` maximises."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    num_classes = probabilities.shape[1]
    if not isinstance(setting, str):
        return np.full(num_classes, float(setting), dtype=np.float32)
    truth = np.asarray(labels).astype(bool)
    average = "macro" if objective == "f1_macro" else "micro"
    best_global = _best_global(probabilities, truth, average, allow_empty)
    if setting == "tune_global":
        return np.full(num_classes, best_global, dtype=np.float32)
    if setting not in ("tune_per_class", "tune_mixed"):
        raise ValueError(f"unknown threshold setting {setting!r}")
    least = MIN_POSITIVES if setting == "tune_mixed" else 1
    return np.array([_best_for_class(probabilities[:, c], truth[:, c], best_global)
                     if truth[:, c].sum() >= least else best_global for c in range(num_classes)], dtype=np.float32)
