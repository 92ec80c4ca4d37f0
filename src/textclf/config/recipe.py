"""What a config that names no model is filled with (``model.auto``): the default recipe's keys,
each only where the config does not set it. ``textclf train`` then chooses the model on the
validation split among the candidates of ``training/candidates.py``; ``data``, ``sanity``,
``lr-find``, ``search`` and torchrun train this recipe (``training/default_recipe.py`` decides its
data-dependent part). Plain dicts in and out: the schema (``schema.py``) reads only
``DEFAULT_RECIPE``'s model name.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_RECIPE", "SHORT_TEXT_TOKENS", "SHORT_TEXT_MODEL", "SHORT_TEXT_TRAIN", "SHORT_TEXT_PREPROCESS",
           "apply_default_recipe"]

# What a config without a ``model`` section trains: hashed word uni+bigrams with sublinear TF-IDF
# weights (fastText-style, the bag_of_ngrams model) and the settings it needs, each one only where
# the config does not set it. Chosen for accuracy on data nobody tuned it for at a cost close to
# TF-IDF + LinearSVC's (benchmarks/RESULTS.md, "peers": the "mean of 3 train seeds" rows); a
# config that names a model gets that model's own defaults instead.
DEFAULT_RECIPE: dict[str, dict[str, Any]] = {
    "preprocess": {"max_seq_len": 3000, "max_size": 200000, "digits_to_zero": True},
    # Four members of 32 columns: an ensemble of four, for about the cost of one 128-wide model
    # (a batch reads the same table rows).
    "model": {"name": "bag_of_ngrams", "embedding_dim": 32, "members": 4, "ngrams": 2, "buckets": 200000,
              "tfidf": True, "dropout": 0.5},
    # At least 3 epochs and 200 steps (min_steps: only when the config sets no epochs of its
    # own): 20 Newsgroups' 236 steps an epoch get 3 epochs, a set of 1,500 documents 8.
    "train": {"lr": 0.005, "batch_size": 64, "epochs": 3, "min_steps": 200},
}
# ... and, when the training texts are short (at most this many tokens on average), character
# n-grams and label smoothing as well: there they gain most and cost little
# (training/default_recipe.py decides, once the data are encoded; label smoothing only where the
# config does not set it).
SHORT_TEXT_TOKENS = 100
SHORT_TEXT_MODEL: dict[str, Any] = {"minn": 2, "maxn": 5}
SHORT_TEXT_TRAIN: dict[str, Any] = {"label_smoothing": 0.1}
# ... and symbols as tokens of their own (a currency sign, "!!", ":)"), which long posts'
# headers and quoting turn into noise (each only where the config does not set it).
SHORT_TEXT_PREPROCESS: dict[str, Any] = {"tokenizer": "wordpunct"}


def apply_default_recipe(raw: dict) -> None:
    """Fill a raw config whose ``model`` section is missing or names no model from
    :data:`DEFAULT_RECIPE` in place (the config's own keys win)."""
    model = raw.get("model")
    if not (model is None or isinstance(model, dict) and "name" not in model):
        return
    own_epochs = isinstance(raw.get("train"), dict) and "epochs" in raw["train"]
    for section, values in DEFAULT_RECIPE.items():
        current = raw.get(section)
        if current is None:
            current = raw[section] = {}
        if isinstance(current, dict):
            for key, value in values.items():
                if not (key == "min_steps" and own_epochs):  # the config's epochs are what it wants
                    current.setdefault(key, value)
    if not any(key in raw["model"] for key in SHORT_TEXT_MODEL):  # a dict now, even if `model:` was empty
        raw["model"]["chars_if_short"] = True
    raw["model"]["auto"] = True
