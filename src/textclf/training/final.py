"""After the epoch loop: evaluate the best checkpoint on val and test, write the summary and plots.

The best checkpoint is read back as a model artifact and run through the Predictor, the same
path that ``textclf evaluate`` and ``textclf predict`` take, so the numbers of a run are the
numbers its checkpoint gives anywhere. Before that, with ``train.calibration: temperature``
(multiclass), a temperature is fitted on the validation split and stored in the best checkpoint.
With ``train.refit`` the model is then trained again on train + val (``training/refit.py``), after
its val evaluation and before the test one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from textclf.config import Config
from textclf.evaluation.calibration import fitted_and_kept
from textclf.evaluation.evaluate import evaluate_encoded
from textclf.files import write_json
from textclf.inference import Predictor
from textclf.reporting.plots import plot_training_curves
from textclf.run_layout import RunLayout
from textclf.task import get_task
from textclf.text.prepare import PreparedData
from textclf.training.setup import RunSetup, feature_batches, features_folder

__all__ = ["TrainResult", "final_evaluation", "evaluate_run", "calibrate", "keep_thresholds"]

# The metrics of val and test that results.json repeats, by task.
_SUMMARY = {
    "multiclass": ("accuracy", "f1_macro", "loss", "loss_uncalibrated"),  # loss: after temperature scaling
    "multilabel": ("f1_micro", "f1_macro", "f1_samples", "subset_accuracy", "hamming_loss", "loss"),
}


@dataclass
class TrainResult:
    run_dir: Path
    best_epoch: int
    best_score: float
    history: list[dict] = field(default_factory=list)
    val_metrics: dict | None = None
    test_metrics: dict | None = None


def final_evaluation(setup: RunSetup, run: RunLayout, best_epoch: int, best_score: float,
                     history: list[dict], refit: Callable[[], dict] | None = None) -> TrainResult:
    return evaluate_run(setup.config, setup.prepared, setup.device, run, best_epoch, best_score, history, refit)


def evaluate_run(config: Config, prepared: PreparedData, device: torch.device, run: RunLayout, best_epoch: int,
                 best_score: float, history: list[dict], refit: Callable[[], dict] | None = None,
                 members: list[str] | None = None, member_data: list[PreparedData] | None = None,
                 timing: dict[str, float] | None = None, temperature: float | None = None,
                 thresholds: np.ndarray | None = None) -> TrainResult:
    """``final_evaluation`` of a run whose set-up is gone (the default selection's winner).
    ``refit`` (``refit.refit_run`` bound to the run) replaces the best checkpoint by the model
    trained on train + val once val is evaluated, and returns what it did. ``members``: the
    candidates of an ensemble checkpoint, named in results.json; ``member_data``: each one's
    encoded data, in the same order (members may tokenize differently). ``timing``: seconds the
    run spent before this (``prepare_s``, ``selection_s``), completed with ``refit_s`` and
    ``evaluation_s`` into results.json's ``timing``. ``temperature``: one fitted elsewhere, which
    the best checkpoint stores instead of one fitted on val (a cross-validated selection's winner:
    fitted on its out-of-fold logits of train + val, which hold many more documents than val).
    ``thresholds``: multi-label, likewise, decision thresholds tuned elsewhere (the same
    selection's, on its winner's out-of-fold probabilities), stored instead of val's."""
    started = time.perf_counter()
    task = get_task(config.task)
    data = member_data or [prepared]
    predictor = _predictor(config, prepared, device, run)
    if config.train.calibration == "temperature" and not task.multilabel and len(predictor) == 1:
        calibrate(predictor, prepared.splits["val"], temperature)  # (an ensemble's members: one by one)
    if thresholds is not None:
        keep_thresholds(predictor, thresholds)
    results = {"val": evaluate_encoded(predictor, [d.splits["val"] for d in data], run.evaluation("val"),
                                       subject=f"val, epoch {best_epoch}")}
    refit_started = time.perf_counter()
    refitted = refit() if refit is not None else None
    refit_s = time.perf_counter() - refit_started
    done = refitted is not None and "skipped" not in refitted
    if done:
        predictor = _predictor(config, prepared, device, run)
    results["test"] = evaluate_encoded(predictor, [d.splits["test"] for d in data], run.evaluation("test"),
                                       subject=f"test, epoch {best_epoch}" + (", refit on train + val" if done else ""))
    summary = {
        "best_epoch": best_epoch,
        "monitor": config.train.monitor,
        "best_score": best_score,
        "epochs_run": len(history),
        "mean_epoch_seconds": float(np.mean([h["epoch_seconds"] for h in history])),
        "temperature": predictor.artifact.temperature,
        **({"ensemble": {**({"candidates": members} if members else {}),
                         "models": [a.model_name for a in predictor.artifacts],
                         "temperatures": [a.temperature for a in predictor.artifacts],
                         "weights": [float(w) for w in predictor.weights]}} if len(predictor) > 1 else {}),
        **({"refit": refitted} if refitted else {}),
        **{f"{k}_{m}": results[k][m] for k in results for m in _SUMMARY[task.name] if m in results[k]},
    }
    if timing is not None:
        summary["timing"] = {**timing, "refit_s": refit_s,
                             "evaluation_s": time.perf_counter() - started - refit_s}
    write_json(run.results, summary)
    plot_training_curves(history, best_epoch, run.training_curves)
    return TrainResult(run.root, best_epoch, float(best_score), history, results["val"], results["test"])


def _predictor(config: Config, prepared: PreparedData, device: torch.device, run: RunLayout) -> Predictor:
    """The run's best checkpoint as a Predictor; a frozen encoder's vectors of val and test read
    (or computed) beforehand."""
    predictor = Predictor.load(run.best_checkpoint, device=device, batch_size=config.train.eval_batch_size)
    for model in predictor.models:
        if model.caches_features:  # a frozen encoder: read the vectors computed before training
            model.precompute_features([prepared.splits["val"], prepared.splits["test"]], features_folder(config),
                                      feature_batches(model))
    return predictor


def calibrate(predictor: Predictor, val, temperature: float | None = None) -> float:
    """Fit the temperature of a one-checkpoint ``predictor`` on the encoded validation split (or
    give it ``temperature``); the predictor applies it from now on, and its checkpoint file stores it."""
    artifact = predictor.artifact
    if temperature is None:
        _, temperature = fitted_and_kept(predictor.log_proba_encoded([val], calibrated=False), val.labels)
    artifact.temperature = temperature
    artifact.save(artifact.source)
    return artifact.temperature


def keep_thresholds(predictor: Predictor, thresholds) -> None:
    """Give a one-checkpoint multi-label ``predictor`` these decision ``thresholds`` (one per
    class) in place of those stored with it; its checkpoint file stores them too."""
    artifact = predictor.artifact
    artifact.thresholds = [float(t) for t in thresholds]
    artifact.save(artifact.source)
    predictor.thresholds = np.asarray(artifact.thresholds, dtype=np.float32)
