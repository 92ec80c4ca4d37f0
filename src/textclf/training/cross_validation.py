"""Cross-validated choice: when the validation split is small, score each default candidate on
out-of-fold predictions over train + val instead.

With 8 labelled texts a class, a 10 % validation split holds one or two documents of each, and
the candidates' validation accuracies can only be a few values apart: the choice is a coin. With
a hundred or a few hundred, the candidates are often a few documents apart, which is still noise.
The selection (``training/select.py``) then trains each candidate as usual (on train, its epochs or
its C chosen on val), and also k times more with its C fixed and no early stopping, as its refit
would train it (``training/refit.py``: ``refit_config``), each time on all of train + val but one
fold (stratified), for the epochs its held-out run trained, predicting that fold after each epoch.
Every document of train + val is then predicted once by a model that did not train on it, at
every epoch count: the count that scores best over all of them is the candidate's (``best_epoch``:
what its refit trains), and the candidates, and a greedy ensemble of them, are compared on those
predictions rather than on val's. scikit-learn's ``cross_val_predict`` and AutoGluon's bagging
do the same.

Each fold's vocabulary is the candidate's own (fitted on train), but its TF-IDF weights are fitted
on the fold's training documents (``PreparedData.fitted_on``): a word that only the held-out fold
holds weighs 0, as a word that train never had does at prediction time.

The fold runs are in ``folds/<k>/`` of the candidate's run folder (config, metrics, TensorBoard
and train.log; no checkpoint: ``recipe.train(checkpoints=False)`` neither copies nor writes the
weights, which for a bag was half of a fold run's time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from textclf.artifact import ModelArtifact
from textclf.config import Config
from textclf.evaluation.metrics import cross_entropy
from textclf.text.encoding import EncodedSplit, concatenate, subset
from textclf.text.prepare import PreparedData
from textclf.training.refit import refit_config
from textclf.training.side_by_side import logged

__all__ = ["FOLDS", "FEWER_FOLDS", "FEWER_FOLDS_FROM", "auto_folds", "fold_plan", "pooled", "fold_config",
           "fold_logits", "assembled", "out_of_fold_logits", "best_epoch"]

# Folds of train + val under train.cv_folds auto (fewer when a class has fewer documents than
# that): FOLDS on a validation split of fewer than FEWER_FOLDS_FROM examples, FEWER_FOLDS from
# there. Each fold trains on (k - 1) / k of the documents: with little data that share counts (at
# 125-128 validation examples 3 folds scored 0.42 points below 5 on held-out texts), with more it
# no longer does (at 500: -0.05, standard error 0.18) while the fold runs' seconds do (0.71 x the
# selection's with 5; docs/architecture.md, "Cross-validated choice").
FOLDS = 5
FEWER_FOLDS, FEWER_FOLDS_FROM = 3, 500


def auto_folds(val_examples: int) -> int:
    """How many folds ``train.cv_folds: auto`` divides train + val into, by the validation
    split's size."""
    return FOLDS if val_examples < FEWER_FOLDS_FROM else FEWER_FOLDS


def pooled(prepared: PreparedData) -> EncodedSplit:
    """Train and val as one split, in that order: what the folds divide."""
    return concatenate([prepared.splits["train"], prepared.splits["val"]])


def fold_plan(labels: np.ndarray, folds: int, seed: int) -> list[np.ndarray] | None:
    """The held-out documents of each of ``folds`` stratified folds of ``labels`` (train + val's),
    as index arrays, or None when no plan can hold.

    Multiclass (``labels`` (n,)): fewer folds when the smallest class has fewer documents, and
    None when it has only one (no fold could hold it out and still train on it). Multi-label
    (``labels`` (n, C) 0/1): each document is stratified by the rarest class it carries (a
    document with none by itself), so a rare class's few documents are spread over the folds; a
    class with a single document is still predicted out of fold, by models that never saw it, as
    the refit will meet such classes. Fewer folds only when there are fewer documents."""
    import warnings

    from sklearn.model_selection import KFold, StratifiedKFold

    labels = np.asarray(labels)
    if labels.ndim == 2:
        folds = min(folds, len(labels))
        if folds < 2:
            return None
        strata = _rarest_class(labels.astype(bool))
        if np.bincount(strata).max() < folds:  # (no stratum fills the folds: plain shuffled folds)
            splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
        else:
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        with warnings.catch_warnings():  # ("the least populated class has only N members": meant so)
            warnings.simplefilter("ignore", UserWarning)
            return [held for _, held in splitter.split(np.zeros(len(labels)), strata)]
    counts = np.bincount(labels)
    present = counts[counts > 0]
    folds = min(folds, int(present.min()) if present.size else 0)
    if folds < 2:
        return None
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [held for _, held in splitter.split(np.zeros(len(labels)), labels)]


