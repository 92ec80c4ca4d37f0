"""Batches of an encoded split, length-bucketed sampling and the padding collate.

A batch is padded only to its own longest document and carries the true lengths, so the models
can pack their sequences. The bucketed sampler groups documents of similar length into batches
(far less padding) while every epoch still visits every document once, in a seeded random order.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Sampler

from textclf.text.encoding import EncodedSplit
from textclf.text.vocabulary import PAD_ID

__all__ = [
    "BucketBatchSampler",
    "collate",
    "TrainBatches",
    "make_train_loader",
    "sorted_batches",
    "take",
    "Batch",
]

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # ids, lengths, labels ((batch,) or (batch, C))


def collate(items: list[tuple[np.ndarray, np.ndarray]]) -> Batch:
    """Right-pad with ``<pad>`` to the longest document of the batch."""
    lengths = torch.tensor([len(ids) for ids, _ in items], dtype=torch.int64)  # (batch,)
    ids = torch.full((len(items), int(lengths.max())), PAD_ID, dtype=torch.int64)  # (batch, T)
    for row, (doc, _) in enumerate(items):
        ids[row, : len(doc)] = torch.from_numpy(doc.astype(np.int64, copy=False))
    labels = torch.from_numpy(np.asarray([label for _, label in items]))  # (batch,) int64 or (batch, C) uint8
    return ids, lengths, labels


def take(split: EncodedSplit, indices) -> Batch:
    """Documents ``indices`` of ``split`` as one padded batch of tensors, in that order
    (``EncodedSplit.padded``: what ``collate`` makes of them, without a Python step per document)."""
    return tuple(torch.from_numpy(a) for a in split.padded(indices))


class BucketBatchSampler(Sampler[list[int]]):
    """Shuffled batches, optionally of similar-length documents.

    Each epoch: shuffle all indices; with ``bucket``, cut them into pools of ``pool_batches``
    batches and sort each pool by length; cut into batches; shuffle the batches. The order
    depends only on the seed and the epoch number (``set_epoch``), so an epoch can be replayed.
    """

    def __init__(
        self,
        lengths: np.ndarray,
        batch_size: int,
        seed: int = 0,
        bucket: bool = True,
        pool_batches: int = 50,
        weights: np.ndarray | None = None,
    ):
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.bucket = bucket
        self.pool = batch_size * pool_batches
        # Per-example sampling weights: draw len(lengths) examples with replacement instead of
        # a permutation (oversampling).
        self.p = None if weights is None else np.asarray(weights, dtype=np.float64) / np.sum(weights)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        n = len(self.lengths)
        order = rng.permutation(n) if self.p is None else rng.choice(n, size=n, replace=True, p=self.p)
        batches = []
        for start in range(0, len(order), self.pool if self.bucket else len(order) or 1):
            pool = order[start : start + self.pool] if self.bucket else order
            if self.bucket:
                pool = pool[np.argsort(self.lengths[pool], kind="stable")]
            batches += [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        rng.shuffle(batches)
        for batch in batches:
            yield batch.tolist()

    def __len__(self) -> int:
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size


class TrainBatches:
    """Training batches of one epoch at a time, replayable from any batch: (ids, lengths, labels,
    weights), where weights is the batch's (batch,) float32 sample weights or None.

    Plain iteration rather than a DataLoader: a DataLoader draws from torch's global RNG each
    time it starts an epoch, which would make a resumed run differ from an uninterrupted one.
    """

    def __init__(self, split: EncodedSplit, sampler: BucketBatchSampler):
        self.split = split
        self.sampler = sampler
        self.rank, self.world = 0, 1
        self.weights = None if split.weights is None else torch.tensor(np.asarray(split.weights), dtype=torch.float32)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def shard(self, rank: int, world: int) -> None:
        """Take only this rank's share of every epoch: batch k goes to rank k mod ``world``; the
        last ``len % world`` batches are left out, so every rank takes as many steps."""
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return len(self.sampler) // self.world

    def _batches(self):
        if self.world == 1:
            return iter(self.sampler)
        batches = list(self.sampler)
        return iter(batches[self.rank : len(batches) - len(batches) % self.world : self.world])

    def iter_from(self, start: int = 0):
        """Batches of the current epoch, skipping the first ``start`` (for resuming)."""
        for k, indices in enumerate(self._batches()):
            if k >= start:
                weights = None if self.weights is None else self.weights[indices]
                yield (*take(self.split, indices), weights)

    def __iter__(self):
        return self.iter_from(0)


def make_train_loader(
    split: EncodedSplit, batch_size: int, *, bucket: bool, seed: int, balance_classes: bool = False
) -> TrainBatches:
    """Training batches; call ``set_epoch(epoch)`` before each epoch.

    ``balance_classes`` draws examples with probability 1 / (count of their class), so each class
    is equally likely in every batch (the ``weighted`` sampler); a multilabel example counts as
    its rarest class, and examples without a class share one class's weight."""
    weights = None
    if balance_classes:
        weights = _balancing_weights(split.labels)
    sampler = BucketBatchSampler(split.lengths, batch_size, seed=seed, bucket=bucket, weights=weights)
    return TrainBatches(split, sampler)


def _balancing_weights(labels: np.ndarray) -> np.ndarray:
    if labels.ndim == 1:
        return 1.0 / np.bincount(labels)[labels]
    inverse = 1.0 / np.maximum(labels.sum(axis=0), 1)
    weights = (labels * inverse).max(axis=1)
    empty = weights == 0
    if empty.any():
        weights[empty] = 1.0 / empty.sum()
    return weights


def sorted_batches(split: EncodedSplit, batch_size: int, max_tokens: int | None = None):
    """Evaluation batches in order of length, as tensors (``EncodedSplit.by_length``); yields
    (indices, batch)."""
    for indices, arrays in split.by_length(batch_size, max_tokens):
        yield indices, tuple(torch.from_numpy(a) for a in arrays)
