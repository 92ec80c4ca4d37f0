"""The config reference, generated from the schema itself (``textclf.config``) so it cannot drift.

Every key of every section is listed with its type, its default and the comment written above it
(or beside it) in ``config/schema.py``; the ``data`` section lists each registered source's own keys
from its parameter class, and the ``model`` section each registered model's. The documentation site puts this on its "Config reference" page.
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from typing import Any

from pydantic import BaseModel

from textclf.config import (
    AUTO_MAX_TOKENS,
    CANDIDATES,
    DEFAULT_RECIPE,
    SHORT_TEXT_MODEL,
    SHORT_TEXT_PREPROCESS,
    SHORT_TEXT_TOKENS,
    SHORT_TEXT_TRAIN,
    Config,
    DataConfig,
    ModelConfig,
)
from textclf.data.sources import SourceParams, get_source, list_sources

__all__ = ["config_reference", "field_comments"]


def field_comments(cls: type) -> dict[str, str]:
    """Each field's comment in the class source (or a base class's): the ``#`` lines right above
    it, joined, and any comment at the end of its line."""
    out: dict[str, str] = {}
    for base in reversed(cls.__mro__[1:]):
        if isinstance(base, type) and issubclass(base, BaseModel) and base is not BaseModel:
            out.update(field_comments(base))
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return out
    above: list[str] = []
    group = ""  # a "# --- source: files" line heads the fields below it
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("# ---"):
            group = stripped.strip("# -").split(";")[0].strip()
            continue
        if stripped.startswith("#"):
            above.append(stripped.lstrip("#").strip())
            continue
        match = re.match(r"\s{4}(\w+)\s*:", line)
        if match and match.group(1) in getattr(cls, "model_fields", {}):
            beside = line.split("  # ", 1)[1].strip() if "  # " in line else ""
            text = " ".join(above + ([beside] if beside else []))
            out[match.group(1)] = f"({group}) {text}".strip() if group else text
        above = [] if stripped else above
    return out


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(str(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        parts = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(parts) < len(typing.get_args(annotation))
        text = " or ".join(_type_name(a) for a in parts)
        return f"{text} (optional)" if optional else text
    if origin in (list, dict):
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{origin.__name__}[{args}]"
    return getattr(annotation, "__name__", str(annotation))


def _default(field) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "(section)"
    return "none" if value is None else "`" + json.dumps(value, default=str).replace("|", "\\|") + "`"


def _rows(cls: type[BaseModel], prefix: str, skip: frozenset[str] = frozenset()) -> list[str]:
    comments = field_comments(cls)
    rows = []
    for name, field in cls.model_fields.items():
        if name in skip:
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation is not ModelConfig:
            continue
        text = comments.get(name, "").replace("|", "\\|")
        rows.append(f"| `{prefix}{name}` | {_type_name(annotation)} | {_default(field)} | {text} |")
    return rows


def _source_tables(header: str) -> list[str]:
    """The keys every source has (in the data section's table), then each source's own."""
    common = frozenset(SourceParams.model_fields)
    parts = _rows(SourceParams, "data.")
    for source in list_sources():
        params = get_source(source).params
        parts += ["", f"### source `{source}`", "", inspect.getdoc(params) or "", "", header,
                  *_rows(params, "data.", skip=common)]
    return parts


def config_reference() -> str:
    """The reference as Markdown: one table per section, then one per registered model."""
    from textclf.models.registry import list_models, params_class

    header = "| key | type | default | meaning |\n|---|---|---|---|"
    parts = ["## Top level", header, *[r for r in _rows(Config, "") if "`model`" not in r]]
    for name, field in Config.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel) and section is not ModelConfig:
            doc = inspect.getdoc(section) or ""
            parts += ["", f"## `{name}`", "", doc if section.__doc__ else "", "", header, *_rows(section, f"{name}.")]
            if section is DataConfig:
                parts += _source_tables(header)
    parts += ["", "## `model`", "", "`model.name` picks a registered model; the other keys of the section belong to "
              "that model. A config whose model section is missing or names no model gets `model.auto` true: "
              "`textclf train` then trains each default candidate (`src/textclf/config/default_recipe.py`: "
              "`linear` and `bag_of_ngrams` on word n-grams, each also with character n-grams) until its validation metric stops improving, keeps the best on "
              "validation (or, when it is better there, a weighted mean of several: `train.ensemble`), writes "
              "`leaderboard.csv`, and the run's config.yaml names the winner (an ensemble's: the config's own keys "
              "with `model.candidates` its members). Keys the config sets itself win over every candidate's; "
              "`model.candidates` (a list of `" + "`, `".join(c.name for c in CANDIDATES) + "`) restricts "
              "the selection to those; `train.budget` decides which are tried (unset: auto, by the data's size: "
              f"each candidate after the first when the training split holds at most {AUTO_MAX_TOKENS / 1e6:g}M "
              "tokens, each to convergence; a number of seconds: a candidate is started only when its estimated "
              "seconds and a refit fit; null: every one). The other commands "
              "(and torchrun) train the default recipe, each key only where the config does not set it: "
              + "; ".join(f"`{section}`: " + ", ".join(f"`{k}` {json.dumps(v)}" for k, v in values.items())
                          for section, values in DEFAULT_RECIPE.items())
              + f". Unless the config sets `minn` or `maxn`, the training data then decide the rest: when the "
              f"training texts average at most {SHORT_TEXT_TOKENS} tokens, training adds "
              + ", ".join(f"`{k}` {v}" for k, v in SHORT_TEXT_MODEL.items())
              + " (character n-grams) and, for a multiclass task unless the config sets it, "
              + ", ".join(f"`train.{k}` {v}" for k, v in SHORT_TEXT_TRAIN.items())
              + ", and unless the config sets it "
              + ", ".join(f"`preprocess.{k}` {v}" for k, v in SHORT_TEXT_PREPROCESS.items())
              + " (symbols as tokens; the data are encoded again with it)"
              + "; the run's config.yaml records the outcome (`model.auto` false and the chosen "
              "`minn`/`maxn`). `train.min_steps` comes with the recipe only when the config sets no "
              "`train.epochs`.", ""]
    for model in list_models():
        params = params_class(model)
        parts += [f"### `{model}`", "", header, *_rows(params, "model."), ""]
    return "\n".join(parts).replace("\n\n\n", "\n\n")
