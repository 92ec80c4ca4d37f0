"""Raw sources → labelled examples, split into train/val/test."""

from __future__ import annotations

from textclf.config import Config
from textclf.data.examples import SPLITS, Corpus, Examples

__all__ = ["Corpus", "Examples", "SPLITS", "load_corpus", "corpus_fingerprint"]


def load_corpus(config: Config) -> Corpus:
    """Load and split the data set named by ``config.data.source``."""
    if config.data.source == "20newsgroups":
        from textclf.data.newsgroups import load_newsgroups

        return load_newsgroups(config.data, config.seed)
    if config.data.source == "files":
        from textclf.data.files import load_files

        return load_files(config.data, config.seed)
    raise AssertionError(f"unhandled data source {config.data.source!r}")  # the schema forbids it


def corpus_fingerprint(config: Config) -> str:
    """A string that changes whenever ``load_corpus(config)`` would return something else."""
    if config.data.source == "20newsgroups":
        from textclf.data.newsgroups import newsgroups_fingerprint

        return newsgroups_fingerprint(config.data, config.seed)
    if config.data.source == "files":
        from textclf.data.files import files_fingerprint

        return files_fingerprint(config.data, config.seed)
    raise AssertionError(f"unhandled data source {config.data.source!r}")
