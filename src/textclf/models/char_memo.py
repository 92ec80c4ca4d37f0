"""Each document's character n-grams, counted once per process and kept: a memo.

A bag or linear model with character n-grams (``models/bag_of_ngrams.py``, ``char_grams``) counts
each document's distinct n-gram buckets from its word ids at every batch: its distinct words'
n-grams are expanded from the vocabulary's table and sorted (``torch.unique``) with the rest of
the batch's. On the CPU that was a fifth of a ``bag_chars`` epoch. The counts depend only on the
document's ids and on the table, so they are the same at every epoch and in every run on the
same encoded data: a default selection's held-out run and its fold runs share one vocabulary
(``training/cross_validation.py``), so a candidate's process counts each document once.

A memo is kept per n-gram table (:func:`table_key`: the table's bytes and the settings that read
it), at most :data:`TABLES` of them (the one used longest ago goes); a document's entry is keyed
by a 128-bit BLAKE2 digest of its ids (unknown words' n-gram ids included) and holds its buckets
(int32) and counts (float32), in the order ``char_grams`` gives them, so a batch put together
from the memo is the same tensors, to the bit, as one counted afresh. At most :data:`MAX_ENTRIES`
(bucket, count) pairs are kept in all the memos together, 8 bytes each (``TEXTCLF_CHAR_MEMO``, when set, is that
number instead; 0 keeps none); documents past that are counted as before and not kept. The model uses it on the CPU in eager mode only (an export traces the counting
into its graph; on a GPU the counting is cheap next to the copies a memo would need), and only
inside :func:`remembering` blocks: ``recipe.train`` is one, and so is a default selection's
training of one candidate with its fold runs. When the outermost block ends, every memo is
dropped, so a process that only predicts (a server) never keeps one, and one that has trained
keeps none afterwards.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import Callable

import numpy as np
import torch

from textclf.errors import ConfigError

__all__ = ["MAX_ENTRIES", "TABLES", "table_key", "memo_for", "remembering", "is_remembering", "entries_limit",
           "CharGramMemo"]

# About 200 MB of pairs at most (a 20 Newsgroups post has ~1,500 distinct n-grams: ~16,000 posts).
MAX_ENTRIES = 25_000_000
TABLES = 2

Counter = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def table_key(offsets: torch.Tensor, rows: torch.Tensor, *settings) -> bytes:
    """A digest of a vocabulary's n-gram table (``models/subwords.py``) and the ``settings`` that
    change what a document's ids count to (buckets, vocabulary size, unknown words' n-grams)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr(settings).encode())
    digest.update(offsets.numpy().tobytes())
    digest.update(rows.numpy().tobytes())
    return digest.digest()


class CharGramMemo:
    """The documents' (buckets, counts) of one n-gram table."""

    def __init__(self) -> None:
        self.documents: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        self.entries = 0

    def grams(self, ids: torch.Tensor, lengths: torch.Tensor, count: Counter):
        """``count(ids, lengths)``'s (document index, bucket, count) for the batch, from the memo
        where it has the document; ``count`` counts the others (as one smaller batch)."""
        global _kept
        array, sizes = ids.numpy(), lengths.tolist()
        keys = [hashlib.blake2b(array[i, :n].tobytes(), digest_size=16).digest() for i, n in enumerate(sizes)]
        found = [self.documents.get(key) for key in keys]
        missing = [i for i, entry in enumerate(found) if entry is None]
        if missing:
            which = torch.as_tensor(missing)
            doc, bucket, tf = count(ids[which], lengths[which])
            ends = np.cumsum(torch.bincount(doc, minlength=len(missing)).numpy())[:-1]
            counted = zip(np.split(bucket.numpy().astype(np.int32), ends), np.split(tf.numpy(), ends))
            with _memos_lock:  # (a search's trials may train in threads of one process)
                for i, entry in zip(missing, counted):
                    found[i] = entry
                    if _kept + len(entry[0]) <= _limit and keys[i] not in self.documents:
                        self.documents[keys[i]] = entry
                        self.entries += len(entry[0])
                        _kept += len(entry[0])  # (all memos together: the limit is theirs)
        per_doc = np.array([len(entry[0]) for entry in found])
        return (torch.from_numpy(np.repeat(np.arange(len(found)), per_doc)),
                torch.from_numpy(np.concatenate([entry[0] for entry in found]).astype(np.int64)),
                torch.from_numpy(np.concatenate([entry[1] for entry in found])))


_memos: OrderedDict[bytes, CharGramMemo] = OrderedDict()
_memos_lock = threading.Lock()
_depth = 0  # remembering blocks open (a search's trials may train in threads of one process)
_limit = MAX_ENTRIES  # (the outermost block's: MAX_ENTRIES or TEXTCLF_CHAR_MEMO)
_kept = 0  # pairs in all the memos


def entries_limit() -> int:
    """How many (bucket, count) pairs the memos may keep: ``TEXTCLF_CHAR_MEMO`` when set, else
    :data:`MAX_ENTRIES`."""
    value = os.environ.get("TEXTCLF_CHAR_MEMO", "").strip()
    if not value:
        return MAX_ENTRIES
    if not value.isdigit():
        raise ConfigError(f"TEXTCLF_CHAR_MEMO={value!r}: give how many (bucket, count) pairs of character n-grams "
                          "to keep while training (8 bytes each, e.g. 25000000), or 0 to keep none")
    return int(value)


@contextmanager
def remembering():
    """A block (or, as a decorator, a function) in which documents' n-grams are kept; when the
    outermost one ends, every memo is dropped."""
    global _depth, _limit, _kept
    with _memos_lock:
        if _depth == 0:
            _limit = entries_limit()
        _depth += 1
    try:
        yield
    finally:
        with _memos_lock:
            _depth -= 1
            if _depth == 0:
                _memos.clear()
                _kept = 0


def is_remembering() -> bool:
    return _depth > 0


def memo_for(key: bytes) -> CharGramMemo:
    """The memo of the table ``key`` (``table_key``), made when new; the least recently used one
    is dropped past :data:`TABLES`."""
    global _kept
    with _memos_lock:
        memo = _memos.pop(key, None) or CharGramMemo()
        _memos[key] = memo
        while len(_memos) > TABLES:
            _kept -= _memos.popitem(last=False)[1].entries
        return memo
