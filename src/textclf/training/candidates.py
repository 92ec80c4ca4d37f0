"""The default's candidates: what a config that names no model may train, as data.

Each candidate is a partial config (``model``, ``train``, ``preprocess``), applied over the
config the user wrote: a key the config sets itself wins over the candidate's, every other key
takes the candidate's value. ``training/select.py`` trains them in this order (cheapest first)
on the same split, each early-stopped on the validation split, and keeps the best on validation.
Adding a candidate is adding an entry.

- ``linear``: one weight per feature per class on sublinear TF-IDF word uni+bigrams
  (``models/linear.py``), the hypothesis class of TF-IDF + LinearSVC: it keeps every class its
  own weights, which many rare classes need.
- ``bag``: the low-rank bag of the same features, four members of 32 columns averaged
  (``models/bag_of_ngrams.py``), which generalises better where classes share words.
- ``linear_chars`` and ``bag_chars``: the same with each word's character 2–5-grams and the
  ``wordpunct`` tokenizer (symbols as tokens), for short and noisy texts: misspellings, word
  forms, ``!!``, ``£``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Candidate", "CANDIDATES", "SELECTION_TRAIN"]

# Every candidate trains until its validation metric has not improved for `patience` epochs.
SELECTION_TRAIN: dict[str, Any] = {"epochs": 40, "early_stopping_patience": 2, "min_steps": None}

_WORDS = {"ngrams": 2, "buckets": 200000}
_CHARS = {"minn": 2, "maxn": 5, "char_buckets": 200000}
_BAG = {"name": "bag_of_ngrams", "embedding_dim": 32, "members": 4, "tfidf": True, "dropout": 0.5, **_WORDS}


@dataclass(frozen=True)
class Candidate:
    name: str
    model: dict[str, Any]
    train: dict[str, Any] = field(default_factory=dict)
    preprocess: dict[str, Any] = field(default_factory=dict)
    # Train settings for a multiclass task only (label smoothing is cross-entropy's).
    multiclass_train: dict[str, Any] = field(default_factory=dict)
    # ... and for a multilabel task only.
    multilabel_train: dict[str, Any] = field(default_factory=dict)


CANDIDATES: list[Candidate] = [
    Candidate("linear", {"name": "linear", **_WORDS}, {"lr": 0.02, "batch_size": 64}),
    Candidate("bag", _BAG, {"lr": 0.005, "batch_size": 64}),
    Candidate("linear_chars", {"name": "linear", **_WORDS, **_CHARS}, {"lr": 0.02, "batch_size": 64},
              {"tokenizer": "wordpunct"}),
    Candidate("bag_chars", {**_BAG, **_CHARS}, {"lr": 0.005, "batch_size": 64}, {"tokenizer": "wordpunct"},
              multiclass_train={"label_smoothing": 0.1}),
]
