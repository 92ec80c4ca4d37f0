"""Named model builders.

Each architecture lives in its own file and registers itself with :func:`register_model`, giving
its name, a pydantic class for its parameters (the keys of the config's ``model`` section besides
``name``) and its :class:`~textclf.models.base.TextClassifier` subclass, which is built as
``Module(params, context)`` (see ``models/base.py`` for the contract and declared capabilities).
An unknown name is an error that lists the registered ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from pydantic import BaseModel, ConfigDict

from textclf.errors import ConfigError
from textclf.models.base import BuildContext, TextClassifier
from textclf.registry import Registry, check_params

__all__ = [
    "ModelParams",
    "register_model",
    "build_model",
    "list_models",
    "validate_model_params",
    "params_class",
]


class ModelParams(BaseModel):
    """Base of every model's parameter class: unknown keys are errors. The keys here are every
    model's: its token embedding (``embedding``) may start from pretrained word vectors."""

    model_config = ConfigDict(extra="forbid")
    # A word-vector file (word2vec / GloVe / fastText text format: .vec, .txt, optionally .gz); the
    # embedding rows of the vocabulary's words found in it start from their vectors.
    pretrained_vectors: Optional[str] = None
    # Keep the embedding table as loaded (true) or fine-tune it with the rest (false).
    freeze_vectors: bool = False

    def pretrained_tokenizer(self) -> str | None:
        """A folder or Hub name whose tokenizer the model reads (replacing the ``preprocess``
        tokenizer and the learned vocabulary), or None."""
        return None

    def encoding_subwords(self) -> dict[str, int] | None:
        """``minn``, ``maxn`` and ``buckets`` of the character n-grams that the text pipeline
        appends to a document's ids for each of its words outside the vocabulary
        (``text/unknown_subwords.py``), for a model that reads them; None: plain ids."""
        return None

    def input_windows(self) -> int:
        """With a pretrained tokenizer: in how many windows of ``preprocess.max_seq_len`` sub-words
        (each with the tokenizer's special tokens) the pipeline gives a long document to the model;
        1: the document's first ``max_seq_len`` sub-words only."""
        return 1


@dataclass(frozen=True)
class _Entry:
    params: type[BaseModel]
    module: type[TextClassifier]


_REGISTRY: Registry[_Entry] = Registry("model", "textclf.models")


def register_model(name: str, params: type[BaseModel]) -> Callable[[type[TextClassifier]], type]:
    """Class decorator: ``@register_model("lstm", LSTMParams)`` on a TextClassifier."""

    def decorate(module: type[TextClassifier]) -> type[TextClassifier]:
        if not issubclass(module, TextClassifier):
            raise TypeError(f"model {name!r}: {module.__name__} must subclass TextClassifier")
        _REGISTRY.add(name, _Entry(params, module))
        return module

    return decorate


def params_class(name: str) -> type[BaseModel]:
    """The parameter class of registered model ``name`` (its keys, types and defaults)."""
    _REGISTRY.names()
    return _REGISTRY[name].params


def model_class(name: str) -> type[TextClassifier]:
    """The class of registered model ``name`` (its class attributes, e.g. ``max_batch_tokens``)."""
    _REGISTRY.names()
    return _REGISTRY[name].module


def list_models() -> list[str]:
    return _REGISTRY.names()


def validate_model_params(
    name: Any, params: dict[str, Any]
) -> tuple[list[tuple[str, str]], dict[str, Any] | None]:
    """Check ``params`` against model ``name``; return (problems as (key, message), resolved)."""
    problem = _REGISTRY.unknown(name)
    if problem:
        return [("", problem)], None
    problems, resolved = check_params(_REGISTRY[name].params, params, f"model '{name}'")
    return problems, None if resolved is None else resolved.model_dump()


def build_model(name: str, params: dict[str, Any], context: BuildContext) -> TextClassifier:
    """A fresh model ``name`` with ``params`` (validated by the model's own class) for ``context``."""
    problems, resolved = validate_model_params(name, params)
    if problems:
        raise ConfigError(*(f"model.{key or 'name'}: {msg}" for key, msg in problems))
    entry = _REGISTRY[name]
    return entry.module(entry.params(**resolved), context)
