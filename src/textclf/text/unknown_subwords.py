"""Character n-grams of words outside the vocabulary, appended to each document's ids.

A bag of n-grams with character n-grams (``minn``/``maxn``) reads those of its vocabulary's words
from a table it builds from the words themselves (``models/subwords.py``). A word the vocabulary
lacks reaches the model as ``<unk>``, whose string is gone. fastText cuts such a word into its
n-grams when it reads the text; so does a text pipeline with ``subwords`` (a model's
``unknown_chars``): after a document's word ids (truncated to ``max_length``) come the hashed
n-gram buckets of each of its unknown words, in the order of the words, each as ``vocab_size +
bucket``. The model tells them from the words by that range (a word id is below ``vocab_size``),
counts them into the document's character n-grams, and reads the word ids before them as
before; the ``<unk>`` ids stay in place, so the word n-grams are those of a pipeline without it.

Models that read no character n-grams never get such a pipeline (``pipeline_for``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from textclf.graph_inputs import ranks, subword_table, table_rows

__all__ = ["UnknownWords", "unknown_words"]


@dataclass
class UnknownWords:
    """The unknown words of some encoded texts: ``index`` (every token occurrence's row in the
    table below, -1 for a word of the vocabulary) and those words' n-gram buckets in CSR form
    (``offsets``, ``rows``), to be appended after the words of the documents they occur in."""

    index: np.ndarray
    offsets: np.ndarray
    rows: np.ndarray
    vocab_size: int

    def append_to(self, ids: np.ndarray, lengths: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The documents ``ids`` (back to back, ``lengths`` each; ``index``: the rows of their
        occurrences, as truncated) with each one's unknown words' buckets after its words:
        (ids, lengths), int32 and int64."""
        unknown = np.flatnonzero(index >= 0)
        owner, buckets = table_rows(self.offsets, self.rows, index[unknown].astype(np.int64))
        # Each n-gram's document (the occurrences, and so their n-grams, come in document order).
        doc = np.repeat(np.arange(len(lengths)), lengths)[unknown][owner]
        total = lengths + np.bincount(doc, minlength=len(lengths))
        # A document's first lengths[d] places are its words, the rest its unknown words' n-grams.
        in_words = ranks(total) < np.repeat(lengths, total)
        out = np.empty(int(total.sum()), dtype=np.int32)
        out[in_words], out[~in_words] = ids, buckets + self.vocab_size
        return out, total


def unknown_words(tokens: Sequence[str], token_ids: np.ndarray, codes: np.ndarray | None,
                  setting: dict, vocab_size: int) -> UnknownWords:
    """:class:`UnknownWords` of token occurrences given as distinct ``tokens`` with their
    vocabulary ids ``token_ids`` and each occurrence's row ``codes`` of them (None: ``tokens``
    are the occurrences themselves). ``setting``: ``minn``, ``maxn``, ``buckets``."""
    from textclf.text.vocabulary import UNK_ID

    unknown_at = np.flatnonzero(token_ids == UNK_ID)
    if codes is None:  # the occurrences themselves: each distinct unknown string gets a row
        rows: dict[str, int] = {}
        index = np.full(len(tokens), -1, dtype=np.int32)
        index[unknown_at] = [rows.setdefault(tokens[i], len(rows)) for i in unknown_at]
        words = list(rows)
    else:  # distinct tokens already: a row for each unknown one, read through the codes
        of_token = np.full(len(tokens), -1, dtype=np.int32)
        of_token[unknown_at] = np.arange(len(unknown_at), dtype=np.int32)
        index = of_token[codes] if len(codes) else np.zeros(0, dtype=np.int32)
        words = [tokens[i] for i in unknown_at]
    offsets, buckets = subword_table(words, setting["minn"], setting["maxn"], setting["buckets"])
    return UnknownWords(index, offsets, buckets, vocab_size)
