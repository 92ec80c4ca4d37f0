"""Class weights of the training loss (``train.class_weights``); the loss itself is the task's
(cross-entropy, or binary cross-entropy for multilabel: ``textclf.task``)."""

from __future__ import annotations

import numpy as np
import torch

from textclf.errors import ConfigError

__all__ = ["class_weights"]


def class_weights(setting, counts: np.ndarray, label_names: list[str], *, multilabel: bool = False,
                  num_examples: int | None = None) -> torch.Tensor | None:
    """Loss weight per class from ``train.class_weights``.

    Multiclass (weights of cross-entropy): ``none`` → None; ``balanced`` → n / (k · count);
    ``inverse`` → n / count (the Kaggle notebook's); a list → itself, in label order; a mapping →
    by label name (others get 1).

    Multilabel (``pos_weight`` of binary cross-entropy, the weight of a class's positive
    examples against its negative ones): ``balanced`` → (n − count) / count, so that a class's
    positives weigh as much as its negatives; ``inverse`` → n / count; lists and mappings as
    above. ``n`` is the number of training documents (``num_examples``).
    """
    if isinstance(setting, str):
        if setting == "none":
            return None
        counts = np.maximum(np.asarray(counts, dtype=np.float64), 1)
        if multilabel:
            n = float(num_examples if num_examples is not None else counts.sum())
            weights = np.maximum(n - counts, 1) / counts if setting == "balanced" else n / counts
            return torch.tensor(weights, dtype=torch.float32)
        k = len(counts) if setting == "balanced" else 1
        return torch.tensor(counts.sum() / (k * counts), dtype=torch.float32)
    if isinstance(setting, dict):
        unknown = sorted(set(setting) - set(label_names))
        if unknown:
            raise ConfigError(
                f"train.class_weights: unknown labels {', '.join(map(repr, unknown))}; "
                f"labels are {', '.join(label_names)}"
            )
        return torch.tensor([setting.get(name, 1.0) for name in label_names], dtype=torch.float32)
    if len(setting) != len(counts):
        raise ConfigError(
            f"train.class_weights: {len(setting)} weights given but the data has {len(counts)} classes"
        )
    return torch.tensor(setting, dtype=torch.float32)
