"""Named data sources: where labelled examples come from (``data.source`` in a config).

A source is a function that loads and splits a corpus, plus a fingerprint that changes whenever
what it would load changes (the encoded-corpus cache is keyed by it), registered together::

    @register_source("files", fingerprint=files_fingerprint)
    def load_files(config: DataConfig, seed: int, task: str) -> Corpus: ...

``task`` is the config's ``multiclass`` or ``multilabel``. A source that only knows one label per
document may ignore it and return class indices: for a multilabel task they become one-hot rows.

Adding a source is one file plus its registration (and its import in ``data/__init__.py``).
An unknown name is an error that lists the registered ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from textclf.config import DataConfig
from textclf.data.examples import Corpus
from textclf.errors import ConfigError
from textclf.registry import Registry

__all__ = ["DataSource", "register_source", "get_source", "list_sources"]


@dataclass(frozen=True)
class DataSource:
    name: str
    load: Callable[[DataConfig, int, str], Corpus]
    fingerprint: Callable[[DataConfig, int], str]


_REGISTRY: Registry[DataSource] = Registry("data source", "textclf.data")


def register_source(name: str, fingerprint: Callable[[DataConfig, int], str]):
    def decorate(load: Callable[[DataConfig, int, str], Corpus]):
        _REGISTRY.add(name, DataSource(name, load, fingerprint))
        return load

    return decorate


def list_sources() -> list[str]:
    return _REGISTRY.names()


def get_source(name: str) -> DataSource:
    problem = _REGISTRY.unknown(name)
    if problem:
        raise ConfigError(f"data.source: {problem}")
    return _REGISTRY[name]
