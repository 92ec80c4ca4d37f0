"""What the default recipe decides from the training data: character n-grams and label
smoothing for short texts.

A config that names no model gets ``config.DEFAULT_RECIPE`` and ``model.chars_if_short``. Once
the data are prepared, :func:`resolve_default_recipe` looks at the training split: when its
documents average at most ``SHORT_TEXT_TOKENS`` tokens, the model also gets ``SHORT_TEXT_MODEL``
(character 2–5-grams) and training ``SHORT_TEXT_TRAIN`` (label smoothing 0.1, unless the config
sets it). Short texts are where character n-grams help most (misspellings, word forms, numbers
and names seen once) and cost least (few distinct words per document); on long ones they
multiply the training time for little or nothing, and label smoothing cost 20 Newsgroups about
0.1 points where it gained SMS spam about 0.2 (docs/architecture.md, "The default recipe").

The decision is written into the config that the run folder, the checkpoints and the model
artifact keep (``chars_if_short`` becomes false, ``minn``/``maxn`` and ``train.label_smoothing``
hold the outcome), so a resumed
run, a loaded model and a rerun of the saved config.yaml all build the same model.
"""

from __future__ import annotations

import sys

import numpy as np

from textclf.config import (
    SHORT_TEXT_MODEL,
    SHORT_TEXT_TOKENS,
    SHORT_TEXT_TRAIN,
    Config,
    ModelConfig,
)

__all__ = ["resolve_default_recipe"]


def resolve_default_recipe(config: Config, train_lengths: np.ndarray, quiet: bool = False) -> Config:
    """``config`` with ``model.chars_if_short`` decided from the training documents' token counts."""
    if not config.model.chars_if_short:
        return config
    mean = float(np.mean(train_lengths)) if len(train_lengths) else 0.0
    short = mean <= SHORT_TEXT_TOKENS
    params = config.model.params()
    train = config.train
    if short:
        params.update(SHORT_TEXT_MODEL)
        if config.task == "multiclass":  # (label smoothing is cross-entropy's)
            own = train.model_fields_set  # the keys the config gave
            train = train.model_copy(update={k: v for k, v in SHORT_TEXT_TRAIN.items() if k not in own})
    if not quiet:
        chosen = (f"character {SHORT_TEXT_MODEL['minn']}–{SHORT_TEXT_MODEL['maxn']}-grams on, label smoothing "
                  f"{train.label_smoothing:g}" if short else "no character n-grams")
        print(f"default recipe: training texts average {mean:.0f} tokens "
              f"({'at most' if short else 'more than'} {SHORT_TEXT_TOKENS}): {chosen}", file=sys.stderr)
    model = ModelConfig(name=config.model.name, chars_if_short=False, **params)
    return config.model_copy(update={"model": model, "train": train})
