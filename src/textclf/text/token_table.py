"""Texts → one table of distinct tokens and, for every token occurrence, its row in that table.

This is the fast core of preprocessing. Each distinct token string is hashed once (pandas'
C hash table) instead of looking up every occurrence in a Python dict, so building the vocabulary
is a ``bincount`` and encoding is an array lookup. Large inputs are tokenized by two or more
processes (forked, on Linux: ``textclf/forked.py``), each on a contiguous share of the documents;
their tables are merged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import chain
from typing import Callable

import numpy as np

from textclf.forked import can_fork, fork_map

__all__ = ["TokenTable", "token_table", "merge_tables"]

PARALLEL_MIN_DOCS = 4000  # below this, starting processes costs more than it saves
CHUNK_DOCS = 50_000  # documents tokenized at once by one process


@dataclass
class TokenTable:
    codes: np.ndarray  # (total_tokens,) int: row of ``tokens`` for every occurrence, in order
    tokens: list[str]  # the distinct tokens
    lengths: np.ndarray  # (n_docs,) int64: tokens per document


def _table(texts: list[str], tokenize: Callable[[str], list[str]]) -> TokenTable:
    docs = [tokenize(t) for t in texts]
    lengths = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
    flat = np.array(list(chain.from_iterable(docs)), dtype=object)
    if len(flat) == 0:
        return TokenTable(np.zeros(0, dtype=np.int64), [], lengths)
    import pandas as pd  # imported here: inference encodes without it

    codes, uniques = pd.factorize(flat)
    return TokenTable(codes.astype(np.int32), list(uniques), lengths)  # int32: half to pickle


def merge_tables(parts: list[TokenTable]) -> TokenTable:
    """The parts as one table: their documents in order, one row for each distinct token of
    any part. Each entry of ``parts`` is set to None once its codes are copied (they exist once,
    not twice)."""
    all_tokens = np.array(list(chain.from_iterable(p.tokens for p in parts)), dtype=object)
    if len(all_tokens) == 0:
        return TokenTable(np.zeros(0, dtype=np.int64), [], np.concatenate([p.lengths for p in parts]))
    import pandas as pd

    merged, uniques = pd.factorize(all_tokens)
    del all_tokens
    # Fill one preallocated array, dropping each part's codes once copied: the codes of the whole
    # corpus exist about once, not three times (parts, remapped parts, their concatenation).
    codes = np.empty(sum(len(p.codes) for p in parts), dtype=np.int32)
    start = at = 0
    lengths = np.concatenate([p.lengths for p in parts])
    for i, p in enumerate(parts):
        remap = merged[start : start + len(p.tokens)].astype(np.int32)
        codes[at : at + len(p.codes)] = remap[p.codes]
        start, at = start + len(p.tokens), at + len(p.codes)
        parts[i] = None  # the caller's list: its parts are not needed again
    return TokenTable(codes, list(uniques), lengths)


def token_table(texts: list[str], tokenize: Callable[[str], list[str]], workers: int | None = None,
                chunk_docs: int = CHUNK_DOCS, consume: bool = False) -> TokenTable:
    """``workers``: processes to use (default: the CPU count, for inputs of at least
    ``PARALLEL_MIN_DOCS`` documents on Linux; 1 elsewhere). Documents are tokenized in chunks of
    at most ``chunk_docs``, so the Python token strings of only a few chunks are alive at once
    (what stays is each chunk's int32 codes and distinct tokens): memory grows with the corpus's
    token count in bytes, not in Python objects. ``consume``: empty ``texts`` as soon as it is
    not needed (once the workers have their forked copy, or chunk by chunk in one process), so
    the texts' memory is freed during tokenizing."""
    if workers is None:
        big = len(texts) >= PARALLEL_MIN_DOCS and can_fork()
        workers = min(os.cpu_count() or 1, 8) if big else 1
    workers = max(1, min(workers, len(texts)))
    pieces = max(workers, -(-len(texts) // chunk_docs))
    cuts = np.linspace(0, len(texts), pieces + 1).astype(int)
    shares = list(zip(cuts[:-1], cuts[1:]))
    if len(shares) == 1:
        table = _table(texts, tokenize)
        if consume:
            texts.clear()
        return table

    def part(bounds: tuple[int, int]) -> TokenTable:
        return _table(texts[bounds[0]: bounds[1]], tokenize)

    if workers == 1:
        parts = []
        for a, b in shares:
            parts.append(part((a, b)))
            if consume:
                texts[a:b] = [""] * (b - a)  # this chunk's strings are freed
    else:  # (the workers read their forked copy of texts: the caller's may go once they exist)
        parts = fork_map(part, shares, workers, forked=texts.clear if consume else None)
    if consume:
        texts.clear()
    return merge_tables(parts)
