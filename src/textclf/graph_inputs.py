"""What an exported graph is fed: the padded ids, or a TF-IDF bag's word features made in numpy.

Most exports take a batch's padded token ids and their lengths. A bag of n-grams with TF-IDF and
no character n-grams (``bag_of_ngrams``, ``linear``: the default on long texts) takes its word
features instead, made here:

- ``features`` (batch, width) int64: each document's word ids and its word n-grams' hashed
  buckets (after the vocabulary), sorted, padded with ``num_features`` (the graph's zero row);
- ``weights`` (batch, width) float32: ``1 + log tf`` on each feature's first occurrence, 0 on
  its repeats and on padding.

The graph is then a Gather of the table rows and one batched MatMul. Counting the term
frequencies needs a sort, which ONNX has only as TopK, and onnxruntime's TopK ran 12-14 times
slower than ``np.sort`` on rows shaped like these (RESULTS.md "sort-speed"): it was 30 % of the
linear model's node time, the hash's Mod another 9 % (RESULTS.md "onnx-profile"). The torch
model keeps its own hash (``models/bag_of_ngrams.hashed_ngrams``, on any device); both use
:data:`MIX`, and tests/models/test_models.py checks that they give the same buckets.

This module imports numpy only: a Predictor of exports runs without torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MIX", "FORMS", "hashed_ngrams", "word_features", "first_weights", "graph_feeds"]

FORMS = ("word_features",)  # the feeds this version makes besides the ids (export.inputs' "form")

MIX = 0x9E3779B97F4A7C15 - (1 << 64)  # a 64-bit odd constant (golden ratio), as a signed int64
_SHIFT = 1 << 20


def hashed_ngrams(ids: np.ndarray, lengths: np.ndarray, n: int, vocab_size: int,
                  buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Bucket of every word n-gram of the padded ``ids`` (batch, length): ((batch, length - n + 1)
    int64, its valid mask), the torch model's hash in numpy (int64 products wrap in both)."""
    width = ids.shape[1] - n + 1
    if width <= 0:
        return np.zeros((ids.shape[0], 0), dtype=np.int64), np.zeros((ids.shape[0], 0), dtype=bool)
    ids = ids.astype(np.int64, copy=False)
    key = ids[:, :width].copy()
    with np.errstate(over="ignore"):
        for k in range(1, n):
            key *= vocab_size
            key += ids[:, k: k + width]
        key *= MIX
        mixed = (key - np.remainder(key, _SHIFT)) // _SHIFT  # an exact division: the high bits
    valid = np.arange(width)[None, :] < (lengths - n + 1)[:, None]
    return np.remainder(mixed, buckets), valid


def word_features(ids: np.ndarray, lengths: np.ndarray, vocab_size: int, buckets: int, ngrams: int) -> np.ndarray:
    """(batch, width) int64: each document's word ids and n-gram buckets (+ ``vocab_size``),
    sorted, padded with ``num_features``; width is the most features of one document (at least 1)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    num_features = vocab_size + (buckets if ngrams > 1 else 0)
    blocks = [np.where(np.arange(ids.shape[1])[None, :] < lengths[:, None], ids, num_features)]
    for n in range(2, ngrams + 1):
        bucket, valid = hashed_ngrams(ids, lengths, n, vocab_size, buckets)
        blocks.append(np.where(valid, bucket + vocab_size, num_features))
    features = np.sort(np.concatenate(blocks, axis=1).astype(np.int64, copy=False), axis=1)
    counts = np.clip(lengths, 0, None) + sum(np.clip(lengths - n + 1, 0, None) for n in range(2, ngrams + 1))
    width = max(1, int(counts.max(initial=0)))
    return np.ascontiguousarray(features[:, :width])


def first_weights(features: np.ndarray, num_features: int) -> np.ndarray:
    """(batch, width) float32 of sorted ``features``: ``1 + log tf`` on each feature's first
    occurrence (tf: its run's length), 0 elsewhere and on padding."""
    starts = np.ones(features.shape, dtype=bool)
    np.not_equal(features[:, 1:], features[:, :-1], out=starts[:, 1:])
    first = np.flatnonzero(starts)  # (each row starts a run: its first column is always True)
    run = np.diff(first, append=features.size)
    weights = np.zeros(features.size, dtype=np.float32)
    weights[first] = np.where(features.ravel()[first] < num_features,
                              1.0 + np.log(run.astype(np.float32)), np.float32(0))
    return weights.reshape(features.shape)


def graph_feeds(inputs: dict[str, Any] | None, ids: np.ndarray, lengths: np.ndarray) -> dict[str, np.ndarray]:
    """The feeds of an exported graph for a padded batch: ``inputs`` is what the export recorded
    (textclf.json's ``export.inputs``; None: the graph takes ``ids`` and ``lengths``)."""
    if inputs is None:
        return {"ids": ids, "lengths": lengths}
    if inputs.get("form") not in FORMS:  # (the runner refuses such an export when it opens it)
        raise ValueError(f"an export's graph takes {inputs.get('form')!r}, which this textclf cannot make")
    features = word_features(ids, lengths, inputs["vocab_size"], inputs["buckets"], inputs["ngrams"])
    num_features = inputs["vocab_size"] + (inputs["buckets"] if inputs["ngrams"] > 1 else 0)
    return {"features": features, "weights": first_weights(features, num_features)}
