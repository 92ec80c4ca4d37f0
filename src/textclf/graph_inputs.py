"""What an exported graph is fed: the padded ids, or a TF-IDF bag's word features made in numpy.

Most exports take a batch's padded token ids and their lengths. A bag of n-grams with TF-IDF and
no character n-grams (``bag_of_ngrams``, ``linear``: the default on long texts) takes its word
features instead, made here:

- ``features`` (batch, width) int64: each document's distinct word ids and word n-grams' hashed
  buckets (after the vocabulary), sorted, padded with ``num_features`` (the graph's zero row);
- ``weights`` (batch, width) float32: ``1 + log tf`` of each (tf: how often it occurs), 0 on
  padding.

The graph is then a Gather of the table rows and one batched MatMul. Counting the term
frequencies needs a sort, which ONNX has only as TopK, and onnxruntime's TopK ran 12-14 times
slower than ``np.sort`` on rows shaped like these (RESULTS.md "sort-speed"): it was 30 % of the
linear model's node time, the hash's Mod another 9 % (RESULTS.md "onnx-profile"). The torch
model keeps its own hash (``models/bag_of_ngrams.hashed_ngrams``, on any device); both use
:data:`MIX`, and tests/models/test_models.py checks that they give the same buckets.

With character n-grams (``minn``/``maxn``) the graph is fed them too, made alike:

- ``char_rows`` (batch, width) int64: each document's distinct character n-gram buckets (of its
  words' n-grams, fastText's subwords: :func:`subword_table`), padded with ``char_buckets``;
- ``char_weights`` (batch, width) float32: ``1 + log tf`` of each, 0 on padding.

With ``unknown_chars`` the ids of a document end in its unknown words' n-gram buckets (from
``vocab_size`` on: ``text/unknown_subwords.py``): they count among its character n-grams, and
its word features are those of the ids before them (``chars.unknown`` in the inputs).

Their counting sorts the whole batch's (document, bucket) pairs, which onnxruntime did with TopK
too. The table of each vocabulary word's n-gram buckets (:func:`subword_table`) is built from
the vocabulary's strings whenever a model is built; an export stores it beside its graph
(``subwords.npz``) and its runner reads it back, so a Predictor of exports builds nothing.

This module imports numpy only: a Predictor of exports runs without torch.
"""

from __future__ import annotations

import zlib
from array import array
from typing import Any, Sequence

import numpy as np

__all__ = ["MIX", "FORMS", "SUBWORDS_FILE", "hashed_ngrams", "word_features", "feature_runs", "distinct_features",
           "char_ngrams", "subword_table", "char_features", "char_runs", "table_rows", "word_lengths", "ranks",
           "write_subwords", "read_subwords", "graph_feeds"]

SUBWORDS_FILE = "subwords.npz"  # beside an export's graph: its words' character n-gram buckets

FORMS = ("word_features",)  # the feeds this version makes besides the ids (export.inputs' "form")

MIX = 0x9E3779B97F4A7C15 - (1 << 64)  # a 64-bit odd constant (golden ratio), as a signed int64
_SHIFT_BITS = 20  # the hash keeps the product's bits above these


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
    # The high bits: an arithmetic shift floors as the torch model's exact division does (a
    # third of the time of numpy's int64 remainder and division).
    key >>= _SHIFT_BITS
    np.remainder(key, buckets, out=key)
    valid = np.arange(width)[None, :] < (lengths - n + 1)[:, None]
    return key, valid