def _rarest_class(truth: np.ndarray) -> np.ndarray:
    """(n,) int: each row of the (n, C) bool ``truth`` as its rarest class over all rows (ties:
    the lower index), and C for a row with no class."""
    counts = truth.sum(0)
    ranked = np.where(truth, counts[None, :], np.iinfo(np.int64).max)
    return np.where(truth.any(1), ranked.argmin(1), truth.shape[1])


def fold_config(config: Config, checkpoint: Path) -> Config:
    """What every fold run of a candidate trains: ``config`` with the settings its held-out run
    (``checkpoint``) chose on val, as its refit trains it."""
    return refit_config(config, ModelArtifact.load(checkpoint))


def fold_logits(fixed: Config, prepared: PreparedData, held: np.ndarray, epochs: int, train: Callable,
                run_dir: Path, on_epoch: Callable[[dict], None] | None = None) -> np.ndarray:
    """(epochs, len(held), classes) logits of the ``held`` documents of train + val (``pooled``
    order) after each of ``epochs`` epochs of ``fixed`` (``fold_config``), trained with ``train``
    (the recipe's) on all the others (a solver: its one pass, the same at every epoch). Its run
    folder is ``run_dir``, its output that folder's train.log."""
    pool = pooled(prepared)
    rest = np.setdiff1d(np.arange(len(pool)), held)
    fold_train, fold_val = subset(pool, rest), subset(pool, held)
    data = PreparedData(prepared.label_names, prepared.pipeline,
                        {**prepared.splits, "train": fold_train, "val": fold_val}, prepared.from_cache,
                        fitted_on=fold_train)
    seen = {}
    logged(lambda share: train(fixed, run_dir=run_dir, prepared=data, progress=False, final_evaluation=False,
                               resumable=False, checkpoints=False, until_epoch=epochs, data_statistics=False,
                               on_epoch=share, on_validation=lambda epoch, predicted: seen.__setitem__(epoch, predicted)),
           run_dir, on_epoch)
    return np.stack([seen[min(epoch, max(seen))] for epoch in range(1, epochs + 1)])


def assembled(parts: list[np.ndarray], plan: list[np.ndarray]) -> np.ndarray:
    """(epochs, n, classes): each fold's ``fold_logits`` in its documents' rows of train + val."""
    n = sum(len(held) for held in plan)
    logits = np.zeros((parts[0].shape[0], n, parts[0].shape[2]), dtype=np.float32)
    for held, part in zip(plan, parts):
        logits[:, held] = part
    return logits


def out_of_fold_logits(config: Config, prepared: PreparedData, checkpoint: Path, epochs: int,
                       train: Callable, folder: Path, plan: list[np.ndarray]) -> np.ndarray:
    """(epochs, n, classes) logits of train + val (``pooled`` order) after each of ``epochs``
    epochs, each row from the model trained with ``train`` (the recipe's) on the other folds of
    ``plan``: ``config`` with the settings the held-out run (``checkpoint``) chose on val, its
    schedule run for ``epochs`` epochs (a solver: its one pass), one fold after the other in this
    process. (The selection runs each ``fold_logits`` as a call of its own, which side by side
    goes to whichever worker is free: ``training/select.py``.)"""
    fixed = fold_config(config, checkpoint)
    parts = []
    for k, held in enumerate(plan, 1):
        parts.append(fold_logits(fixed, prepared, held, epochs, train, folder / str(k)))
    return assembled(parts, plan)


def best_epoch(logits: np.ndarray, labels: np.ndarray, score: Callable[[np.ndarray, np.ndarray], float],
               loss: Callable[[np.ndarray, np.ndarray], float] = cross_entropy) -> int:
    """The epoch (from 1) whose out-of-fold ``logits`` (``out_of_fold_logits``) ``score`` best
    (larger is better); ties go to the lower ``loss`` (cross-entropy; multi-label the task's
    binary one): the choice val made on a few documents, where the first epoch that got them all
    right kept its place however little it had trained, is made again on all of train + val."""
    return 1 + min(range(len(logits)), key=lambda e: (-score(logits[e], labels), loss(logits[e], labels)))
