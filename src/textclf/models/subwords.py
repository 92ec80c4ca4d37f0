"""Character n-grams of the vocabulary's words (fastText's subwords, ``-minn``/``-maxn``).

A word is wrapped in ``<`` and ``>`` and cut into every character n-gram of length ``minn`` to
``maxn`` (scikit-learn's ``char_wb`` analyzer pads words with spaces the same way). Each n-gram
is hashed into one of ``buckets`` rows (CRC-32 of its UTF-8 bytes, stable across processes and
platforms), so words that share a stem, an affix or a misspelling share features.

:func:`subword_table` gives every vocabulary id its n-grams' rows in CSR form (``offsets``,
``rows``); special tokens (padding, unknown: empty strings) have none. A model rebuilds it from the vocabulary's
strings whenever it is built, so checkpoints do not store it.
"""

from __future__ import annotations

import zlib
from array import array
from typing import Sequence

import numpy as np
import torch

__all__ = ["char_ngrams", "subword_bags", "subword_table"]


def char_ngrams(word: str, minn: int, maxn: int) -> list[str]:
    """The character n-grams of ``<word>`` of length ``minn``..``maxn``, as fastText cuts them (the
    lone markers ``<`` and ``>`` are not n-grams)."""
    wrapped = f"<{word}>"
    grams = [wrapped[start : start + n] for n in range(minn, maxn + 1) for start in range(len(wrapped) - n + 1)]
    return [g for g in grams if g not in ("<", ">")]


def subword_table(tokens: Sequence[str], minn: int, maxn: int, buckets: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``offsets`` (vocab_size + 1,) and ``rows`` (all n-grams,) int64: the hashed rows of word
    ``i``'s n-grams are ``rows[offsets[i]:offsets[i + 1]]``."""
    counts = np.zeros(len(tokens), dtype=np.int64)
    rows = array("q")  # 8 bytes a row (a list of Python ints would take 4 times as much)
    for i, token in enumerate(tokens):
        if not token:  # a special token (padding, unknown)
            continue
        grams = char_ngrams(token, minn, maxn)
        counts[i] = len(grams)
        rows.extend(zlib.crc32(g.encode("utf-8")) % buckets for g in grams)
    offsets = np.zeros(len(tokens) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return torch.from_numpy(offsets), torch.from_numpy(np.frombuffer(rows, dtype=np.int64).copy())


def subword_bags(offsets: torch.Tensor, rows: torch.Tensor, ids: torch.Tensor):
    """For the words ``ids`` (1-D): the flat rows of their n-grams, each word's start in that list
    (``embedding_bag``'s ``offsets``) and each word's n-gram count."""
    starts = offsets[ids]
    counts = offsets[ids + 1] - starts
    bag_offsets = torch.cumsum(counts, 0) - counts
    # Entry k of the flat list belongs to word w; its row is rows[starts[w] + k - bag_offsets[w]].
    # (No Python int of the total: an ONNX trace keeps these shapes dynamic.)
    within = torch.arange(counts.sum(), device=ids.device) - torch.repeat_interleave(bag_offsets, counts)
    flat = rows[torch.repeat_interleave(starts, counts) + within]
    return flat, bag_offsets, counts