def word_features(ids: np.ndarray, lengths: np.ndarray, vocab_size: int, buckets: int, ngrams: int) -> np.ndarray:
    """(batch, width) int64: each document's word ids and n-gram buckets (+ ``vocab_size``),
    sorted, padded with ``num_features``; width is the most features of one document (at least 1)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    num_features = vocab_size + (buckets if ngrams > 1 else 0)
    length = ids.shape[1]
    # The word ids, then each n-gram length's buckets, side by side in one array (padding:
    # num_features), sorted in place.
    features = np.empty((ids.shape[0], sum(max(length - n + 1, 0) for n in range(1, ngrams + 1))), dtype=np.int64)
    words = features[:, :length]
    np.copyto(words, ids, casting="unsafe")
    words[np.arange(length)[None, :] >= lengths[:, None]] = num_features
    at = length
    for n in range(2, ngrams + 1):
        bucket, valid = hashed_ngrams(ids, lengths, n, vocab_size, buckets)
        bucket += vocab_size
        bucket[~valid] = num_features
        features[:, at: at + bucket.shape[1]] = bucket
        at += bucket.shape[1]
    features.sort(axis=1)
    counts = np.clip(lengths, 0, None) + sum(np.clip(lengths - n + 1, 0, None) for n in range(2, ngrams + 1))
    width = max(1, int(counts.max(initial=0)))
    return np.ascontiguousarray(features[:, :width])


def feature_runs(features: np.ndarray, num_features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct features of each row of sorted ``features`` (padding, ``num_features``, last),
    flat and row by row: (row, feature, tf) int64 arrays (tf: how often it occurs in the row)."""
    width = features.shape[1]
    starts = np.ones(features.shape, dtype=bool)
    np.not_equal(features[:, 1:], features[:, :-1], out=starts[:, 1:])
    flat = features.ravel()
    first = np.flatnonzero(starts)  # (each row starts a run: its first column is always True)
    run = np.diff(first, append=features.size)
    real = flat[first] < num_features  # (a row's padding is one run, its last)
    first, run = first[real], run[real]
    return first // width, flat[first], run


