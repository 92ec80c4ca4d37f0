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

import difflib
from dataclasses import dataclass
from typing import Callable

from textclf.config import DataConfig
from textclf.data.examples import Corpus
from textclf.errors import ConfigError

__all__ = ["DataSource", "register_source", "get_source", "list_sources"]


@dataclass(frozen=True)
class DataSource:
    name: str
    load: Callable[[DataConfig, int, str], Corpus]
    fingerprint: Callable[[DataConfig, int], str]


_REGISTRY: dict[str, DataSource] = {}


def register_source(name: str, fingerprint: Callable[[DataConfig, int], str]):
    def decorate(load: Callable[[DataConfig, int, str], Corpus]):
        if name in _REGISTRY:
            raise ValueError(f"data source {name!r} is registered twice")
        _REGISTRY[name] = DataSource(name, load, fingerprint)
        return load

    return decorate


def list_sources() -> list[str]:
    import textclf.data  # noqa: F401  (registers the built-in sources)

    return sorted(_REGISTRY)


def get_source(name: str) -> DataSource:
    valid = list_sources()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), valid, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(f"data.source: unknown data source {name!r}; {hint}valid names: {', '.join(valid)}")
    return _REGISTRY[name]
