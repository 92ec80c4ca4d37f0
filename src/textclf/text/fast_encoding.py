"""Encoding many texts at once in compiled code: the built-in tokenizers on ASCII texts.

``TextPipeline.encode`` tokenizes a text at a time in Python (``re.findall``, then a dictionary
lookup per token). For a large batch, :func:`encode_ids` does the same work on whole arrays:

1. the ASCII texts become one byte buffer, translated through two 256-byte tables
   (``bytes.translate``): what each byte becomes (lower case, digits to 0) and its class (space,
   word character or symbol);
2. a run starts wherever a byte's class differs from the byte before it (or a text starts):
   the runs of word characters and symbols are the tokens, those of spaces the gaps between
   them; the runs are an Arrow string array over that buffer, with no copy per run;
3. ``pyarrow.compute.index_in`` looks every run up in the vocabulary (a C++ hash table), and the
   gaps' ids are dropped.

Training (``TextPipeline.fit_encode``), before there is a vocabulary, takes steps 1 and 2 too:
:func:`token_table` numbers the distinct runs with Arrow's ``dictionary_encode`` instead of step
3, which gives ``text/token_table.py``'s table (the vocabulary is counted from it).

It is exact by construction: for ASCII text Python's ``\\w`` is ``[A-Za-z0-9_]``, ``\\s`` is the
ten bytes of :data:`_SPACE`, and ``str.lower`` changes only ``A-Z``. A text with any other
character is tokenized by the tokenizer itself (the caller's reference path), and so is
everything when pyarrow is missing or the tokenizer is not a built-in one this module knows
(``fast_form``). tests/text/test_fast_encoding.py checks it against the reference on arbitrary
text (hypothesis).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from textclf.text.vocabulary import UNK_ID

__all__ = ["fast_form", "encode_ids", "token_table", "MIN_TEXTS"]

# Below this many texts the reference path is as fast (the arrays' set-up costs about as much).
MIN_TEXTS = 64
# Texts encoded per pass: the byte arrays of a pass stay a few hundred MB at most.
_PASS_BYTES = 1 << 24

# Python's \s on ASCII: space, \t \n \v \f \r and the four information separators \x1c-\x1f.
_SPACE = b" \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"
_WORD = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"


def fast_form(tokenizer, vocab=None) -> dict[str, Any] | None:
    """How :func:`encode_ids` reproduces ``tokenizer`` (its byte classes, lower case, digits) and
    looks tokens up in ``vocab`` (a Vocabulary, as an Arrow array), or None when it cannot (a
    tokenizer it does not know, or pyarrow missing)."""
    from textclf.text.tokenizers.registry import DigitsToZero
    from textclf.text.tokenizers.study import StudyTokenizer
    from textclf.text.tokenizers.whitespace import WhitespaceTokenizer
    from textclf.text.tokenizers.wordpunct import WordPunctTokenizer

    if importlib.util.find_spec("pyarrow") is None:
        return None
    digits = isinstance(tokenizer, DigitsToZero)
    inner = tokenizer.tokenizer if digits else tokenizer
    kinds = {StudyTokenizer: "study", WordPunctTokenizer: "wordpunct", WhitespaceTokenizer: "whitespace"}
    kind = kinds.get(type(inner))  # (exactly these classes: a subclass may have another pattern)
    if kind is None:
        return None
    vocabulary = None if vocab is None else _strings(vocab.itos_)
    # What each byte becomes, and its class, as tables for bytes.translate: a C loop over the
    # bytes that ran 2.6 times as fast as numpy gathering both from one 256-entry uint16 table
    # (and then splitting it with a shift and two casts), 14 ms against 36-43 ms for 20 Newsgroups'
    # 13.7 MB of test posts.
    return {"lower": _table(inner.lowercase, digits).tobytes(), "classes": _classes(kind).tobytes(),
            "vocabulary": vocabulary}


def _classes(kind: str) -> np.ndarray:
    """Each byte's class: 0 space (never in a token), 1 word character, 2 symbol; a token is a
    maximal run of one class."""
    classes = np.zeros(256, dtype=np.uint8)
    if kind == "whitespace":  # every non-space byte is one class: runs between spaces
        classes[:] = 1
        classes[list(_SPACE)] = 0
        return classes
    classes[list(_WORD)] = 1
    if kind == "wordpunct":  # runs of word characters, and runs of everything else but spaces
        symbols = np.ones(256, dtype=bool)
        symbols[list(_WORD)] = False
        symbols[list(_SPACE)] = False
        classes[symbols] = 2
    return classes


def _table(lowercase: bool, digits_to_zero: bool) -> np.ndarray:
    table = np.arange(256, dtype=np.uint8)
    if lowercase:
        table[ord("A"): ord("Z") + 1] += 32
    if digits_to_zero:
        table[ord("0"): ord("9") + 1] = ord("0")
    return table


def encode_ids(texts: list[str], form: dict[str, Any], vocab, reference) -> tuple[np.ndarray, np.ndarray] | None:
    """(ids, token counts) of ``texts`` as the tokenizer and ``vocab`` (the Vocabulary ``form``
    was made with) give them: every text's ids back to back (int32, untruncated) and each text's
    count. None when no text is ASCII (nothing to gain). The other texts go through
    ``reference(texts)`` (the tokenizer's own path: every token back to back, and each text's
    count) and are merged in order."""
    ascii_mask = _ascii(texts)
    if not ascii_mask.any():
        return None
    parts = []
    for part in _passes(texts, np.flatnonzero(ascii_mask)):
        runs, tokens, counts = _runs([texts[i] for i in part], form)
        ids = _vocabulary_ids(runs, form["vocabulary"])
        parts.append((ids[tokens].astype(np.int32, copy=False), counts))
    fast_ids, fast_counts = (np.concatenate(p) for p in zip(*parts))
    if ascii_mask.all():
        return fast_ids, fast_counts
    tokens, other_counts = reference([t for t, a in zip(texts, ascii_mask) if not a])
    return _in_order(ascii_mask, fast_ids, fast_counts, vocab.ids(tokens), other_counts)


def token_table(texts: list[str], form: dict[str, Any], reference, consume: bool = False):
    """``text/token_table.py``'s :class:`TokenTable` of ``texts`` (every token occurrence's row
    in a table of the distinct tokens, each text's count; the distinct tokens in another order),
    the ASCII texts tokenized here and the others by ``reference(texts)`` (a TokenTable); None
    when no text is ASCII. ``form`` needs no vocabulary. ``consume``: each ASCII text becomes ""
    in ``texts`` once its pass is read (the caller's list holds the only reference left), so the
    strings are freed while the codes grow."""
    import pyarrow as pa

    from textclf.text.token_table import TokenTable, merge_tables

    ascii_mask = _ascii(texts)
    if not ascii_mask.any():
        return None
    other = None if ascii_mask.all() else reference([t for t, a in zip(texts, ascii_mask) if not a])
    codes, counts, dictionaries = [], [], []
    for part in _passes(texts, np.flatnonzero(ascii_mask)):
        runs, tokens, n = _runs([texts[i] for i in part], form)
        if consume:
            for i in part:
                texts[i] = ""
        encoded = runs.dictionary_encode()  # (C++: each distinct run once, and every run's row)
        del runs
        codes.append(encoded.indices.to_numpy()[tokens])
        counts.append(n)
        dictionaries.append(encoded.dictionary)
    # One table of every pass's distinct runs; each pass's rows moved into it, and only the
    # tokens' rows kept (the gaps between tokens were runs too).
    merged = pa.concat_arrays(dictionaries).dictionary_encode()
    rows = merged.indices.to_numpy().astype(np.int32)
    used = np.zeros(len(merged.dictionary), dtype=bool)
    start = 0
    for i, part in enumerate(codes):
        codes[i] = rows[start: start + len(dictionaries[i])][part]
        used[codes[i]] = True
        start += len(dictionaries[i])
    renumber = np.cumsum(used, dtype=np.int64).astype(np.int32) - 1
    fast_codes = np.empty(sum(len(c) for c in codes), dtype=np.int32)
    at = 0
    for i, part in enumerate(codes):  # one array, each pass's codes dropped once copied
        fast_codes[at: at + len(part)] = renumber[part]
        at += len(part)
        codes[i] = None
    fast = TokenTable(fast_codes, merged.dictionary.filter(pa.array(used)).to_pylist(), np.concatenate(counts))
    if other is None:
        return fast
    n_fast = len(fast.codes)
    both = merge_tables([fast, other])  # (in Python: the other tokens may be any str)
    all_codes, lengths = _in_order(ascii_mask, both.codes[:n_fast], fast.lengths, both.codes[n_fast:], other.lengths)
    return TokenTable(all_codes, both.tokens, lengths)


def _vocabulary_ids(runs, vocabulary) -> np.ndarray:
    """Each string's row in ``vocabulary`` (an Arrow array), ``<unk>``'s id where it has none."""
    try:  # (the compute functions' C++ entry point: importing pyarrow.compute makes a Python
        # wrapper of every one of them, 30 ms of a predicting process's start)
        from pyarrow._compute import SetLookupOptions, call_function
    except ImportError:  # (pyarrow.compute's public names for the same two)
        from pyarrow.compute import SetLookupOptions, call_function

    found = call_function("index_in", [runs], SetLookupOptions(vocabulary))  # int32, null where a run is not in it
    validity, values = found.buffers()
    start, n = found.offset, len(found)
    ids = np.frombuffer(values, dtype=np.int32, count=start + n)[start:]
    if found.null_count:  # (read from the buffers: fill_null or to_numpy would make pyarrow import pandas)
        valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")[start: start + n]
        ids = np.where(valid.astype(bool), ids, np.int32(UNK_ID))
    return ids


def _strings(items: list[str]):
    """``items`` as an Arrow large-string array, built from one encoded buffer and its offsets
    (``pa.array`` of a list would ask whether pandas is installed, and import it: a fifth of a
    second of a predicting process)."""
    import pyarrow as pa

    # Each item's length in bytes: its length in characters where it is ASCII (most words).
    lengths = (len(item) if item.isascii() else len(item.encode("utf-8")) for item in items)
    offsets, data = _offsets(lengths, len(items)), "".join(items).encode("utf-8")
    return pa.Array.from_buffers(pa.large_string(), len(items), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _offsets(lengths, n: int) -> np.ndarray:
    """(n + 1,) int64: where each of ``n`` items of these ``lengths`` starts, back to back, and the end."""
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.fromiter(lengths, dtype=np.int64, count=n), out=offsets[1:])
    return offsets


def _ascii(texts: list[str]) -> np.ndarray:
    return np.fromiter((t.isascii() for t in texts), dtype=bool, count=len(texts))


def _in_order(ascii_mask: np.ndarray, fast: np.ndarray, fast_counts: np.ndarray, other: np.ndarray,
              other_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ASCII texts' values and the others' (each back to back, with their counts) merged in
    the texts' order: (values, counts)."""
    lengths = np.zeros(len(ascii_mask), dtype=np.int64)
    lengths[ascii_mask], lengths[~ascii_mask] = fast_counts, other_counts
    out = np.empty(int(lengths.sum()), dtype=fast.dtype)
    from_fast = np.repeat(ascii_mask, lengths)
    out[from_fast], out[~from_fast] = fast, other
    return out, lengths


def _passes(texts: list[str], chosen: np.ndarray):
    """``chosen`` (indices of ``texts``) cut into passes of about ``_PASS_BYTES`` of text each,
    in order: each pass's indices."""
    start = 0
    while start < len(chosen):
        stop, size = start, 0
        while stop < len(chosen) and (size < _PASS_BYTES or stop == start):
            size += len(texts[chosen[stop]])
            stop += 1
        yield chosen[start:stop]
        start = stop


def _runs(texts: list[str], form: dict[str, Any]):
    import pyarrow as pa

    # The texts back to back, one byte a character (the callers pass ASCII texts only).
    offsets = _offsets(map(len, texts), len(texts))
    if offsets[-1] == 0:  # only empty texts
        return _strings([]), np.zeros(0, dtype=np.int64), np.zeros(len(texts), dtype=np.int64)
    raw = "".join(texts).encode("ascii")
    kind = np.frombuffer(raw.translate(form["classes"]), dtype=np.uint8)  # (of the byte as read)
    # Where a run of one class starts (a token, or a gap), and the end of the last one.
    starts = np.empty(len(raw) + 1, dtype=bool)
    starts[0] = starts[-1] = True
    np.not_equal(kind[1:], kind[:-1], out=starts[1:-1])
    starts[offsets[:-1]] = True  # a text starts a run of its own (an empty last one: the end)
    bounds = np.flatnonzero(starts)
    # Every run is a string of the array, gaps too (looking them up costs less than cutting
    # them out of the buffer); the caller drops the gaps.
    runs = pa.Array.from_buffers(pa.large_string(), len(bounds) - 1,
                                 [None, pa.py_buffer(bounds), pa.py_buffer(raw.translate(form["lower"]))])
    tokens = np.flatnonzero(kind[bounds[:-1]] != 0)  # the runs that are tokens
    # each text's count: its first run's place among the token runs (both sorted)
    counts = np.diff(np.searchsorted(tokens, np.searchsorted(bounds, offsets))).astype(np.int64)
    return runs, tokens, counts
