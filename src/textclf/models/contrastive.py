"""Contrastive fine-tuning of a sentence encoder on pairs of training examples (SetFit's first stage).

With a few labelled examples per class, fine-tuning a whole encoder through a classification
head overfits, and a frozen encoder's vectors were not made for these classes. SetFit (Tunstall
et al., 2022) fine-tunes the encoder on *pairs* instead: two examples of the same class should
embed close (cosine similarity 1), two of different classes apart (0). Sixteen examples give
hundreds of pairs, so the encoder learns the classes' geometry from few labels; a head is then
trained on the adapted vectors (``transformer`` with ``contrastive``: the frozen mode's head on
cached vectors).

Pairs: for each of ``pairs`` rounds, every example gets one positive partner (a random other
example of its class; multi-label: one sharing a random one of its labels) and one negative
(a random example of another class; multi-label: sharing none of its labels), as SetFit draws
them; at most ``max_pairs`` are kept. The loss is the squared error between the pooled vectors'
cosine similarity and the pair's target, optimised with AdamW at ``lr`` with a linear warm-up
over the first 10 % of the steps and a linear decay to 0.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from textclf.precision import autocast

__all__ = ["ContrastiveParams", "draw_pairs", "fit_pairs"]


class ContrastiveParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pairs: int = Field(20, ge=1)  # rounds of pair drawing: each gives every example a positive and a negative
    max_pairs: int = Field(20_000, ge=2)  # the most pairs kept (large training sets)
    epochs: int = Field(1, ge=1)  # passes over the pairs
    lr: float = Field(2e-5, gt=0)  # the encoder's learning rate in this stage (the head's is train.lr)
    batch_size: int = Field(16, ge=1)  # pairs per step


def draw_pairs(labels: np.ndarray, rounds: int, max_pairs: int, seed: int) -> np.ndarray:
    """(m, 3) int64 rows (first, second, target 1 or 0) drawn as the module docstring says;
    ``labels``: (n,) class indices or an (n, C) 0/1 matrix."""
    rng = np.random.default_rng(seed)
    matrix = labels.astype(bool) if labels.ndim == 2 else np.eye(int(labels.max()) + 1, dtype=bool)[labels]
    members = [np.flatnonzero(matrix[:, c]) for c in range(matrix.shape[1])]
    n, pairs = len(labels), []
    for _ in range(rounds):
        for i in range(n):
            own = np.flatnonzero(matrix[i])
            if len(own):
                mates = members[int(rng.choice(own))]
                if len(mates) > 1:
                    j = int(rng.choice(mates[mates != i]))
                    pairs.append((i, j, 1))
            for _ in range(10):  # a few tries at an example that shares no label
                j = int(rng.integers(n))
                if not (matrix[i] & matrix[j]).any():
                    pairs.append((i, j, 0))
                    break
    out = np.asarray(pairs, dtype=np.int64).reshape(-1, 3)
    rng.shuffle(out)
    return out[:max_pairs]


def fit_pairs(embed: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], parameters: list[nn.Parameter],
              take: Callable, pairs: np.ndarray, settings: ContrastiveParams, device: torch.device,
              precision: str = "fp32", progress=None) -> list[float]:
    """Train ``parameters`` so that ``embed(ids, lengths)``'s cosine similarity of each pair's two
    documents approaches its target; the mean loss of each epoch. ``take(indices)``: those
    training documents as one padded batch (ids, lengths, labels)."""
    optimizer = torch.optim.AdamW(parameters, lr=settings.lr)
    steps = settings.epochs * math.ceil(len(pairs) / settings.batch_size)
    warmup = max(1, int(0.1 * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))
    generator = np.random.default_rng(0)
    bar = progress(total=steps) if progress else None
    losses = []
    for _ in range(settings.epochs):
        order, total = generator.permutation(len(pairs)), 0.0
        for start in range(0, len(order), settings.batch_size):
            batch = pairs[order[start: start + settings.batch_size]]
            with autocast(device, precision):
                first, second = (embed(*(t.to(device) for t in take(batch[:, side])[:2])) for side in (0, 1))
                similarity = nn.functional.cosine_similarity(first.float(), second.float())
            target = torch.as_tensor(batch[:, 2], dtype=torch.float32, device=device)
            loss = nn.functional.mse_loss(similarity, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(batch)
            if bar is not None:
                bar.update(1)
        losses.append(total / max(1, len(pairs)))
    if bar is not None:
        bar.close()
    return losses

