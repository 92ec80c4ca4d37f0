"""Labelled examples: what every data source produces and every later stage consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Examples", "Corpus", "SPLITS"]

SPLITS = ("train", "val", "test")


@dataclass
class Examples:
    """Texts with their labels: indices into the corpus's ``label_names`` (multiclass), or a
    0/1 row per text with a column per class (multilabel)."""

    texts: list[str]
    labels: np.ndarray  # (n,) int64, or (n, num_classes) uint8
    weights: np.ndarray | None = None  # (n,) float32 sample weights (data.weight_column), or None

    def __post_init__(self) -> None:
        from textclf.task import label_array  # (here: loading a config imports this module, not torch)

        self.labels = label_array(self.labels)
        assert len(self.texts) == len(self.labels)
        if self.weights is not None:
            self.weights = np.asarray(self.weights, dtype=np.float32)
            assert len(self.weights) == len(self.texts)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices) -> "Examples":
        indices = np.asarray(indices, dtype=np.int64)
        weights = None if self.weights is None else self.weights[indices]
        return Examples([self.texts[i] for i in indices], self.labels[indices], weights)


@dataclass
class Corpus:
    """A data set split three ways, with the names of its classes."""

    label_names: list[str]
    splits: dict[str, Examples] = field(default_factory=dict)

    def __getitem__(self, split: str) -> Examples:
        return self.splits[split]
