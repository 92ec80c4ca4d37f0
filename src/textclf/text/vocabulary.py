"""The vocabulary: tokens ↔ ids, learned from the training split only.

Id 0 is ``<pad>`` and id 1 is ``<unk>``; then tokens by decreasing frequency (ties broken
alphabetically, so the result does not depend on document order), keeping those seen at least
``min_freq`` times, up to ``max_size`` entries in all (the two specials included).
"""

from __future__ import annotations

from collections import Counter
from itertools import repeat
from typing import Iterable, Sequence

import numpy as np

__all__ = ["Vocabulary", "PAD", "UNK", "PAD_ID", "UNK_ID", "word_strings"]

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1


def word_strings(itos: Sequence[str]) -> tuple[str, ...]:
    """The vocabulary's words in id order, the special tokens as empty strings (what a model's
    ``BuildContext.tokens`` holds: models never see the specials' spellings)."""
    return tuple("" if token in (PAD, UNK) else token for token in itos)


class Vocabulary:
    def __init__(self, min_freq: int = 2, max_size: int = 50000):
        self.min_freq = min_freq
        self.max_size = max_size

    def fit(self, documents: Iterable[list[str]]) -> "Vocabulary":
        counts: Counter[str] = Counter()
        for tokens in documents:
            counts.update(tokens)
        return self.fit_counts(list(counts), list(counts.values()))

    def fit_counts(self, tokens: Sequence[str], counts: Sequence[int]) -> "Vocabulary":
        """The same rule from distinct tokens and their training counts."""
        counts = np.asarray(counts, dtype=np.int64)
        frequent = np.flatnonzero(counts >= self.min_freq)
        kept = sorted(zip((-counts[frequent]).tolist(), [tokens[i] for i in frequent]))
        kept = [t for _, t in kept if t not in (PAD, UNK)]
        self.itos_ = [PAD, UNK] + kept[: self.max_size - 2]
        self.stoi_ = {t: i for i, t in enumerate(self.itos_)}
        return self

    @classmethod
    def from_itos(cls, itos: list[str], min_freq: int = 2, max_size: int = 50000) -> "Vocabulary":
        vocab = cls(min_freq, max_size)
        if itos[:2] != [PAD, UNK]:
            raise ValueError("a vocabulary must start with <pad>, <unk>")
        vocab.itos_ = list(itos)
        vocab.stoi_ = {t: i for i, t in enumerate(itos)}
        return vocab

    def __len__(self) -> int:
        return len(self.itos_)

    def ids(self, tokens: Sequence[str]) -> np.ndarray:
        """(len(tokens),) int32 ids, ``<unk>`` for unknown tokens (map() with a repeated default
        runs the lookups in C, without a Python-level generator)."""
        return np.array(list(map(self.stoi_.get, tokens, repeat(UNK_ID, len(tokens)))), dtype=np.int32)

    def encode(self, tokens: list[str]) -> list[int]:
        get = self.stoi_.get
        return [get(t, UNK_ID) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens of ``ids``; an id past the vocabulary (an unknown word's character n-gram,
        after a document's words: ``text/unknown_subwords.py``) is not a token and is left out."""
        size = len(self.itos_)
        return [self.itos_[i] for i in ids if i < size]
