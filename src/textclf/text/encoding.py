"""Token ids of a whole split, stored flat (one int32 array plus offsets) to stay compact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from textclf.task import label_array
from textclf.text.token_table import TokenTable, token_table
from textclf.text.vocabulary import PAD_ID, UNK_ID, Vocabulary

if TYPE_CHECKING:
    from textclf.text.unknown_subwords import UnknownWords

__all__ = ["EncodedSplit", "encode_texts", "table_ids", "assemble", "concatenate", "subset"]


# A batch at least this wide is padded a row at a time, one slice copy a row (about a microsecond
# each); narrower ones by index arrays of the batch's size (a few nanoseconds a padded position),
# which cost less for short texts and more for long posts (in a scratch timing: 64 posts of up to
# 512 tokens, 112 µs a row at a time against 249 µs; 64 texts of up to 32 tokens, 64 µs against 33).
LONG_ROWS = 256


@dataclass
class EncodedSplit:
    # (total_tokens,) int32: every document's ids, truncated, back to back (with a pipeline's
    # subwords, each document's ids then end in its unknown words' n-grams: text/unknown_subwords.py)
    ids: np.ndarray
    offsets: np.ndarray  # (n + 1,) int64: document i is ids[offsets[i]:offsets[i + 1]]
    labels: np.ndarray  # (n,) int64, or (n, num_classes) uint8 for a multilabel task
    full_lengths: np.ndarray  # (n,) int64: token count before truncation
    unk_counts: np.ndarray  # (n,) int64: tokens outside the vocabulary, before truncation
    weights: np.ndarray | None = None  # (n,) float32 sample weights, when the data has them

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def document(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    def padded(self, indices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Documents ``indices`` as one batch, in that order: (batch, longest) int64 ids
        right-padded with ``<pad>``, (batch,) int64 lengths and the labels; gathered from the flat
        ids in a few array operations rather than a Python step per document."""
        indices = np.asarray(indices, dtype=np.int64)
        starts = self.offsets[indices]
        lengths = self.offsets[indices + 1] - starts
        width = int(lengths.max()) if len(indices) else 0
        ids = np.full((len(indices), width), PAD_ID, dtype=np.int64)
        if width >= LONG_ROWS:  # one slice copy a row: index arrays the batch's size cost more
            for row, (start, length) in enumerate(zip(starts.tolist(), lengths.tolist())):
                ids[row, :length] = self.ids[start: start + length]
        else:
            columns = np.arange(width, dtype=np.int64)
            inside = columns[None, :] < lengths[:, None]
            ids[inside] = self.ids[(starts[:, None] + columns[None, :])[inside]]
        return ids, lengths.astype(np.int64), np.asarray(self.labels[indices])

    def by_length(self, batch_size: int, max_tokens: int | None = None):
        """Batches in order of length (little padding); yields (indices, ``padded(indices)``).
        With ``max_tokens``, a batch also holds at most that many padded positions (documents ×
        its longest), at least one document: long documents go in smaller batches."""
        lengths = self.lengths
        order = np.argsort(lengths, kind="stable")
        start = 0
        while start < len(order):
            size = batch_size
            if max_tokens is not None:  # the batch's longest document is its last (sorted)
                longest = int(lengths[order[min(start + size, len(order)) - 1]])
                while size > 1 and size * longest > max_tokens:
                    size = max(1, max_tokens // max(longest, 1))
                    longest = int(lengths[order[min(start + size, len(order)) - 1]])
            indices = order[start : start + size]
            start += size
            yield indices, self.padded(indices)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.{k}": getattr(self, k) for k in self.__dataclass_fields__ if getattr(self, k) is not None}

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> "EncodedSplit":
        return cls(**{k: arrays[f"{prefix}.{k}"] for k in cls.__dataclass_fields__ if f"{prefix}.{k}" in arrays})


def concatenate(splits: list[EncodedSplit]) -> EncodedSplit:
    """The documents of ``splits`` as one split, in order (sample weights: all or none)."""
    weighted = [s.weights is not None for s in splits]
    if any(weighted) and not all(weighted):
        raise ValueError("concatenate: either every split has sample weights or none has")
    lengths = np.concatenate([s.lengths for s in splits])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return EncodedSplit(
        ids=np.concatenate([s.ids for s in splits]),
        offsets=offsets,
        labels=np.concatenate([s.labels for s in splits]),
        full_lengths=np.concatenate([s.full_lengths for s in splits]),
        unk_counts=np.concatenate([s.unk_counts for s in splits]),
        weights=np.concatenate([s.weights for s in splits]) if all(weighted) else None,
    )


def subset(split: EncodedSplit, indices) -> EncodedSplit:
    """Documents ``indices`` of ``split`` as a split of their own, in that order."""
    indices = np.asarray(indices, dtype=np.int64)
    starts, ends = split.offsets[indices], split.offsets[indices + 1]
    lengths = ends - starts
    offsets = np.zeros(len(indices) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # every kept position: each document's start, then one step at a time up to its end
    positions = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
    return EncodedSplit(
        ids=split.ids[positions],
        offsets=offsets,
        labels=split.labels[indices],
        full_lengths=split.full_lengths[indices],
        unk_counts=split.unk_counts[indices],
        weights=None if split.weights is None else split.weights[indices],
    )


def encode_texts(
    texts: list[str],
    labels: np.ndarray,
    tokenize: Callable[[str], list[str]],
    vocab: Vocabulary,
    max_seq_len: int,
) -> EncodedSplit:
    """Tokenize, map to ids and truncate to ``max_seq_len``.

    An empty document becomes a single ``<unk>``, so that every model sees at least one step.
    """
    table = token_table(texts, tokenize)
    return assemble(table_ids(table, vocab), table.lengths, labels, max_seq_len)


def table_ids(table: TokenTable, vocab: Vocabulary, to_id: np.ndarray | None = None) -> np.ndarray:
    """The vocabulary id of every token occurrence of ``table`` (unknown tokens: ``<unk>``);
    ``to_id``: the ids of ``table.tokens``, where the caller has them already."""
    to_id = vocab.ids(table.tokens) if to_id is None else to_id
    return to_id[table.codes] if len(table.codes) else np.zeros(0, dtype=np.int32)


def assemble(all_ids: np.ndarray, full: np.ndarray, labels: np.ndarray, max_seq_len: int,
             unknown: "UnknownWords | None" = None) -> EncodedSplit:
    """Documents back to back in ``all_ids`` (``full[i]`` ids each) → a truncated EncodedSplit.
    ``unknown``: its unknown words' character n-grams are appended to each document's words, as
    they are after truncation (``text/unknown_subwords.py``)."""
    n = len(full)
    full = np.asarray(full, dtype=np.int64)
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(full, out=starts[1:])
    # Temporaries stay one byte per token (they are the peak of preprocessing a large corpus).
    unknown_at = np.flatnonzero(all_ids == UNK_ID)
    unk = np.bincount(np.searchsorted(starts, unknown_at, side="right") - 1, minlength=n).astype(np.int64)
    del unknown_at
    long = np.flatnonzero(full > max_seq_len)
    if len(long):  # drop each long document's tail: mark [start + max_seq_len, end)
        cut = np.zeros(len(all_ids) + 1, dtype=np.int8)
        cut[starts[long] + max_seq_len] = 1  # the marked spans never overlap: the running sum is 0 or 1
        cut[starts[long + 1]] -= 1
        inside = np.cumsum(cut[:-1], dtype=np.int8) == 0
        del cut
        kept = all_ids[inside]
        kept_index = None if unknown is None else unknown.index[inside]
        del inside
    else:
        kept = all_ids
        kept_index = None if unknown is None else unknown.index
    lengths = np.minimum(full, max_seq_len)
    empty = np.flatnonzero(full == 0)
    if len(empty):  # an empty document becomes a single <unk>
        kept_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        kept = np.insert(kept, kept_starts[empty], UNK_ID)
        if kept_index is not None:  # (not a word of the text: no n-grams)
            kept_index = np.insert(kept_index, kept_starts[empty], -1)
        lengths[empty] = 1
    flat = kept.astype(np.int32, copy=False)
    if unknown is not None:
        flat, lengths = unknown.append_to(flat, lengths, kept_index)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return EncodedSplit(flat, offsets, label_array(labels), full, unk)
