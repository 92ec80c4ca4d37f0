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

__all__ = ["char_ngrams", "owners", "subword_bags", "subword_table"]


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
    """For the words ``ids`` (1-D): the flat rows of all their n-grams, word after word, and for
    each entry of that list the position in ``ids`` of the word it belongs to."""
    starts = offsets[ids]
    counts = offsets[ids + 1] - starts
    word, position = owners(counts)
    # Entry k belongs to word w = word[k]; its row is rows[starts[w] + k - (w's first entry)].
    first = torch.cumsum(counts, 0) - counts
    flat = rows[starts[word] + position - first[word]]
    return flat, word


def owners(counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For ``counts`` (n,) >= 0: the index i of each of the ``counts.sum()`` entries when entry
    i is repeated ``counts[i]`` times (``torch.repeat_interleave(torch.arange(n), counts)``), and
    the entries' positions ``0..counts.sum() - 1``.

    Written as a scatter and a cumulative sum, which export to ONNX as one node each:
    ``repeat_interleave`` with a tensor of counts exports as a Loop over the entries, which made
    onnxruntime 80 times slower than PyTorch on the character n-grams of short texts."""
    ends = torch.cumsum(counts, 0)  # entry k belongs to the number of words that end at or before k
    positions = torch.arange(counts.sum() + 1, device=counts.device)  # (no Python int: shapes stay dynamic in a trace)
    marks = torch.zeros_like(positions).scatter_add(0, ends, torch.ones_like(ends))
    return torch.cumsum(marks, 0)[:-1], positions[:-1]
