"""Raw sources → labelled examples, split into train/val/test.

Each source is one file that registers itself and its keys (``data/sources.py``); the built-in
ones are registered the first time a source's name is read (``data/builtin.py``). The package sits
below ``textclf.config``, which checks a config's data keys with the source's own class: it reads a
config only through the attributes ``data``, ``seed`` and ``task`` (:class:`Configured`).

Importing the package is light (numpy; no pydantic, no source): ``data/tables.py``, which reads
the file a model predicts, is in it. The sources' names below are imported when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from textclf.data.examples import SPLITS, Corpus, Examples
from textclf.exports import exports_on_first_use

if TYPE_CHECKING:
    from textclf.data.sources import SourceParams, list_sources, register_source

__all__ = [
    "Corpus", "Examples", "SPLITS", "SourceParams", "load_corpus", "corpus_fingerprint", "list_sources",
    "register_source",
]


# (data/sources.py imports pydantic)
__getattr__ = exports_on_first_use(__name__, {name: "textclf.data.sources" for name in
                                              ("SourceParams", "list_sources", "register_source")})


class _DataSection(Protocol):
    source: str

    def params(self) -> SourceParams: ...


class Configured(Protocol):
    """What the loaders read of a config (``textclf.config.Config`` has it)."""

    data: _DataSection
    seed: int
    task: str


def load_corpus(config: Configured) -> Corpus:
    """Load and split the data set named by ``config.data.source``; for a multilabel task,
    labels come as one 0/1 row per document (a source's class indices become one-hot rows)."""
    from textclf.data.sources import get_source

    corpus = get_source(config.data.source).load(config.data.params(), config.seed, config.task)
    if config.task == "multilabel":
        for split, examples in corpus.splits.items():
            if examples.labels.ndim == 1:
                one_hot = np.zeros((len(examples), len(corpus.label_names)), dtype=np.uint8)
                one_hot[np.arange(len(examples)), examples.labels] = 1
                corpus.splits[split] = Examples(examples.texts, one_hot, examples.weights)
    return corpus


def corpus_fingerprint(config: Configured) -> str:
    """A string that changes whenever ``load_corpus(config)`` would return something else."""
    from textclf.data.sources import get_source

    fingerprint = get_source(config.data.source).fingerprint(config.data.params(), config.seed)
    return fingerprint if config.task == "multiclass" else f"{fingerprint}|task={config.task}"