def distinct_features(features: np.ndarray, num_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row of sorted ``features`` (padding, ``num_features``, last) once a distinct feature:
    (batch, width) int64 features, padded with ``num_features``, and (batch, width) float32 ``1 +
    log tf`` of each (tf: its run's length), 0 on padding; width is the most distinct features of
    a row (at least 1).

    The graph gathers a table row for every column it is fed; with the repeats kept (weight 0)
    a quarter of 20 Newsgroups' gathered rows were repeats, and the linear model's session took
    0.27-0.30 s for its test posts ×3 against 0.20-0.21 s fed each feature once, for 0.01-0.05 s
    more here (a scratch timing, batches of 64 posts)."""
    row, feature, tf = feature_runs(features, num_features)
    return _padded_rows(features.shape[0], row, feature, tf, num_features)


def _padded_rows(batch: int, row: np.ndarray, feature: np.ndarray, tf: np.ndarray,
                 padding: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of (feature, ``1 + log tf``) given flat and row by row, laid out a row a document and
    padded with ``padding`` (weight 0) to the longest (at least 1 column)."""
    per_row = np.bincount(row, minlength=batch)
    width = max(1, int(per_row.max(initial=0)))
    inside = np.arange(width)[None, :] < per_row[:, None]  # (row-major: the flat order)
    features = np.full((batch, width), padding, dtype=np.int64)
    weights = np.zeros((batch, width), dtype=np.float32)
    features[inside] = feature
    weights[inside] = 1.0 + np.log(tf.astype(np.float32))
    return features, weights


def char_ngrams(word: str, minn: int, maxn: int) -> list[str]:
    """The character n-grams of ``<word>`` of length ``minn``..``maxn``, as fastText cuts them (the
    lone markers ``<`` and ``>`` are not n-grams)."""
    wrapped = f"<{word}>"
    grams = [wrapped[start: start + n] for n in range(minn, maxn + 1) for start in range(len(wrapped) - n + 1)]
    return [g for g in grams if g not in ("<", ">")]


def subword_table(tokens: Sequence[str], minn: int, maxn: int, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """``offsets`` (vocab_size + 1,) and ``rows`` (all n-grams,) int64: the buckets of word ``i``'s
    n-grams (CRC-32 of their UTF-8 bytes, modulo ``buckets``) are ``rows[offsets[i]:offsets[i + 1]]``,
    in :func:`char_ngrams`' order; special tokens (empty strings) have none.

    The ASCII words (most of a vocabulary) are cut and hashed as arrays (:func:`_ascii_grams`);
    the others a word at a time with ``zlib.crc32``, which gives the same buckets."""
    ascii_words = np.fromiter((bool(t) and t.isascii() for t in tokens), dtype=bool, count=len(tokens))
    counts = np.zeros(len(tokens), dtype=np.int64)
    fast_counts, fast_rows = _ascii_grams([t for t, a in zip(tokens, ascii_words) if a], minn, maxn, buckets)
    counts[ascii_words] = fast_counts
    slow_rows = array("q")  # 8 bytes a row (a list of Python ints would take 4 times as much)
    for i in np.flatnonzero(~ascii_words):
        token = tokens[i]
        if not token:  # a special token (padding, unknown)
            continue
        grams = char_ngrams(token, minn, maxn)
        counts[i] = len(grams)
        slow_rows.extend(zlib.crc32(g.encode("utf-8")) % buckets for g in grams)
    offsets = np.zeros(len(tokens) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    rows = np.empty(int(offsets[-1]), dtype=np.int64)
    from_fast = np.repeat(ascii_words, counts)
    rows[from_fast], rows[~from_fast] = fast_rows, np.frombuffer(slow_rows, dtype=np.int64)
    return offsets, rows


def _crc_table() -> np.ndarray:
    """CRC-32's (zlib's: reflected, polynomial 0xEDB88320) table of each byte's remainder."""
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1).astype(np.uint32)
    return table


def _ascii_grams(words: list[str], minn: int, maxn: int, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`subword_table` of non-empty ASCII ``words``: each word's n-gram count and all their
    buckets, word after word, each word's in :func:`char_ngrams`' order (by length, then start).
    One byte is one character, so an n-gram is n bytes of the wrapped words laid end to end, and
    CRC-32 runs over all n-grams of one length at once, a byte position at a time."""
    if not words:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    wrapped = np.frombuffer("".join(f"<{w}>" for w in words).encode("ascii"), dtype=np.uint8)
    sizes = np.fromiter((len(w) + 2 for w in words), dtype=np.int64, count=len(words))
    firsts = np.cumsum(sizes) - sizes  # where each wrapped word starts
    table = _crc_table()
    owners, buckets_of = [], []
    for n in range(minn, maxn + 1):
        per_word = np.clip(sizes - n + 1, 0, None)
        word = np.repeat(np.arange(len(words)), per_word)
        start = firsts[word] + ranks(per_word)
        if n == 1:  # a lone "<" or ">" is not an n-gram (the markers, and such a character of the word)
            keep = (wrapped[start] != ord("<")) & (wrapped[start] != ord(">"))
            word, start = word[keep], start[keep]
        crc = np.full(len(start), 0xFFFFFFFF, dtype=np.uint32)
        for k in range(n):
            crc = table[(crc ^ wrapped[start + k]) & 0xFF] ^ (crc >> 8)
        owners.append(word)
        buckets_of.append((crc ^ np.uint32(0xFFFFFFFF)).astype(np.int64) % buckets)
    word = np.concatenate(owners)
    order = np.argsort(word, kind="stable")  # each word's n-grams together, by length then start
    counts = np.bincount(word, minlength=len(words)).astype(np.int64)
    return counts, np.concatenate(buckets_of)[order]


def char_features(ids: np.ndarray, lengths: np.ndarray, vocab_size: int, char_buckets: int,
                  subwords: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``char_rows`` and ``char_weights`` (batch, width): each document's distinct character
    n-gram buckets in ascending order, padded with ``char_buckets``, and ``1 + log tf`` of each
    (tf: how often the n-gram occurs in the document's words), 0 on padding; width is the most
    n-grams of one document (at least 1). The torch model's ``char_grams``, in numpy."""
    doc, bucket, tf = char_runs(ids, lengths, vocab_size, char_buckets, subwords)
    return _padded_rows(ids.shape[0], doc, bucket, tf, char_buckets)


def char_runs(ids: np.ndarray, lengths: np.ndarray, vocab_size: int, char_buckets: int,
              subwords: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each document's distinct character n-gram buckets of the padded batch, flat and document
    by document, in ascending order: (document, bucket, tf) int64 arrays."""
    offsets, rows = subwords
    inside = np.arange(ids.shape[1])[None, :] < np.asarray(lengths)[:, None]
    is_word = ids < vocab_size
    mask = inside & is_word
    docs = np.nonzero(mask)[0].astype(np.int64)
    # Each distinct (document, word) once, with its count; then the word's n-grams.
    pairs, counts = np.unique(docs * vocab_size + ids[mask].astype(np.int64), return_counts=True)
    owner, flat = table_rows(offsets, rows, pairs % vocab_size)
    keys = (pairs // vocab_size)[owner] * char_buckets + flat
    weights = counts[owner]
    tail = inside & ~is_word  # unknown words' n-grams after the words (text/unknown_subwords.py), once each
    if tail.any():
        tail_docs = np.nonzero(tail)[0].astype(np.int64)
        keys = np.concatenate([keys, tail_docs * char_buckets + ids[tail].astype(np.int64) - vocab_size])
        weights = np.concatenate([weights, np.ones(len(tail_docs), dtype=weights.dtype)])
    # Each (document, bucket) once, with the sum of its words' counts: the count rides in the
    # key's low bits through one sort (numpy's vectorised sort: np.unique's return_inverse,
    # an argsort, took 3 times as long on 2.3M keys), and the runs of equal keys are summed.
    bits = max(1, int(weights.max(initial=0)).bit_length())
    if not len(keys) or int(keys.max()) >= 1 << (62 - bits):  # (it would not fit in 63 bits)
        keys, inverse = np.unique(keys, return_inverse=True)
        tf = np.rint(np.bincount(inverse.ravel(), weights=weights, minlength=len(keys))).astype(np.int64)
        return keys // char_buckets, keys % char_buckets, tf
    packed = (keys << bits) | weights
    packed.sort()
    keys = packed >> bits
    first = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    tf = np.add.reduceat(packed & ((1 << bits) - 1), first)
    keys = keys[first]
    return keys // char_buckets, keys % char_buckets, tf


def table_rows(offsets: np.ndarray, rows: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``items`` in a CSR table (item i's: ``rows[offsets[i]:offsets[i + 1]]``), item
    after item: (for each row, the position in ``items`` of its item; the rows)."""
    starts, sizes = offsets[items], offsets[items + 1] - offsets[items]
    owner = np.repeat(np.arange(len(items)), sizes)
    return owner, rows[starts[owner] + ranks(sizes)]


def word_lengths(inputs: dict[str, Any], ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Each document's count of word ids in a padded batch: ``lengths``, or where the model reads
    unknown words' n-grams after the words (``chars.unknown`` in an export's ``inputs``:
    ``text/unknown_subwords.py``), the ids below ``vocab_size``."""
    if not (inputs.get("chars") or {}).get("unknown"):
        return lengths
    inside = np.arange(ids.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return (inside & (ids < inputs["vocab_size"])).sum(1).astype(np.int64)


def ranks(counts: np.ndarray) -> np.ndarray:
    """For groups of ``counts`` entries laid end to end: each entry's place in its group."""
    return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)


def write_subwords(folder, subwords: tuple[np.ndarray, np.ndarray]) -> None:
    """Write an export's :data:`SUBWORDS_FILE` (what :func:`read_subwords` reads back)."""
    from pathlib import Path

    offsets, rows = subwords
    np.savez(Path(folder) / SUBWORDS_FILE, offsets=offsets, rows=rows)


def read_subwords(folder) -> tuple[np.ndarray, np.ndarray]:
    """An export's :data:`SUBWORDS_FILE`: its words' n-gram table (offsets, rows)."""
    from pathlib import Path

    from textclf.errors import CheckpointError

    path = Path(folder) / SUBWORDS_FILE
    try:
        with np.load(path) as arrays:
            return arrays["offsets"], arrays["rows"]
    except (OSError, KeyError, ValueError) as exc:
        reason = "it is missing" if not path.exists() else f"it is not readable ({type(exc).__name__})"
        raise CheckpointError(f"{path}: the export's table of its words' character n-grams, but {reason}; "
                              "copy the whole export folder, or export the checkpoint again") from None


def graph_feeds(inputs: dict[str, Any] | None, ids: np.ndarray, lengths: np.ndarray,
                subwords: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The feeds of an exported graph for a padded batch: ``inputs`` is what the export recorded
    (textclf.json's ``export.inputs``; None: the graph takes ``ids`` and ``lengths``);
    ``subwords``: the words' n-gram table (:func:`subword_table`) where it names ``chars``."""
    if inputs is None:
        return {"ids": ids, "lengths": lengths}
    if inputs.get("form") not in FORMS:  # (the runner refuses such an export when it opens it)
        raise ValueError(f"an export's graph takes {inputs.get('form')!r}, which this textclf cannot make")
    features = word_features(ids, word_lengths(inputs, ids, lengths), inputs["vocab_size"], inputs["buckets"],
                             inputs["ngrams"])
    num_features = inputs["vocab_size"] + (inputs["buckets"] if inputs["ngrams"] > 1 else 0)
    feeds = dict(zip(("features", "weights"), distinct_features(features, num_features)))
    if inputs.get("chars"):
        feeds["char_rows"], feeds["char_weights"] = char_features(
            ids, lengths, inputs["vocab_size"], inputs["chars"]["buckets"], subwords)
    return feeds
