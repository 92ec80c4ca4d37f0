"""Named data sources: where labelled examples come from (``data.source`` in a config).

A source is one file: its parameter class (the keys of the ``data`` section it reads, with their
types, defaults and comments), a function that loads and splits a corpus from them, and a
fingerprint that changes whenever what it would load changes (the encoded-corpus cache is keyed
by it), registered together::

    class FilesParams(SourceParams):
        train: str  # the training table
        ...

    @register_source("files", FilesParams, fingerprint=files_fingerprint)
    def load_files(params: FilesParams, seed: int, task: str) -> Corpus: ...

The config's ``data`` section names the source and holds its keys, flat (``data.train``); when
the config is loaded, the source's class checks them as a model's class checks the model's, so
a key another source reads is an error that names the valid ones. ``task`` is the config's
``multiclass`` or ``multilabel``. A source that only knows one label per document may ignore it
and return class indices: for a multilabel task they become one-hot rows.

Adding a source is one file plus its import in ``data/builtin.py``. An unknown name is an
error that lists the registered ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from pydantic import BaseModel, ConfigDict

from textclf.data.examples import Corpus
from textclf.errors import ConfigError
from textclf.registry import Registry, check_params

__all__ = ["SourceParams", "DataSource", "register_source", "get_source", "list_sources", "source_params"]


class SourceParams(BaseModel):
    """The keys every source has; a source's own class adds its keys."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    # Where data lives; the environment variable TEXTCLF_DATA overrides it. 20newsgroups: the
    # .tar.gz archive, the folder it extracts to, or a folder holding either. files: the folder
    # that relative train/val/test paths are taken in.
    root: Optional[str] = None
    # Where tokenized/encoded corpora are cached; TEXTCLF_CACHE or ~/.cache/textclf if unset.
    cache_dir: Optional[str] = None
    cache: bool = True  # false: read, tokenize and encode every time

    def folder_keys(self, located: bool) -> list[str]:
        """The keys whose relative paths, written in a config file, are taken in that file's
        folder (``located``: whether a data location, data.root or TEXTCLF_DATA, is set)."""
        return ["root", "cache_dir"]


@dataclass(frozen=True)
class DataSource:
    name: str
    params: type[SourceParams]
    load: Callable[[Any, int, str], Corpus]
    fingerprint: Callable[[Any, int], str]


_REGISTRY: Registry[DataSource] = Registry("data source", "textclf.data.builtin")


def register_source(name: str, params: type[SourceParams], fingerprint: Callable[[Any, int], str]):
    if not (isinstance(params, type) and issubclass(params, SourceParams)):
        raise TypeError(f"data source {name!r}: its parameter class must subclass SourceParams")

    def decorate(load: Callable[[Any, int, str], Corpus]):
        _REGISTRY.add(name, DataSource(name, params, load, fingerprint))
        return load

    return decorate


def list_sources() -> list[str]:
    return _REGISTRY.names()


def get_source(name: str) -> DataSource:
    problem = _REGISTRY.unknown(name)
    if problem:
        raise ConfigError(f"data.source: {problem}")
    return _REGISTRY[name]


def source_params(name: Any, values: dict[str, Any]) -> tuple[list[tuple[str, str]], SourceParams | None]:
    """``values`` (the data section's keys but ``source``) checked by source ``name``'s class:
    (problems as (key, message); key "" for an unknown source), the params object or None."""
    problem = _REGISTRY.unknown(name)
    if problem:
        return [("", problem)], None
    problems, params = check_params(_REGISTRY[name].params, values, f"source '{name}'")
    return [(key, _elsewhere(key, message, name)) for key, message in problems], params


def _elsewhere(key: str, message: str, source: str) -> str:
    """An unknown key's message, saying which other sources have it (data.protocol is
    20newsgroups')."""
    if not message.startswith("unknown key"):
        return message
    others = [n for n in _REGISTRY.names() if n != source and key in _REGISTRY[n].params.model_fields]
    return message if not others else (f"a key of source {' and '.join(map(repr, others))}, not of "
                                       f"{source!r}: remove it, or set data.source to {others[0]}")
