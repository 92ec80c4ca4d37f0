"""Trivial baselines every result is shown next to (scikit-learn's DummyClassifier).

- majority: always the most frequent training class;
- uniform: a uniformly random class, seeded.
"""

from __future__ import annotations

import numpy as np
from sklearn.dummy import DummyClassifier

from textclf.evaluation.metrics import classification_metrics, multilabel_metrics

__all__ = ["baseline_metrics", "multilabel_baselines"]


def baseline_metrics(
    train_label_counts: list[int], y_true: np.ndarray, label_names: list[str], seed: int
) -> dict[str, dict]:
    """{"majority": {...}, "uniform": {...}}, each with accuracy and macro/weighted F1."""
    y_train = np.repeat(np.arange(len(train_label_counts)), train_label_counts)
    x_train = np.zeros((len(y_train), 1))
    x_eval = np.zeros((len(y_true), 1))
    results = {}
    for name, strategy in (("majority", "most_frequent"), ("uniform", "uniform")):
        dummy = DummyClassifier(strategy=strategy, random_state=seed).fit(x_train, y_train)
        full = classification_metrics(y_true, dummy.predict(x_eval), label_names)
        results[name] = {k: full[k] for k in ("accuracy", "f1_macro", "f1_weighted")}
    return results


def multilabel_baselines(train_label_counts: list[int], y_true: np.ndarray, label_names: list[str]) -> dict[str, dict]:
    """{"majority": {...}}: every document gets the class most frequent in training."""
    chosen = np.zeros_like(np.asarray(y_true))
    chosen[:, int(np.argmax(train_label_counts))] = 1
    full = multilabel_metrics(y_true, chosen, label_names)
    return {"majority": {k: full[k] for k in ("f1_micro", "f1_macro", "f1_samples", "subset_accuracy")}}
