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

from typing import Sequence

import torch

from textclf.graph_inputs import char_ngrams
from textclf.graph_inputs import subword_table as numpy_subword_table

__all__ = ["char_ngrams", "owners", "subword_bags", "subword_table"]


def subword_table(tokens: Sequence[str], minn: int, maxn: int, buckets: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``offsets`` (vocab_size + 1,) and ``rows`` (all n-grams,) int64: the hashed rows of word
    ``i``'s n-grams are ``rows[offsets[i]:offsets[i + 1]]`` (``graph_inputs.subword_table``, the
    numpy side of an export's feeds, as tensors)."""
    offsets, rows = numpy_subword_table(tokens, minn, maxn, buckets)
    return torch.from_numpy(offsets), torch.from_numpy(rows)


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
