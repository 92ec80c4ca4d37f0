"""Token ids of a whole split, stored flat (one int32 array plus offsets) to stay compact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

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
    get = vocab.stoi_.get
    pieces, lengths = [], np.empty(len(tokens), dtype=np.int64)
    full = np.empty(len(tokens), dtype=np.int64)
    unk = np.empty(len(tokens), dtype=np.int64)
    for i, doc in enumerate(tokens):
        ids = np.fromiter((get(t, UNK_ID) for t in doc), dtype=np.int32, count=len(doc))
        full[i] = len(ids)
        unk[i] = int((ids == UNK_ID).sum())
        ids = ids[:max_seq_len] if len(ids) else np.array([UNK_ID], dtype=np.int32)
        pieces.append(ids)
        lengths[i] = len(ids)
    offsets = np.zeros(len(tokens) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
    return EncodedSplit(flat, offsets, np.asarray(labels, dtype=np.int64), full, unk)
