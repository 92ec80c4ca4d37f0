"""Named model builders.

Each architecture lives in its own file and registers itself with :func:`register_model`, giving
its name, a pydantic class for its parameters (the keys of the config's ``model`` section besides
``name``) and the ``nn.Module`` class. Every model takes ``(ids, lengths)`` and returns logits:

    ids:     (batch, seq_len) int64, right-padded with 0
    lengths: (batch,) int64, the true length of each row (>= 1)
    returns: (batch, num_classes) float

A model whose token embedding table is its ``embedding`` attribute can be explained by gradient
× input. A model that needs statistics of the training data (TF-IDF weights) defines
``fit_statistics(batches)``: it is called once on a fresh model with the training split's
``(ids, lengths)`` batches, and must keep what it learns in buffers, so checkpoints carry it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, ValidationError
from torch import nn

from textclf.errors import ConfigError

__all__ = [
    "ModelParams",
    "register_model",
    "build_model",
    "list_models",
    "validate_model_params",
]


class ModelParams(BaseModel):
    """Base of every model's parameter class: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class _Entry:
    params: type[BaseModel]
    module: type[nn.Module]


_REGISTRY: dict[str, _Entry] = {}


def register_model(name: str, params: type[BaseModel]) -> Callable[[type[nn.Module]], type]:
    """Class decorator: ``@register_model("lstm", LSTMParams)``."""

    def decorate(module: type[nn.Module]) -> type[nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = _Entry(params, module)
        return module

    return decorate


def list_models() -> list[str]:
    _import_builtin()
    return sorted(_REGISTRY)


def validate_model_params(
    name: Any, params: dict[str, Any]
) -> tuple[list[tuple[str, str]], dict[str, Any] | None]:
    """Check ``params`` against model ``name``; return (problems as (key, message), resolved)."""
    _import_builtin()
    if not isinstance(name, str) or name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return [("", f"unknown model {name!r}; {hint}valid names: {', '.join(list_models())}")], None
    entry = _REGISTRY[name]
    try:
        resolved = entry.params.model_validate(params)
    except ValidationError as exc:
        problems = []
        valid = list(entry.params.model_fields)
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(valid)}"
                problems.append((key, f"unknown key for model '{name}'; {hint}"))
            else:
                problems.append((key, f"{err['msg']} (got {err.get('input')!r})"))
        return problems, None
    return [], resolved.model_dump()


def build_model(name: str, params: dict[str, Any], vocab_size: int, num_classes: int) -> nn.Module:
    problems, resolved = validate_model_params(name, params)
    if problems:
        raise ConfigError(*(f"model.{key or 'name'}: {msg}" for key, msg in problems))
    entry = _REGISTRY[name]
    return entry.module(entry.params(**resolved), vocab_size=vocab_size, num_classes=num_classes)


def _import_builtin() -> None:
    # Importing the package registers the built-in models.
    import textclf.models  # noqa: F401
