"""The default as a selection: train each candidate, keep the best on the validation split.

A config that names no model (``model.auto``) gets, from ``textclf train``, every candidate of
``config/default_recipe.py`` in turn, each a normal run trained until its monitored validation
metric stops improving, all on the same split (data encoded once per tokenizer, from the cache).
Within ``train.budget`` seconds, when one is set, the candidates not started in time are
skipped (the first always trains) and each one started stops after the epoch in which the
budget runs out, keeping its best epoch. The best on the monitored validation metric wins (ties: the
lower validation loss, after temperature scaling for multiclass; on accuracy, a candidate behind
the best by no more than the noise of a paired comparison counts as level, and the lowest
calibrated loss among the level ones wins: see ``_rank``); its
run becomes the run folder (``config.yaml`` is the winner's own, so ``textclf train --config``
of it retrains that model directly), then is evaluated on val and test as any run::

    runs/<name>-<timestamp>/
      leaderboard.csv              candidate, model, settings, validation score, epochs, seconds
      config.yaml, checkpoints/, metrics.jsonl, tensorboard/, evaluation/, ...   the winner's
      candidates/<candidate>/      every other candidate's run (config, metrics, TensorBoard;
                                   no checkpoints)

Nothing downstream knows a selection happened: the winner is an ordinary artifact.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from textclf.config import CANDIDATES, Candidate, Config, candidate_raw, config_from_dict
from textclf.errors import TrainingError, TrainingInterrupted
from textclf.evaluation.calibration import fit_temperature
from textclf.evaluation.metrics import cross_entropy
from textclf.files import write_text
from textclf.inference import Predictor
from textclf.run_layout import RunLayout
from textclf.runtime import resolve_device
from textclf.text.prepare import PreparedData, prepare_data
from textclf.training.final import TrainResult, evaluate_run
from textclf.training.run_dir import create_run_dir

__all__ = ["candidate_config", "select_and_train", "LEADERBOARD_COLUMNS"]

LEADERBOARD_COLUMNS = ["rank", "candidate", "model", "settings", "monitor", "val_score", "val_loss", "best_epoch",
                       "epochs", "seconds", "status"]


def candidate_config(config: Config, candidate: Candidate) -> Config:
    """``config`` with ``candidate``'s settings wherever the config does not set the key itself."""
    return config_from_dict(candidate_raw(config, candidate), source=f"default candidate {candidate.name}")


