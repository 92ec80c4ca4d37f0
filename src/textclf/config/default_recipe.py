"""The default recipe, in one place: what a config that names no model gets.

1. **Config time** (:func:`apply_default_recipe`, from the loader): a config whose ``model``
   section is missing or names no model is marked ``model.auto`` and filled from
   :data:`DEFAULT_RECIPE`, each key only where the config does not set it.
2. **``textclf train``** trains every one of :data:`CANDIDATES` (``training/select.py``), each
   over the user's config (:func:`candidate_raw`: the config's own keys win) with
   :data:`SELECTION_TRAIN` (to convergence), and keeps the best on the validation split (or a
   weighted mean of several, when it is better there: ``training/ensemble.py``); the run's
   config.yaml names the winner, so rerunning it trains that model directly.
3. **Every other command** (``data``, ``sanity``, ``lr-find``, ``search``, torchrun) trains
   :data:`DEFAULT_RECIPE`'s bag, completed from the data (:func:`decide_from_data`, once the
   training split is encoded): short texts get character n-grams, label smoothing and symbols as
   tokens. The outcome is written into the config (``model.auto`` false), so a resumed run, a
   loaded model and a rerun of the saved config.yaml build the same model.

Plain data and plain functions: adding a candidate is adding an entry to :data:`CANDIDATES`.
Why these values: docs/architecture.md, "The default recipe" and "The default as a selection";
the measurements are in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from textclf.config.schema import Config

__all__ = ["DEFAULT_RECIPE", "SHORT_TEXT_TOKENS", "SHORT_TEXT_MODEL", "SHORT_TEXT_TRAIN", "SHORT_TEXT_PREPROCESS",
           "Candidate", "CANDIDATES", "SELECTION_TRAIN", "AUTO_MAX_TOKENS", "NB_MIN_DOCUMENTS", "COST_START_SECONDS",
           "apply_default_recipe", "decide_from_data", "candidate_raw"]

# ---------------------------------------------------------------------------------------- 1. fill

# Hashed word uni+bigrams with sublinear TF-IDF weights in a low-rank bag: four members of 32
# columns, an ensemble for about the cost of one 128-wide model (a batch reads the same rows).
DEFAULT_RECIPE: dict[str, dict[str, Any]] = {
    "preprocess": {"max_seq_len": 3000, "max_size": 200000, "digits_to_zero": True},
    "model": {"name": "bag_of_ngrams", "embedding_dim": 32, "members": 4, "ngrams": 2, "buckets": 200000,
              "tfidf": True, "dropout": 0.5},
    # At least 3 epochs and 200 optimizer steps, so that small sets are not under-trained;
    # min_steps only when the config sets no epochs of its own (its epochs are what it wants).
    "train": {"lr": 0.005, "batch_size": 64, "epochs": 3, "min_steps": 200},
}


def apply_default_recipe(raw: dict) -> None:
    """Fill a raw config whose ``model`` section is missing or names no model from
    :data:`DEFAULT_RECIPE` in place, and mark it ``model.auto`` (the config's own keys win)."""
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
                if not (key == "min_steps" and own_epochs):
                    current.setdefault(key, value)
    raw["model"]["auto"] = True


# ------------------------------------------------------------------------------- 2. the selection

# Every candidate trains until its validation metric has not improved for `patience` epochs; the
# winner is then trained again on train + val for its best epoch count (training/refit.py): the
# validation split chose it, and the model kept need not leave those examples out (a user's
# TF-IDF + LinearSVC trains on all of them).
SELECTION_TRAIN: dict[str, Any] = {"epochs": 40, "early_stopping_patience": 2, "min_steps": None, "refit": True,
                                   "budget": "auto"}

# train.budget auto decides which candidates are tried from the data's size, not from seconds, so
# that the same data gets the same candidates on any machine: a candidate is tried when the
# training split holds at most its `max_tokens` tokens, and each one tried trains to convergence
# (early stopping) without a deadline. AUTO_MAX_TOKENS: the larger sets keep to the linear
# models' cost (linear and linear_nb), since a bag there takes several times that for a few
# tenths of a point (20NG bydate: 2.96M tokens, random: 4.35M; the run's budget line gives the
# count); the largest benchmark set that gains from the others holds 0.58M (GoEmotions,
# multi-label). As a budget in seconds (3 x the first candidate's, at least 50 s) the same code
# tried fewer candidates on a slower day: on the 5 small news groups bag_chars on one day and not
# the next, on full GoEmotions linear_chars likewise (docs/architecture.md, "The data's size
# decides what is tried").
AUTO_MAX_TOKENS = 1_500_000

_WORDS = {"ngrams": 2, "buckets": 200000}
# C: fitted from 1 down until a value scores lower on val, the best kept (ties: the smaller). Character n-grams and short
# texts want more regularisation than liblinear's C = 1, long posts do not, and more regularised
# fits converge faster (docs/architecture.md, "solver: svm"; benchmarks/candidate_settings.py).
_SVM = {"name": "linear", "solver": "svm", "C": [0.1, 0.3, 1.0]}
# A word outside the vocabulary (unseen in training, or below min_freq) brings its character
# n-grams too, as fastText's unknown words do (text/unknown_subwords.py). On validation
# (benchmarks/oov_subwords.py, RESULTS.md "oov-subwords") it gained up to 2.4 points for linear_chars
# and 4.2 for bag_chars where many validation words are new (short texts: subject lines, titles),
# and lost at most 1 validation example of 100 (few-example news) and 0.4 points (GoEmotions
# sentiment, bag_chars); multi-label micro-F1 moved by -0.21 to +0.84 points.
_CHARS = {"minn": 2, "maxn": 5, "char_buckets": 200000, "unknown_chars": True}
# For a multiclass task the linear model with character n-grams keeps a word seen once in the
# training split as a feature of its own (min_freq 1; the default 2 makes it <unk>, and every
# word n-gram it is in a bigram of <unk>): on validation it was ahead on 8 of 10 single-label
# benchmark sets and behind by at most 0.24 points on the other two, but behind on multi-label
# GoEmotions by 2.0 points of micro-F1 (benchmarks/candidate_settings.py --variant
# minfreq1:preprocess.min_freq=1; docs/architecture.md, "Rare words").
_RARE_WORDS = {"min_freq": 1}
_BAG = {**DEFAULT_RECIPE["model"], **_WORDS}
# On a multi-label task the bags weigh each label's positive documents by (n - count) / count
# (binary cross-entropy's pos_weight): a low-rank bag trained unweighted all but stopped
# predicting rare labels (GoEmotions, 3,000 comments: validation micro/macro-F1 0.2549 / 0.0156
# unweighted, 0.3868 / 0.2651 weighted; 20news-merged 0.6797 / 0.2154 and 0.7109 / 0.2718). The
# linear models keep none: for them it was mixed (20news-merged lower on both F1s).
# benchmarks/multilabel_thresholds.py, RESULTS.md "multilabel-thresholds".
_RARE_LABELS = {"class_weights": "balanced"}


@dataclass(frozen=True)
class Candidate:
    """A partial config: ``model`` names the model; the sections hold only what it changes."""

    name: str
    model: dict[str, Any]
    train: dict[str, Any] = field(default_factory=dict)
    preprocess: dict[str, Any] = field(default_factory=dict)
    # Train settings for a multiclass task only (label smoothing is cross-entropy's).
    multiclass_train: dict[str, Any] = field(default_factory=dict)
    # ... and for a multilabel task only.
    multilabel_train: dict[str, Any] = field(default_factory=dict)
    # Preprocessing settings for a multiclass task only.
    multiclass_preprocess: dict[str, Any] = field(default_factory=dict)
    # About how many times the first candidate's seconds this one trains for (on validation runs
    # of the benchmark sets: benchmarks/candidate_settings.py). Under a train.budget in seconds the
    # selection starts it only if that estimate, and a refit as long, fit in the seconds left.
    cost: float = 1.0
    # Under train.budget auto, tried only on a training split of at most this many tokens (None:
    # on any).
    max_tokens: int | None = None
    # ... and only on a training split of at least this many documents (None: on any).
    min_documents: int | None = None


# (A budget in seconds.) The costs are ratios to the first candidate's seconds as they were measured
# while its run still built a torch optimizer, and so imported torch's compiler stack (0.9 s here),
# as every other candidate's run does and a solver's run no longer does. The estimate adds those
# seconds back to the first candidate's, so that the costs keep their meaning: without them, on
# GoEmotions sentiment the estimates fell to a third to a half of what the candidates took,
# bag_chars was started and the winner's refit no longer fitted in the budget (68.95 % on test
# against 69.76 %; on the 8 benchmark sets that start the others, they took 4-100 x the faster first
# one's seconds: benchmarks/peers.py at 37cf9c2).
COST_START_SECONDS = 0.9

# linear_nb's smallest training split under train.budget auto: its ratios come from each class's
# document counts, and with fewer documents they were noise. On 20 groups x 35 training posts its
# validation accuracy was 11 points below linear's, and on held-out texts of 8 few-shot cells (16
# and 64 examples a class of GoEmotions polarity and sentiment, SMS and news leads: 32-256
# training documents) the default with it was level on 5 and lower on 3 (-0.53 points on average:
# benchmarks/fewshot.py --held-out 1000, with and without it). On the benchmark sets of 1,247
# documents (20news-merged, multi-label) and more, test accuracy with it moved by -0.48 to +1.10
# points, up on 6 of the 10 single-label sets (benchmarks/peers.py).
NB_MIN_DOCUMENTS = 1_000

# Trained in this order (cheapest first), on the same split; ``cost``: each one's training seconds
# over the linear model's, the median over the benchmark sets (benchmarks/candidate_settings.py).
# - linear: one weight per feature per class on sublinear TF-IDF word uni+bigrams (models/linear.py),
#   the hypothesis class of TF-IDF + LinearSVC, fitted by its solver (liblinear, one pass, C chosen on val):
#   every class keeps weights of its own, which many rare classes need. On validation it was ahead
#   of the same model trained by the epoch loop on most sets, in a fraction of the time
#   (docs/architecture.md; benchmarks/candidate_settings.py).
# - linear_nb: the same SVMs, each on the features scaled by its class's Naive Bayes log-count
#   ratios (NBSVM, Wang & Manning 2012; training/solver.py), tried on large sets too, like linear:
#   on validation it was ahead of linear by 1.06 points on 20 Newsgroups bydate and 0.31 on the
#   random split, up to 3.0 on news leads, and behind on short texts (subject lines by 1.06) and
#   on 35 posts a class (by 11: the ratios of few documents are noise), so it is a candidate
#   beside linear, not in its place, and under train.budget auto only from NB_MIN_DOCUMENTS
#   training documents (docs/architecture.md, "NBSVM").
# - *_chars: the same with each word's character 2–5-grams and symbols as tokens (wordpunct), for
#   short and noisy texts: misspellings, word forms, "!!", "£"; linear_chars also keeps words seen
#   once on a multiclass task (_RARE_WORDS).
# - bag: the low-rank bag of the same features (models/bag_of_ngrams.py), which generalises better
#   where classes share words.
CANDIDATES: list[Candidate] = [
    Candidate("linear", {**_SVM, **_WORDS}),
    Candidate("linear_nb", {**_SVM, "solver": "nbsvm", **_WORDS}, cost=1.2, min_documents=NB_MIN_DOCUMENTS),
    Candidate("linear_chars", {**_SVM, **_WORDS, **_CHARS}, {}, {"tokenizer": "wordpunct"},
              multiclass_preprocess=_RARE_WORDS, cost=4.0, max_tokens=AUTO_MAX_TOKENS),
    Candidate("bag", _BAG, {"lr": 0.005, "batch_size": 64}, multilabel_train=_RARE_LABELS, cost=4.5,
              max_tokens=AUTO_MAX_TOKENS),
    Candidate("bag_chars", {**_BAG, **_CHARS}, {"lr": 0.005, "batch_size": 64}, {"tokenizer": "wordpunct"},
              multiclass_train={"label_smoothing": 0.1}, multilabel_train=_RARE_LABELS, cost=12.0,
              max_tokens=AUTO_MAX_TOKENS),
]


def candidate_raw(config: "Config", candidate: Candidate) -> dict:
    """The raw config a candidate trains: ``config`` with the candidate's settings wherever the
    config does not set the key itself (its own model keys only where the candidate's model has
    them)."""
    from textclf.models.registry import params_class

    raw = config.model_dump(mode="json")
    accepted = params_class(candidate.model["name"]).model_fields
    model = dict(candidate.model)
    for key, value in config.model.params().items():
        if key in accepted and config.sets(f"model.{key}"):
            model[key] = value
    train = {**SELECTION_TRAIN, **candidate.train,
             **(candidate.multiclass_train if config.task == "multiclass" else candidate.multilabel_train)}
    preprocess = {**candidate.preprocess, **(candidate.multiclass_preprocess if config.task == "multiclass" else {})}
    for section, values in (("train", train), ("preprocess", preprocess)):
        raw[section].update({k: v for k, v in values.items() if not config.sets(f"{section}.{k}")})
    raw["model"] = model
    return raw


# ------------------------------------------------------------------- 3. the recipe, from the data

# When the training texts average at most this many tokens, the recipe's bag also gets character
# n-grams, label smoothing (multiclass) and symbols as tokens, each unless the config sets it:
# short texts are where character n-grams help most (misspellings, word forms, names seen once)
# and cost least, and where symbols carry meaning; long posts' headers and quoting turn symbols
# into noise and character n-grams into training time.
SHORT_TEXT_TOKENS = 100
SHORT_TEXT_MODEL: dict[str, Any] = {"minn": 2, "maxn": 5}
SHORT_TEXT_TRAIN: dict[str, Any] = {"label_smoothing": 0.1}
SHORT_TEXT_PREPROCESS: dict[str, Any] = {"tokenizer": "wordpunct"}


def decide_from_data(config: "Config", train_lengths: np.ndarray, quiet: bool = False) -> "Config":
    """``config`` with the recipe's data-dependent part decided from the training documents'
    token counts and ``model.auto`` false (a config that is not ``auto`` comes back unchanged)."""
    if not config.model.auto:
        return config
    params = config.model.params()
    train, pre = config.train, config.preprocess
    mean = float(np.mean(train_lengths)) if len(train_lengths) else 0.0
    short = mean <= SHORT_TEXT_TOKENS
    chars_own = any(config.sets(f"model.{k}") for k in SHORT_TEXT_MODEL)
    if short and not chars_own:
        params.update(SHORT_TEXT_MODEL)
        if config.task == "multiclass":
            train = _fill(config, "train", SHORT_TEXT_TRAIN)
        pre = _fill(config, "preprocess", SHORT_TEXT_PREPROCESS)
    if not quiet and not chars_own:
        chosen = (f"character {SHORT_TEXT_MODEL['minn']}–{SHORT_TEXT_MODEL['maxn']}-grams on, label smoothing "
                  f"{train.label_smoothing:g}, tokenizer {pre.tokenizer}" if short else "no character n-grams")
        print(f"default recipe: training texts average {mean:.0f} tokens "
              f"({'at most' if short else 'more than'} {SHORT_TEXT_TOKENS}): {chosen}", file=sys.stderr)
    model = type(config.model)(name=config.model.name, **params)  # (auto: false)
    return config.model_copy(update={"model": model, "train": train, "preprocess": pre})


def _fill(config: "Config", section: str, values: dict):
    """Section ``section`` of ``config`` with ``values`` for the keys the config did not set."""
    return getattr(config, section).model_copy(
        update={k: v for k, v in values.items() if not config.sets(f"{section}.{k}")})
