"""Raw sources → labelled examples, split into train/val/test.

Each source is one file that registers itself (``data/sources.py``); importing this package
registers the built-in ones.
"""

from __future__ import annotations

from textclf.config import Config
from textclf.data import files, newsgroups  # noqa: F401  (registration side effect)
from textclf.data.examples import SPLITS, Corpus, Examples
from textclf.data.sources import get_source, list_sources, register_source

__all__ = [
    "Corpus", "Examples", "SPLITS", "load_corpus", "corpus_fingerprint", "list_sources", "register_source",
]


def load_corpus(config: Config) -> Corpus:
    """Load and split the data set named by ``config.data.source``."""
    return get_source(config.data.source).load(config.data, config.seed)


def corpus_fingerprint(config: Config) -> str:
    """A string that changes whenever ``load_corpus(config)`` would return something else."""
    return get_source(config.data.source).fingerprint(config.data, config.seed)