def select_and_train(config: Config, train: Callable[..., TrainResult], run_dir: str | Path | None = None,
                     progress: bool = True, final_evaluation: bool = True,
                     tracking_parent: str | None = None) -> TrainResult:
    """Train the default candidates of ``config`` (which names no model) with ``train`` (the
    recipe's), keep the best on validation as the run in ``run_dir``; return its summary."""
    configs = [candidate_config(config, c) for c in CANDIDATES]  # every one checked before anything runs
    keys = [_preprocessing(c) for c in configs]
    prepared_by = {}  # the data once per preprocessing (tokenizer), read before the run folder exists
    for key, cand_config in zip(keys, configs):
        if key not in prepared_by:
            prepared_by[key] = prepare_data(cand_config)
    run = RunLayout(create_run_dir(config.output_dir, config.name, run_dir))
    budget, started = config.train.budget, time.perf_counter()
    rows, results = [], {}
    monitor = configs[0].train.monitor
    try:
        for i, (candidate, cand_config, key) in enumerate(zip(CANDIDATES, configs, keys), 1):
            row = {"candidate": candidate.name, "model": cand_config.model.name,
                   "settings": _settings(cand_config), "monitor": monitor}
            rows.append(row)
            spent = time.perf_counter() - started
            if budget is not None and results and spent >= budget:  # (the first always trains)
                row["status"] = f"skipped: train.budget {budget:g} s spent"
                continue
            print(f"default selection: candidate {i}/{len(CANDIDATES)} {candidate.name} ({row['settings']})",
                  file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            try:
                result = train(cand_config, run_dir=run.candidates / candidate.name,
                               prepared=prepared_by[key], progress=progress, final_evaluation=False,
                               tracking_parent=tracking_parent, resumable=False,
                               deadline=None if budget is None else started + budget)
            except TrainingError as exc:  # e.g. diverged: the others may still do
                row.update(status=f"failed: {exc}", seconds=time.perf_counter() - t0)
                continue
            except TrainingInterrupted as exc:  # the selection cannot be resumed
                raise TrainingInterrupted(
                    f"{exc} of default candidate {candidate.name}; a default selection does not resume, so its "
                    f"run folder is removed: run textclf train --config again") from None
            val_loss, correct = _validation(result, cand_config, prepared_by[key])
            row.update(val_score=result.best_score, val_loss=val_loss, best_epoch=result.best_epoch,
                       epochs=len(result.history), seconds=time.perf_counter() - t0,
                       status="trained" + ("; cut short by train.budget" if _cut_short(result, cand_config) else ""))
            results[candidate.name] = (result, cand_config, prepared_by[key])
            if correct is not None:
                row["_correct"] = correct  # (not written out)
        if not results:
            raise TrainingError("default selection: no candidate finished training ("
                                + "; ".join(f"{r['candidate']}: {r['status']}" for r in rows) + ")")
        winner = _rank(rows, monitor)
        rows.sort(key=lambda r: r.get("rank", len(rows) + 1))  # best first, the untrained last
        _write_leaderboard(run, rows)
        print(_leaderboard_text(rows), file=sys.stderr, flush=True)
        result, cand_config, prepared = results[winner]
        _promote(run, result.run_dir, [r.run_dir for name, (r, _, _) in results.items() if name != winner])
    except BaseException:
        shutil.rmtree(run.root, ignore_errors=True)  # the candidates write no last.ckpt: nothing to resume
        raise
    print(f"default selection: {winner} wins on validation ({monitor} {result.best_score:.4f}); "
          f"its config: {run.config}", file=sys.stderr, flush=True)
    if not final_evaluation:
        return TrainResult(run.root, result.best_epoch, result.best_score, result.history)
    return evaluate_run(cand_config, prepared, resolve_device(cand_config.train.device), run, result.best_epoch,
                        result.best_score, result.history)


def _preprocessing(config: Config) -> str:
    return json.dumps(config.preprocess.model_dump(), sort_keys=True)


def _validation(result: TrainResult, config: Config, prepared: PreparedData) -> tuple[float, np.ndarray | None]:
    """The best checkpoint's validation loss and, multiclass, which validation documents it gets
    right. The multiclass loss is taken after temperature scaling: label smoothing makes a model's
    probabilities less confident whatever its accuracy, and that must not decide between
    candidates."""
    best = result.history[result.best_epoch - 1]["val/loss"]
    if config.task != "multiclass":
        return best, None
    val = prepared.splits["val"]
    predictor = Predictor.load(RunLayout(result.run_dir).best_checkpoint, batch_size=config.train.eval_batch_size)
    logits = predictor.log_proba_encoded([val], calibrated=False)
    loss = cross_entropy(logits / fit_temperature(logits, val.labels), val.labels)
    return loss, logits.argmax(1) == np.asarray(val.labels)


def _cut_short(result: TrainResult, config: Config) -> bool:
    """Whether the run ended before its epochs were done without early stopping: its budget did
    (a solver's one pass is its whole training)."""
    t, epochs = config.train, len(result.history)
    if t.budget is None or config.model.params().get("solver", "sgd") != "sgd":
        return False
    stopped = t.early_stopping_patience is not None and epochs - result.best_epoch >= t.early_stopping_patience
    return epochs < t.epochs and not stopped


def _settings(config: Config) -> str:
    """What a candidate trains, in a few words: its model keys and the settings it changes."""
    params = config.model.params()
    model = " ".join(f"{k}={v}" for k, v in params.items() if k in ("members", "embedding_dim", "minn", "maxn"))
    if params.get("solver", "sgd") == "sgd":
        lr = f"lr={config.train.lr:g}"
    else:  # (a solver has no learning rate; its C is a number or a list tried on validation)
        C = params["C"]
        lr = f"solver={params['solver']} C=" + (f"[{','.join(f'{v:g}' for v in C)}]" if isinstance(C, list) else f"{C:g}")
    tokenizer = f"tokenizer={config.preprocess.tokenizer}"
    return " ".join(part for part in (model, lr, tokenizer) if part)


def _rank(rows: list[dict], monitor: str) -> str:
    """Give each trained row its rank (best first) in place; the winner's name.

    First by the monitored metric (ties: the lower validation loss). On accuracy, a few documents
    of a small validation split decide, so a candidate whose accuracy is below the best one's by
    no more than the noise of that difference (one standard error of McNemar's paired test: the
    square root of the number of documents on which exactly one of the two is right) counts as
    level with it; of those, the one with the lowest calibrated validation loss, a score that every
    document moves a little instead of a few moving it a lot, wins."""
    larger = monitor != "val_loss"
    trained = [r for r in rows if r.get("status", "").startswith("trained")]
    trained.sort(key=lambda r: ((-r["val_score"] if larger else r["val_score"]), r["val_loss"]))
    leader = trained[0]
    if "_correct" in leader and monitor in ("val_accuracy", "val_f1_micro"):  # (multiclass micro-F1 is accuracy)
        level = [r for r in trained if _level(leader["_correct"], r["_correct"])]
        winner = min(level, key=lambda r: r["val_loss"])
        if winner is not leader:
            winner["status"] += (f"; accuracy level with {leader['candidate']}'s (within the noise of "
                                 "their difference), lower calibrated val loss")
            trained.remove(winner)
            trained.insert(0, winner)
    for rank, row in enumerate(trained, 1):
        row["rank"] = rank
    return trained[0]["candidate"]


def _level(best: np.ndarray, other: np.ndarray) -> bool:
    """Whether ``other`` (which documents it gets right) is behind ``best`` by at most one standard
    error of the paired difference."""
    gap = int(best.sum()) - int(other.sum())
    return gap <= math.sqrt(int((best != other).sum()))


def _write_leaderboard(run: RunLayout, rows: list[dict]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, LEADERBOARD_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text(run.leaderboard, out.getvalue())


def _leaderboard_text(rows: list[dict]) -> str:
    lines = ["default selection, best first:",
             f"  {'#':>2}  {'candidate':<13} {'val score':>9} {'val loss':>8} {'epochs':>6} {'seconds':>7}  settings"]
    for row in rows:
        if not row.get("status", "").startswith("trained"):
            lines.append(f"  {'-':>2}  {row['candidate']:<13} {row.get('status', '')}")
            continue
        lines.append(f"  {row['rank']:>2}  {row['candidate']:<13} {row['val_score']:>9.4f} {row['val_loss']:>8.4f} "
                     f"{row['epochs']:>6} {row['seconds']:>7.1f}  {row['settings']}")
        if row["status"] != "trained":
            lines.append(f"      ({row['status'].removeprefix('trained; ')})")
    return "\n".join(lines)


def _promote(run: RunLayout, winner: Path, losers: list[Path]) -> None:
    """The winner's run folder becomes the run folder; the others keep all but their checkpoints."""
    for path in losers:
        shutil.rmtree(path / "checkpoints", ignore_errors=True)
    for item in winner.iterdir():
        item.rename(run.root / item.name)
    winner.rmdir()
