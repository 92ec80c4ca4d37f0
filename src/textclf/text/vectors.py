"""Pretrained word vectors (``model.pretrained_vectors``) in the common text format.

One word per line followed by its numbers, separated by spaces, as word2vec (``-binary 0``),
GloVe and fastText (``.vec``) write them; a first line of two integers (count and dimension) is a
header and skipped; ``.gz`` files are read compressed. Only the vocabulary's words are parsed, so
a file of millions of words costs one pass and little memory. A word missing in its own case is
looked up lowercased too (``The`` in the file serves ``the`` in a lowercased vocabulary).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textclf.errors import DataError

__all__ = ["PretrainedVectors", "read_vectors"]


@dataclass
class PretrainedVectors:
    matrix: np.ndarray  # (vocab size, dim) float32; rows of words not found are zero
    found: np.ndarray  # (vocab size,) bool
    path: Path

    def coverage(self, token_ids: np.ndarray | None = None) -> str:
        """The share of the vocabulary found, and of the token occurrences ``token_ids``."""
        words = self.found[2:]  # <pad> and <unk> are never looked up
        text = (f"pretrained vectors: {int(words.sum()):,} of {len(words):,} vocabulary words found "
                f"({words.mean():.1%})")
        if token_ids is not None and len(token_ids):
            text += f", covering {self.found[token_ids].mean():.1%} of the training tokens"
        return f"{text} in {self.path}"


def _open(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def read_vectors(path: str | Path, itos: list[str], dim: int) -> PretrainedVectors:
    """The vectors of the vocabulary ``itos`` (id → word) from ``path``; their dimension must be
    ``dim`` (the model's ``embedding_dim``)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: word-vector file not found (model.pretrained_vectors)")
    wanted: dict[str, int] = {}
    for i, word in enumerate(itos[2:], start=2):
        wanted.setdefault(word, i)
    matrix = np.zeros((len(itos), dim), dtype=np.float32)
    found = np.zeros(len(itos), dtype=bool)
    exact = np.zeros(len(itos), dtype=bool)  # found in the word's own case (wins over a lowercased match)
    with _open(path) as f:
        for number, line in enumerate(f, start=1):
            word, _, rest = line.rstrip("\n").partition(" ")
            if number == 1 and _is_header(word, rest):
                continue
            i = wanted.get(word)
            lowered = i is None
            if lowered:
                i = wanted.get(word.lower())
            if i is None or exact[i] or (lowered and found[i]):
                continue
            values = rest.split()
            if len(values) != dim:
                raise DataError(f"{path}:{number}: the word {word!r} has {len(values)} numbers, but the model's "
                                f"embedding_dim is {dim}; set model.embedding_dim to {len(values)}")
            try:
                matrix[i] = np.asarray(values, dtype=np.float32)
            except ValueError:
                raise DataError(f"{path}:{number}: not a word followed by {dim} numbers") from None
            found[i], exact[i] = True, not lowered
    return PretrainedVectors(matrix, found, path)


def _is_header(word: str, rest: str) -> bool:
    parts = rest.split()
    return word.isdigit() and len(parts) == 1 and parts[0].isdigit()
