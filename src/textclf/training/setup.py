"""Building the pieces of a training run from a config (shared by train, sanity and lr-find)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from textclf.batching import TrainBatches, make_train_loader, sorted_batches
from textclf.config import Config
from textclf.models import build_model
from textclf.text.prepare import PreparedData
from textclf.training.optimizer import SplitOptimizer, make_optimizer

__all__ = ["Parts", "build_parts"]


@dataclass
class Parts:
    model: nn.Module
    optimizer: torch.optim.Optimizer | SplitOptimizer
    criterion: nn.Module
    loader: TrainBatches
    class_weights: torch.Tensor | None


def build_parts(config: Config, prepared: PreparedData, device: torch.device) -> Parts:
    from textclf.training.loop import class_weights

    t = config.train
    train_split = prepared.splits["train"]
    counts = np.bincount(train_split.labels, minlength=prepared.num_classes)
    model = build_model(
        config.model.name, config.model.params(), len(prepared.vocab), prepared.num_classes
    )
    if hasattr(model, "fit_statistics"):  # e.g. TF-IDF weights from the training split
        model.fit_statistics((ids, lengths) for _, (ids, lengths, _) in sorted_batches(train_split, 1024))
    model = model.to(device)
    weights = class_weights(t.class_weights, counts, prepared.label_names)
    criterion = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device))
    loader = make_train_loader(
        train_split, t.batch_size, bucket=t.bucket_by_length, seed=t.run_seed(config.seed),
        balance_classes=t.sampler == "weighted",
    )
    return Parts(model, make_optimizer(t, model), criterion, loader, weights)
