"""What the default recipe decides from the training data: character n-grams, label smoothing
and a tokenizer that keeps symbols, for short texts.

A config that names no model gets ``config.DEFAULT_RECIPE`` and ``model.chars_if_short``. Once
the data are prepared, :func:`resolve_default_recipe` looks at the training split: when its
documents average at most ``SHORT_TEXT_TOKENS`` tokens, the model also gets ``SHORT_TEXT_MODEL``
(character 2–5-grams), training ``SHORT_TEXT_TRAIN`` (label smoothing 0.1) and preprocessing
``SHORT_TEXT_PREPROCESS`` (the ``wordpunct`` tokenizer), each unless the config sets it. Short
texts are where character n-grams help most (misspellings, word forms, numbers and names seen
once) and cost least (few distinct words per document); on long ones they multiply the training
time for little or nothing, and label smoothing cost 20 Newsgroups about 0.1 points where it
gained SMS spam about 0.2. Symbols as tokens gained the short sets 0.1–0.7 points and cost
20 Newsgroups 0.3–0.7, whose headers and quoted lines are full of them (docs/architecture.md,
"The default recipe"). A changed tokenizer means the data are encoded again
(:func:`prepare_with_recipe`, which the runs and ``textclf data`` use).

The decision is written into the config that the run folder, the checkpoints and the model
artifact keep (``chars_if_short`` becomes false; ``minn``/``maxn``, ``train.label_smoothing`` and
``preprocess.tokenizer`` hold the outcome), so a resumed run, a loaded model and a rerun of the
saved config.yaml all build the same model.
"""

from __future__ import annotations

import sys

import numpy as np

from textclf.config import (
    SHORT_TEXT_MODEL,
    SHORT_TEXT_PREPROCESS,
    SHORT_TEXT_TOKENS,
    SHORT_TEXT_TRAIN,
    Config,
    ModelConfig,
)
from textclf.text.pipeline import TextPipeline
from textclf.text.prepare import PreparedData, prepare_data

__all__ = ["resolve_default_recipe", "prepare_with_recipe"]


def prepare_with_recipe(config: Config, prepared: PreparedData | None = None,
                        quiet: bool = False) -> tuple[Config, PreparedData]:
    """The config with the default recipe decided (a no-op for a config that names its model)
    and the data as its run trains on them: encoded again when the recipe chose another
    tokenizer than the one that encoded ``prepared`` (from the cache when present)."""
    prepared = prepared or prepare_data(config)
    config = resolve_default_recipe(config, prepared.splits["train"].lengths, quiet=quiet)
    pipeline = prepared.pipeline
    if isinstance(pipeline, TextPipeline) and pipeline.tokenizer.settings()["name"] != config.preprocess.tokenizer:
        prepared = prepare_data(config)
    return config, prepared


def resolve_default_recipe(config: Config, train_lengths: np.ndarray, quiet: bool = False) -> Config:
    """``config`` with ``model.chars_if_short`` decided from the training documents' token counts."""
    if not config.model.chars_if_short:
        return config
    mean = float(np.mean(train_lengths)) if len(train_lengths) else 0.0
    short = mean <= SHORT_TEXT_TOKENS
    params = config.model.params()
    train, pre = config.train, config.preprocess
    if short:
        params.update(SHORT_TEXT_MODEL)
        if config.task == "multiclass":  # (label smoothing is cross-entropy's)
            train = _fill(train, SHORT_TEXT_TRAIN)
        pre = _fill(pre, SHORT_TEXT_PREPROCESS)
    if not quiet:
        chosen = (f"character {SHORT_TEXT_MODEL['minn']}–{SHORT_TEXT_MODEL['maxn']}-grams on, label smoothing "
                  f"{train.label_smoothing:g}, tokenizer {pre.tokenizer}" if short else "no character n-grams")
        print(f"default recipe: training texts average {mean:.0f} tokens "
              f"({'at most' if short else 'more than'} {SHORT_TEXT_TOKENS}): {chosen}", file=sys.stderr)
    model = ModelConfig(name=config.model.name, chars_if_short=False, **params)
    return config.model_copy(update={"model": model, "train": train, "preprocess": pre})


def _fill(section, values: dict):
    """``section`` with ``values`` for the keys the config did not give."""
    own = section.model_fields_set
    return section.model_copy(update={k: v for k, v in values.items() if k not in own})
