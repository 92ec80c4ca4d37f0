"""Token ids of a whole split, stored flat (one int32 array plus offsets) to stay compact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from itertools import chain

import numpy as np
import pandas as pd

from textclf.text.vocabulary import UNK_ID, Vocabulary

__all__ = ["EncodedSplit", "encode_texts"]


@dataclass
class EncodedSplit:
    ids: np.ndarray  # (total_tokens,) int32: every document's ids, truncated, back to back
    offsets: np.ndarray  # (n + 1,) int64: document i is ids[offsets[i]:offsets[i + 1]]
    labels: np.ndarray  # (n,) int64
    full_lengths: np.ndarray  # (n,) int64: token count before truncation
    unk_counts: np.ndarray  # (n,) int64: tokens outside the vocabulary, before truncation

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def document(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.{k}": getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> "EncodedSplit":
        return cls(**{k: arrays[f"{prefix}.{k}"] for k in cls.__dataclass_fields__})


def encode_texts(
    texts: list[str],
    labels: np.ndarray,
    tokenize: Callable[[str], list[str]],
    vocab: Vocabulary,
    max_seq_len: int,
    tokens: list[list[str]] | None = None,
) -> EncodedSplit:
    """Tokenize (unless ``tokens`` are given), map to ids and truncate to ``max_seq_len``.

    An empty document becomes a single ``<unk>``, so that every model sees at least one step.
    """
    if tokens is None:
        tokens = [tokenize(t) for t in texts]
    n = len(tokens)
    full = np.fromiter(map(len, tokens), dtype=np.int64, count=n)
    # Map every distinct token once (pandas' C hash table), not every occurrence in Python.
    codes, uniques = pd.factorize(pd.Series(list(chain.from_iterable(tokens)), dtype=object))
    get = vocab.stoi_.get
    to_id = np.fromiter((get(u, UNK_ID) for u in uniques), dtype=np.int32, count=len(uniques))
    all_ids = to_id[codes] if len(codes) else np.zeros(0, dtype=np.int32)
    doc_of = np.repeat(np.arange(n), full)
    unk = np.bincount(doc_of[all_ids == UNK_ID], minlength=n).astype(np.int64)
    # Truncate each document to max_seq_len; an empty one becomes a single <unk>.
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(full, out=starts[1:])
    position = np.arange(len(all_ids)) - starts[:-1][doc_of]
    kept = all_ids[position < max_seq_len]
    lengths = np.minimum(full, max_seq_len)
    empty = np.flatnonzero(full == 0)
    if len(empty):
        kept_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        kept = np.insert(kept, kept_starts[empty], UNK_ID).astype(np.int32)
        lengths[empty] = 1
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = kept.astype(np.int32, copy=False)
    return EncodedSplit(flat, offsets, np.asarray(labels, dtype=np.int64), full, unk)
