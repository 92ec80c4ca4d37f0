"""Refit: once a run has chosen its epochs on the validation split, train again on train + val.

Choosing a model, its epoch and its decision settings needs documents it does not train on; the
model a user keeps does not have to leave them out. A small data set loses the most by it: a
validation split carved out of 5,000 labelled texts is 500 the final model never sees, while a
user fitting TF-IDF + LinearSVC by hand trains on all of them. With ``train.refit`` (on for the
winner of a default selection) a finished run

1. is evaluated on val as it stands: those are the run's honest validation metrics, and the
   temperature (multiclass) and decision thresholds (multilabel) are fitted there as before;
2. trains its config again from scratch on train + val together, for the held-out run's best
   number of epochs of the same learning-rate schedule (a solver: its one pass), without early
   stopping or budget, and keeps the last epoch;
3. that model, carrying the held-out run's config, temperature, thresholds and epoch record,
   becomes ``checkpoints/best.ckpt``; test is evaluated on it.

The refit run's config, metrics and TensorBoard events stay in ``refit/`` of the run folder (its
checkpoint is the run's). AutoGluon's ``refit_full`` is the same idea.

The vocabulary stays the one fitted on train: words seen only in val are unknown to both models
alike. So do the TF-IDF weights (``PreparedData.fitted_on``): a feature the training split never
had weighs 0 in both. Fitted on train + val, they had given weight to what only the val documents
hold, ``<unk>`` above all (with ``min_freq: 1`` train has none, and every val word outside the
vocabulary is one), and the refit learnt its weight from the val documents alone: a feature of the
documents that happened to be val, which in use marks every text with a new word
(``docs/architecture.md``, "Refit on train + val").
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Callable

from textclf.artifact import ModelArtifact
from textclf.config import Config, config_from_dict
from textclf.errors import UsageError
from textclf.models.base import SOLVER_SETTING
from textclf.run_layout import RunLayout
from textclf.text.encoding import concatenate
from textclf.text.prepare import PreparedData

__all__ = ["check_refit", "refit_config", "refit_run"]


def check_refit(config: Config, distributed: bool) -> None:
    """A one-line error, before anything runs, for a refit that cannot be done as asked."""
    if not config.train.refit:
        return
    if distributed:
        raise UsageError("train.refit: a refit trains a second time, in one process; run it without torchrun, "
                         "or set train.refit: false")


def refit_config(config: Config, held_out: ModelArtifact) -> Config:
    """``config`` as its refit trains it: the same model, data settings and schedule; what the
    held-out run chose on val among several (a list of ``model.C`` or ``model.alpha``) fixed to its
    choice; no early stopping, budget or MLflow run of its own, and no refit of the refit."""
    raw = config.model_dump(mode="json")
    for key in SOLVER_SETTING.values():
        if isinstance(raw["model"].get(key), list):
            raw["model"][key] = held_out.model_params[key]
    raw["train"].update(early_stopping_patience=None, budget=None, refit=False)
    raw["tracking"]["mlflow"] = None
    return config_from_dict(raw, source="refit of the run")


def refit_run(config: Config, prepared: PreparedData, run: RunLayout, best_epoch: int,
              train: Callable, progress: bool = True, history: list[dict] | None = None,
              ends: float | None = None, checkpoint: Path | None = None, folder: Path | None = None,
              on_epoch: Callable[[dict], None] | None = None, chosen: str | None = None) -> dict:
    """Train ``config`` on train + val of ``prepared`` for ``best_epoch`` epochs with ``train`` (the
    recipe's), and replace the run's best checkpoint by that model, which keeps the held-out
    model's config, temperature, thresholds and epoch record. What was done, for results.json.

    ``ends`` (a ``time.perf_counter()``: where ``train.budget`` runs out): a refit that would not finish by
    then, by the held-out run's own epoch seconds (``history``) scaled to the larger training
    split, is skipped and the held-out model kept; the run says so.

    ``checkpoint`` and ``folder`` (an ensemble's member: ``training/ensemble.py``): the held-out
    checkpoint to replace and the refit run's folder, instead of the run's best checkpoint and
    ``refit/``. ``chosen``: where ``best_epoch`` comes from, when not the held-out run's best (a
    cross-validated selection's: ``training/cross_validation.py``; the held-out checkpoint then
    carries the temperature fitted out of fold)."""
    checkpoint = run.best_checkpoint if checkpoint is None else checkpoint
    folder = run.refit if folder is None else folder
    splits = prepared.splits
    both = concatenate([splits["train"], splits["val"]])
    if ends is not None and history:
        needed = sum(h["epoch_seconds"] for h in history[:best_epoch]) * len(both) / len(splits["train"])
        left = ends - time.perf_counter()
        if needed > left:
            reason = (f"train.budget has {max(left, 0):.0f} s left and the refit would take about {needed:.0f} s: "
                      "the held-out model is kept")
            print(f"refit skipped: {reason}", file=sys.stderr, flush=True)
            return {"skipped": reason}
    held_out = ModelArtifact.load(checkpoint)
    data = PreparedData(prepared.label_names, prepared.pipeline, {**splits, "train": both}, prepared.from_cache,
                        fitted_on=splits["train"])
    fitted = "thresholds" if config.task == "multilabel" else "temperature"  # (what a selection may fit out of fold)
    kept = (f"val metrics and {fitted} stay the held-out run's" if chosen is None else
            f"val metrics stay the held-out run's, the {fitted} the cross-validation's")
    chosen = chosen or "the held-out run's best"
    print(f"refit: training {config.model.name} again on train + val ({len(both):,} examples) for "
          f"{best_epoch} epoch{'s' * (best_epoch != 1)}, {chosen}; {kept}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    train(refit_config(config, held_out), run_dir=folder, prepared=data, progress=progress, final_evaluation=False,
          resumable=False, until_epoch=best_epoch, on_epoch=on_epoch, data_statistics=False)
    refitted = RunLayout(folder)
    artifact = ModelArtifact.load(refitted.best_checkpoint)
    artifact.config, artifact.metrics = held_out.config, held_out.metrics
    artifact.temperature, artifact.thresholds = held_out.temperature, held_out.thresholds
    artifact.save(checkpoint)
    shutil.rmtree(refitted.checkpoints, ignore_errors=True)
    return {"epochs": best_epoch, "train_examples": len(both), "seconds": time.perf_counter() - started}
