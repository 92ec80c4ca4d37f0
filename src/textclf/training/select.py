"""The default as a selection: train each candidate, keep the best on the validation split.

A config that names no model (``model.auto``) gets, from ``textclf train``, the candidates of
``config/default_recipe.py``, each a normal run trained until its monitored validation metric
stops improving, all on the same split (data encoded once per tokenizer, from the cache). The
first (the cheapest: the linear model, TF-IDF + LinearSVC's fit) trains in this process on every
thread. Under ``train.budget`` auto (unless the config sets it) the data's size decides which
others are tried: each one whose ``max_tokens`` the training split does not exceed, trained to
convergence, so that the same data gets the same candidates on any machine (a small or medium
set tries every candidate; 20 Newsgroups, 3-4M tokens, keeps to its linear fit). Under a
``train.budget`` in seconds each further candidate is started only when its estimated seconds
(its ``cost`` times the first one's and ``COST_START_SECONDS``) and a refit fit in what is left,
and each one started stops after the epoch in which the budget runs out, keeping its best epoch.
On two or more threads (``train.num_threads``, else torch's) the candidates started train side
by side, one process per thread (up to one per candidate) with one thread each: the bags'
sparse steps use a second thread poorly, so two one-thread candidates get more done than one
two-thread one. Each worker's output goes to its candidate's ``train.log``; the leaderboard is
the same (skipped candidates say why). The best on the monitored validation metric wins (ties: the
lower validation loss, after temperature scaling for multiclass; on accuracy, a candidate behind
the best by no more than the noise of a paired comparison counts as level, and the lowest
calibrated loss among the level ones wins: see ``_rank``); its
run becomes the run folder (``config.yaml`` is the winner's own, so ``textclf train --config``
of it retrains that model directly), then is evaluated on val, trained again on train + val
(``train.refit``, on unless the config turns it off: ``training/refit.py``) and evaluated on test.
When a greedy mean of the candidates beats the winner on validation (``train.ensemble``), that
ensemble is what the run keeps, in one checkpoint file, each member refit (``training/ensemble.py``).
On a validation split of fewer than ``CV_BELOW`` examples a few of them decide the choice: under
``train.cv_folds`` auto (no budget in seconds, more than one candidate) each candidate
is then scored, and the ensemble chosen, on out-of-fold predictions over train + val instead
(``training/cross_validation.py``)::

    runs/<name>-<timestamp>/
      leaderboard.csv              candidate, model, settings, validation score, epochs, seconds
      config.yaml, checkpoints/, metrics.jsonl, tensorboard/, evaluation/, ...   the winner's
      candidates/<candidate>/      every other candidate's run (config, metrics, TensorBoard;
                                   no checkpoints; train.log when trained side by side)
      folds/<k>/, candidates/<candidate>/folds/<k>/   each candidate's cross-validation runs, when
                                   the validation split was small (train.cv_folds)

Nothing downstream knows a selection happened: the winner is an ordinary artifact (an ensemble
file loads through ``Predictor.load`` as one model does).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from textclf.config import (CANDIDATES, COST_START_SECONDS, Candidate, Config, PreprocessConfig,
                            candidate_raw, config_from_dict, own_config_text)
from textclf.errors import TrainingError, TrainingInterrupted
from textclf.evaluation.calibration import fitted_and_kept
from textclf.evaluation.metrics import cross_entropy
from textclf.files import write_text
from textclf.inference import Predictor
from textclf.models.char_memo import remembering
from textclf.models.base import SOLVER_SETTING
from textclf.run_layout import RunLayout
from textclf.runtime import resolve_device
from textclf.task import get_task
from textclf.reporting.data_stats import write_data_statistics
from textclf.text.pipeline import pipeline_for
from textclf.text.prepare import PreparedData, prepare_data
from textclf.training.cross_validation import (assembled, auto_folds, best_epoch, fold_config, fold_logits, fold_plan,
                                               pooled)
from textclf.training.final import TrainResult, evaluate_run
from textclf.training.ensemble import (Decision, Member, ensemble_score, f1_scores, greedy_ensemble, keep_ensemble,
                                      level_within_noise, refit_members, worth_keeping)
from textclf.training.refit import refit_run
from textclf.training.run_dir import create_run_dir
from textclf.training.side_by_side import Then, logged, side_by_side, worker_count

__all__ = ["candidate_config", "select_and_train", "LEADERBOARD_COLUMNS"]

# What an interrupted selection says: it cannot be resumed.
_NO_RESUME = ("a default selection does not resume, so its run folder is removed: run textclf train "
              "--config again")

# val_f1_macro: beside the monitored score, whatever it is (rare classes count as much as common
# ones there: what a choice on micro-F1 or accuracy must not give up).
LEADERBOARD_COLUMNS = ["rank", "candidate", "model", "settings", "monitor", "val_score", "val_loss", "val_f1_macro",
                       "best_epoch", "epochs", "seconds", "status"]


def candidate_config(config: Config, candidate: Candidate) -> Config:
    """``config`` with ``candidate``'s settings wherever the config does not set the key itself."""
    return config_from_dict(candidate_raw(config, candidate), source=f"default candidate {candidate.name}")


def select_and_train(config: Config, train: Callable[..., TrainResult], run_dir: str | Path | None = None,
                     progress: bool = True, final_evaluation: bool = True,
                     tracking_parent: str | None = None, allow_refit: bool = True) -> TrainResult:
    """Train the default candidates of ``config`` (which names no model) with ``train`` (the
    recipe's), keep the best on validation as the run in ``run_dir``, refit it on train + val
    (``train.refit``, unless ``allow_refit`` is off); return its summary."""
    candidates = [c for c in CANDIDATES if config.model.candidates is None or c.name in config.model.candidates]
    configs = [candidate_config(config, c) for c in candidates]  # every one checked before anything runs
    keys = [_preprocessing(c) for c in configs]
    started = time.perf_counter()
    # The first candidate's data before the run folder exists (a data error is one line and leaves
    # nothing); another tokenizer's only once a candidate that needs it is started.
    prepared_by = {keys[0]: prepare_data(configs[0])}
    timing = {"prepare_s": time.perf_counter() - started}  # (where the run's time went: results.json)
    plan = _cv_plan(configs[0], prepared_by[keys[0]], candidates)
    if (few := _few_to_choose_on(len(prepared_by[keys[0]].splits["val"]), config.task == "multilabel",
                                 plan, len(prepared_by[keys[0]].splits["train"]))) is not None:
        print(few, file=sys.stderr, flush=True)
    # What the candidates are compared on: val's labels, or train + val's (out-of-fold predictions)
    choice_labels = (prepared_by[keys[0]].splits["val"] if plan is None else pooled(prepared_by[keys[0]])).labels
    started = time.perf_counter()
    run = RunLayout(create_run_dir(config.output_dir, config.name, run_dir))
    budget = configs[0].train.budget  # (the config's own, else auto: SELECTION_TRAIN)
    monitor = configs[0].train.monitor
    rows = [{"candidate": c.name, "model": cc.model.name, "settings": _settings(cc), "monitor": monitor}
            for c, cc in zip(candidates, configs)]
    jobs = [_Job(train, c.name, cc, run.candidates / c.name, None, None, tracking_parent, plan)
            for c, cc in zip(candidates, configs)]
    jobs[0].prepared = prepared_by[keys[0]]
    results = {}
    try:
        # The first candidate (the cheapest) in this process on every thread: under a budget in
        # seconds, its seconds set the others' estimates.
        print(f"default selection: candidate 1/{len(jobs)} {jobs[0].name} ({_settings(jobs[0].config)})",
              file=sys.stderr, flush=True)
        first = _train_one(jobs[0], progress)  # (no deadline: the first always trains in full)
        tokens = int(prepared_by[keys[0]].splits["train"].lengths.sum())
        if budget == "auto":
            limit, ends = None, None
            admitted, skipped = _admit_by_size(jobs[1:], candidates[1:], tokens,
                                               len(prepared_by[keys[0]].splits["train"]))
        else:
            limit, ends = _budget(budget, started)
            admitted, skipped = _admit(jobs[1:], candidates[1:], first[0]["seconds"], limit, ends,
                                       _workers(config, len(jobs) - 1)[0])
        if budget is not None:
            print(_budget_text(limit, tokens, admitted, skipped), file=sys.stderr, flush=True)
        for job in admitted:
            key = _preprocessing(job.config)
            if key not in prepared_by:
                prepared_by[key] = prepare_data(job.config)
            job.prepared, job.ends = prepared_by[key], ends
        workers, threads = _workers(config, len(admitted))
        number = {job.name: i for i, job in enumerate(jobs, 1)}
        if workers == 1:
            outcomes = _in_turn(admitted, progress, number)
        else:
            outcomes = _side_by_side(admitted, workers, threads, progress) if admitted else []
        outcome_of = {jobs[0].name: first, **{job.name: outcome for job, outcome in zip(admitted, outcomes)},
                      **{job.name: ({"status": reason}, None) for job, reason in skipped}}
        for row, job in zip(rows, jobs):
            fields, result = outcome_of[job.name]
            row.update(fields)
            if result is not None:
                results[row["candidate"]] = result
        if not results:
            raise TrainingError("default selection: no candidate finished training ("
                                + "; ".join(f"{r['candidate']}: {r['status']}" for r in rows) + ")")
        winner = _rank(rows, monitor)
        by_name = {job.name: job for job in jobs}
        members, thresholds = _ensemble(rows, winner, monitor, config, by_name, results, choice_labels,
                                        "on validation" if plan is None else "out of fold")
        _best_first(rows)
        _write_leaderboard(run, rows)
        print(_leaderboard_text(rows, plan), file=sys.stderr, flush=True)
        result = results[winner]
        kept = {m.name for m in members}
        _promote(run, result.run_dir, [r.run_dir for name, r in results.items() if name not in kept | {winner}])
        write_data_statistics(by_name[winner].prepared, by_name[winner].config, run.data)
        if members:
            keep_ensemble(run, members, {m.name: (run.best_checkpoint if m.name == winner else
                                                  RunLayout(results[m.name].run_dir).best_checkpoint) for m in members},
                          thresholds)
            _ensemble_config(run, config, winner, [m.name for m in members])
    except BaseException:
        shutil.rmtree(run.root, ignore_errors=True)  # the candidates write no last.ckpt: nothing to resume
        raise
    timing["selection_s"] = time.perf_counter() - started
    cand_config, prepared = by_name[winner].config, by_name[winner].prepared
    if not members:
        where = "on validation" if plan is None else f"on {len(plan)}-fold cross-validation"
        score = next(r["val_score"] for r in rows if r["candidate"] == winner)
        print(f"default selection: {winner} wins {where} ({monitor} {score:.4f}); "
              f"its config: {run.config}", file=sys.stderr, flush=True)
    do_refit = cand_config.train.refit and allow_refit
    chosen = None if plan is None else f"the {len(plan)}-fold cross-validation's best"  # (the refit's epochs)
    # A budget in seconds bounds the refit too (ends: a time.time(); auto has none).
    if members:
        print(f"default selection: kept {_members_text(members)} as one ensemble (better "
              f"{'on validation' if plan is None else 'out of fold'} than "
              f"{winner} alone: leaderboard.csv); config.yaml chooses among those candidates again, each "
              "member's own config is in candidates/<name>/config.yaml", file=sys.stderr, flush=True)
        refit = partial(refit_members, run, members, partial(refit_run, train=train, progress=progress, chosen=chosen)
                        if do_refit else None, *_workers(config, len(members)), progress=progress, ends=ends)
    else:
        until = None if ends is None else time.perf_counter() + ends - time.time()  # (refit_run's clock)
        epochs = _refit_epochs(rows, winner, result)
        refit = (partial(refit_run, cand_config, prepared, run, epochs, train, progress, result.history,
                         until, chosen=chosen) if do_refit else None)
    if not final_evaluation:
        if refit is not None:
            refit()
        return TrainResult(run.root, result.best_epoch, result.best_score, result.history)
    # Cross-validated: the winner's temperature was fitted on its out-of-fold logits of train + val
    # (at the epoch count its refit trains), not on val's few documents alone.
    # Multi-label, its thresholds were tuned on those out-of-fold probabilities (an ensemble's: on
    # their mean, already stored with its members).
    lead = {} if plan is None or members else next(r for r in rows if r["candidate"] == winner)
    return evaluate_run(cand_config, prepared, resolve_device(cand_config.train.device), run, result.best_epoch,
                        result.best_score, result.history, refit, [m.name for m in members],
                        [m.prepared for m in members], timing, lead.get("_temperature"), lead.get("_thresholds"))


def _ensemble(rows: list[dict], winner: str, monitor: str, config: Config, jobs: dict[str, "_Job"],
              results: dict[str, TrainResult], labels: np.ndarray,
              judged: str = "on validation") -> tuple[list[Member], np.ndarray | None]:
    """The ensemble's members when a greedy ensemble of the trained candidates beats the winner
    on validation (``labels``: val's, or train + val's when the candidates were cross-validated;
    ``training/ensemble.py``; ``judged``: where, for its status), with a leaderboard row for it
    ranked first, and,
    multi-label, the thresholds tuned on validation for their mean; else nothing. Under
    ``train.ensemble``. On accuracy the ensemble is judged against
    the winner as the candidates are against each other (``_rank``): an ensemble ahead by no more
    than the noise of the paired difference is level with the winner, and then it is kept only if
    its calibrated validation loss is lower."""
    probabilities = {r["candidate"]: r["_probabilities"] for r in rows if "_probabilities" in r}
    if not config.train.ensemble or len(probabilities) < 2 or winner not in probabilities:
        return [], None
    decision = Decision(config.train.threshold, config.train.allow_empty) if config.task == "multilabel" else None
    counts = greedy_ensemble(probabilities, labels, winner, monitor, decision=decision)
    if len(counts) < 2:
        return [], None
    fitted = {r["candidate"]: r["_temperature"] for r in rows if "_temperature" in r}
    calibrated = config.train.calibration == "temperature"
    members = [Member(name, counts[name], jobs[name].config, jobs[name].prepared,
                      _refit_epochs(rows, name, results[name]),
                      results[name].history, fitted.get(name) if calibrated else None)
               for name in sorted(counts, key=lambda n: (n != winner, -counts[n]))]
    mean = sum(probabilities[m.name] * m.count for m in members) / sum(m.count for m in members)
    score = ensemble_score(mean, labels, monitor, decision)
    loss = -ensemble_score(mean, labels, "val_loss", decision)
    lead = next(r for r in rows if r["candidate"] == winner)
    if not worth_keeping(mean, labels, monitor, lead.get("_correct"), lead["val_loss"], decision,
                         probabilities[winner]):
        return [], None
    for row in rows:
        if "rank" in row:
            row["rank"] += 1
    rows.append({"rank": 1, "candidate": "ensemble", "model": "ensemble", "settings": _members_text(members),
                 "monitor": monitor, "val_score": -score if monitor == "val_loss" else score,
                 "val_loss": loss, "val_f1_macro": (ensemble_score(mean, labels, "val_f1_macro") if decision is None
                                                    else f1_scores(mean, labels, monitor, decision)[1]),
                 "status": f"kept: a weighted mean of the candidates, better {judged} than {winner} alone"})
    return members, None if decision is None else decision.thresholds(mean, labels, monitor)


def _refit_epochs(rows: list[dict], name: str, result: TrainResult) -> int:
    """How many epochs candidate ``name``'s refit trains: the cross-validation's choice when its
    scores are out of fold, else its held-out run's best epoch."""
    return next(r for r in rows if r["candidate"] == name).get("_cv_epoch", result.best_epoch)


def _ensemble_config(run: RunLayout, config: Config, winner: str, names: list[str]) -> None:
    """The run's config.yaml for a kept ensemble: the user's config (only its own keys) with
    ``model.candidates`` the members, so that rerunning it trains them and chooses again; the
    winner's own config moves to ``candidates/<winner>/config.yaml`` beside the others'."""
    folder = run.candidates / winner
    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / "config.yaml", run.config.read_text(encoding="utf-8"))
    model = {k: v for k, v in config.model.params().items() if config.sets(f"model.{k}")}
    write_text(run.config, own_config_text(config, {**model, "candidates": names}))


def _members_text(members: list[Member]) -> str:
    return " + ".join(f"{m.name} x{m.count}" if m.count > 1 else m.name for m in members)


@dataclass
class _Job:
    """One candidate to train (by ``train``, the recipe's): its config, run folder and data, and
    the selection's budget (``ends``: the wall-clock time it runs out, comparable across processes)."""

    train: Callable[..., TrainResult]
    name: str
    config: Config
    run_dir: Path
    prepared: PreparedData | None  # (read once the candidate is started)
    ends: float | None
    tracking_parent: str | None
    folds: list[np.ndarray] | None = None  # (held-out indices of train + val: cross-validated scores)


def _budget(budget: float | None, started: float) -> tuple[float | None, float | None]:
    """The selection's seconds (a ``train.budget`` number, or None for no limit) and when they
    run out, as a ``time.time()``, counted from ``started`` (a ``time.perf_counter()``)."""
    if budget is None:
        return None, None
    limit = float(budget)
    return limit, time.time() + limit - (time.perf_counter() - started)


def _tried_by_size(candidate: Candidate, tokens: int, documents: int) -> bool:
    """Whether ``train.budget`` auto tries ``candidate`` on a training split of ``tokens`` tokens
    in ``documents`` documents."""
    return ((candidate.max_tokens is None or tokens <= candidate.max_tokens)
            and (candidate.min_documents is None or documents >= candidate.min_documents))


def _admit_by_size(jobs: list[_Job], candidates: list[Candidate], tokens: int,
                   documents: int) -> tuple[list[_Job], list[tuple[_Job, str]]]:
    """``train.budget`` auto: the candidates after the first that a training split of ``tokens``
    tokens in ``documents`` documents tries (each one's ``max_tokens`` and ``min_documents``), and
    the others with the reason."""
    admitted, skipped = [], []
    for job, candidate in zip(jobs, candidates):
        if _tried_by_size(candidate, tokens, documents):
            admitted.append(job)
            continue
        if candidate.max_tokens is not None and tokens > candidate.max_tokens:
            size = f"at most {candidate.max_tokens / 1e6:g}M tokens, and this one holds {tokens / 1e6:.2f}M"
        else:
            size = f"at least {candidate.min_documents:,} documents, and this one holds {documents:,}"
        skipped.append((job, f"skipped: train.budget auto tries it on a training split of {size}; "
                             "train.budget: null (or a number of seconds) trains it"))
    return admitted, skipped


# Below this many validation examples the run says that its choice rests on few: one example is
# then more than a point of accuracy, and candidates a few examples apart count as level (_rank).
FEW_TO_CHOOSE_ON = 100


def _few_to_choose_on(examples: int, multilabel: bool = False, plan: list[np.ndarray] | None = None,
                      train: int = 0) -> str | None:
    """What the run says when its validation split is too small to choose on firmly, else None:
    that the candidates are compared by cross-validation (``plan``'s folds of the ``train``
    examples and val's), or else that a larger validation split would make the choice firmer.
    (Multi-label: micro-F1 counts label decisions, so an example has no fixed share of it.)"""
    if plan is not None:
        what = f"{examples:,} validation example{'s' * (examples != 1)}"
        return (f"default selection: rather than on {what} alone, the candidates are compared on "
                f"{len(plan)}-fold cross-validation of train + val ({train + examples:,} examples; "
                "train.cv_folds): each trains again on all folds but one and predicts that one")
    if examples >= FEW_TO_CHOOSE_ON:
        return None
    share = "and " if multilabel else f"so each one is {100 / max(examples, 1):.1f} points of accuracy and "
    return (f"default selection: the validation split holds only {examples} example{'s' * (examples != 1)}, "
            f"{share}the choice between candidates rests on a handful of them: a larger validation split "
            "(data.val, or data.val_size) makes it firmer")


# train.cv_folds auto cross-validates below this many validation examples (where a few examples
# decide the choice; docs/architecture.md, "Cross-validated choice").
CV_BELOW = 1000


def _cv_plan(config: Config, prepared: PreparedData,
             candidates: list[Candidate] = CANDIDATES) -> list[np.ndarray] | None:
    """The folds of train + val the ``candidates`` are compared on (``train.cv_folds``), or
    None: on val alone. ``config`` is the first candidate's (its ``train.budget``
    is the selection's). Under auto: when val holds fewer than ``CV_BELOW`` examples, the budget is
    not a number of seconds (which the fold runs would overrun) and more than one candidate will
    train (under budget auto the training split's size decides which: ``_tried_by_size``), in as
    many folds as ``cross_validation.auto_folds`` gives val's size."""
    folds = config.train.cv_folds
    if folds is None:
        return None
    if folds == "auto":
        budget = config.train.budget
        if len(prepared.splits["val"]) >= CV_BELOW or budget not in ("auto", None):
            return None
        train = prepared.splits["train"]
        if not any(budget is None or _tried_by_size(c, int(train.lengths.sum()), len(train)) for c in candidates[1:]):
            return None  # (one candidate: nothing to choose between)
        folds = auto_folds(len(prepared.splits["val"]))
    return fold_plan(pooled(prepared).labels, folds, config.seed)


def _budget_text(limit: float | None, tokens: int, admitted: list[_Job], skipped: list[tuple[_Job, str]]) -> str:
    how = ("auto: by the data's size, each candidate to convergence; the training split holds "
           f"{tokens / 1e6:.2f}M tokens" if limit is None else f"{limit:g} s, from the config")
    started = ", ".join(job.name for job in admitted) or "no other candidate"
    left = f"; skipping {', '.join(job.name for job, _ in skipped)} (leaderboard.csv says why)" if skipped else ""
    return f"default selection: train.budget {how}: starting {started}{left}"


def _admit(jobs: list[_Job], candidates: list[Candidate], first_seconds: float, limit: float | None,
           ends: float | None, workers: int) -> tuple[list[_Job], list[tuple[_Job, str]]]:
    """The candidates after the first that the budget starts, and the others with the reason.

    Each candidate's seconds are estimated as its ``cost`` times the first one's (and
    ``COST_START_SECONDS``: the costs' own measure of them); taken in order
    (cheapest first), one is started when, placed on the least busy of ``workers`` lanes, the
    candidates end in time to refit the dearest of them (or the first) before the budget does."""
    if ends is None:
        return jobs, []
    now = time.time()
    lanes = [now] * max(1, workers)
    dearest = first_seconds
    admitted, skipped = [], []
    for job, candidate in zip(jobs, candidates):
        estimate = candidate.cost * (first_seconds + COST_START_SECONDS)
        lane = min(range(len(lanes)), key=lanes.__getitem__)
        finish = max(max(lanes), lanes[lane] + estimate) + max(dearest, estimate)
        if finish <= ends:
            admitted.append(job)
            lanes[lane] += estimate
            dearest = max(dearest, estimate)
        else:
            skipped.append((job, f"skipped: train.budget {limit:.0f} s would not cover it (about {estimate:.0f} s, "
                                 f"{candidate.cost:g} x the first candidate's {first_seconds:.1f} s and {COST_START_SECONDS:g} s "
                                 "of start-up, and a refit); a larger "
                                 "train.budget trains it"))
    return admitted, skipped


def _workers(config: Config, candidates: int) -> tuple[int, int]:
    """How many candidates train side by side, and each one's torch threads: one process per
    thread the run may use (``train.num_threads``, else torch's), up to one per candidate; on
    one thread, one after the other in this process (``training/side_by_side.py``)."""
    import torch

    return worker_count(config.train.num_threads or torch.get_num_threads(), candidates)


def _in_turn(jobs: list[_Job], progress: bool, number: dict[str, int]) -> list[tuple[dict, TrainResult | None]]:
    """Candidates after the first one after the other in this process (cheapest first), each
    printing its epochs as any run does (``number``: each candidate's place in the selection)."""
    outcomes = []
    for job in jobs:
        print(f"default selection: candidate {number[job.name]}/{len(number)} {job.name} ({_settings(job.config)})",
              file=sys.stderr, flush=True)
        outcomes.append(_train_one(job, progress))
    return outcomes


def _side_by_side(jobs: list[_Job], workers: int, threads: int, progress: bool) -> list[tuple[dict, TrainResult | None]]:
    """The candidates after the first in ``workers`` processes of ``threads`` torch threads each,
    the dearest first (the list is cheapest first) so that the longest does not start last; a
    cross-validated candidate's fold runs go, once its held-out run has trained, to whichever
    worker is free (``side_by_side.Then``), so that they do not all wait for the worker that
    trained it. Each run's output goes to its run folder's train.log."""
    order = list(range(len(jobs)))[::-1]
    print(f"default selection: {len(jobs)} more candidates in {workers} processes of {threads} thread"
          f"{'s' * (threads > 1)} each (each one's output: candidates/<name>/train.log)", file=sys.stderr, flush=True)
    calls = [partial(logged, partial(_held_out, job), job.run_dir) for job in jobs]
    # The bar counts training runs: a candidate's own and, cross-validated, each of its fold runs.
    return side_by_side(calls, [f"default candidate {job.name}" for job in jobs], workers, threads, progress,
                        "default selection", lambda i, outcome: f"{jobs[i].name} {_outcome_text(outcome[0])}",
                        "during the default selection; " + _NO_RESUME, order,
                        [1 + len(job.folds or ()) for job in jobs],
                        lambda i, state, parts: _with_folds(jobs[i], *state, parts))


def _outcome_text(fields: dict) -> str:
    if not fields["status"].startswith("trained"):
        return fields["status"]
    epochs = f"{fields['epochs']} epoch" + "s" * (fields["epochs"] != 1)
    return f"trained: val score {fields['val_score']:.4f}, {epochs}, {fields['seconds']:.1f} s"


@remembering()  # (its held-out run and fold runs count each document's character n-grams once)
def _train_one(job: _Job, progress: bool, on_epoch=None) -> tuple[dict, TrainResult | None]:
    """Train one candidate (unless its budget, ``job.ends``, is spent before it starts), its fold
    runs after it in this process when it is cross-validated (up to the first that fails); its
    leaderboard fields and its result (None when it did not train)."""
    outcome = _held_out(job, on_epoch, progress)
    if not isinstance(outcome, Then):
        return outcome
    parts = []
    for call in outcome.calls:
        parts.append(call())
        if isinstance(parts[-1][0], TrainingError):
            break
    return _with_folds(job, *outcome.state, parts)


def _held_out(job: _Job, on_epoch=None, progress: bool = False) -> tuple[dict, TrainResult | None] | Then:
    """Train one candidate on train, choosing on val; when it is cross-validated, its fold runs
    are returned as further calls (``_fold``: in a worker of ``side_by_side``, each may go to
    another worker), and ``_with_folds`` scores it from them."""
    fields, result = _trained(job, progress, on_epoch)
    if job.folds is None or result is None:
        return fields, result
    fixed = fold_config(job.config, RunLayout(result.run_dir).best_checkpoint)
    folder = RunLayout(job.run_dir).folds
    calls = [partial(_fold, job.name, fixed, job.prepared, held, len(result.history), job.train, folder / str(k))
             for k, held in enumerate(job.folds, 1)]
    return Then(calls, [f"default candidate {job.name}, fold run {k}" for k in range(1, len(calls) + 1)],
                (fields, result), cost=fields["seconds"])


def _fold(name: str, fixed: Config, prepared: PreparedData, held: np.ndarray, epochs: int, train: Callable,
          run_dir: Path, on_epoch=None) -> tuple[np.ndarray | TrainingError, float]:
    """One fold run of candidate ``name`` (``cross_validation.fold_logits``) and its seconds; a
    training error is returned, not raised (the candidate fails, not the selection)."""
    t0 = time.perf_counter()
    try:
        return fold_logits(fixed, prepared, held, epochs, train, run_dir, on_epoch), time.perf_counter() - t0
    except TrainingError as exc:
        return exc, time.perf_counter() - t0
    except TrainingInterrupted as exc:
        raise TrainingInterrupted(f"{exc} of default candidate {name}'s cross-validation; {_NO_RESUME}") from None


def _with_folds(job: _Job, fields: dict, result: TrainResult,
                parts: list[tuple[np.ndarray | TrainingError, float]]) -> tuple[dict, TrainResult | None]:
    """``job``'s outcome once its fold runs (``_fold``) are done."""
    seconds = sum(s for _, s in parts)
    failed = next((p for p, _ in parts if isinstance(p, TrainingError)), None)
    if failed is not None:
        return {"status": f"failed in its cross-validation: {failed}", "seconds": fields["seconds"] + seconds}, None
    return _cross_validated(job, fields, result, assembled([p for p, _ in parts], job.folds), seconds)


def _trained(job: _Job, progress: bool, on_epoch=None) -> tuple[dict, TrainResult | None]:
    """Train one candidate on train, choosing on val (unless its budget, ``job.ends``, is spent
    before it starts); its leaderboard fields and its result (None when it did not train)."""
    if job.ends is not None and time.time() >= job.ends:
        return {"status": "skipped: train.budget spent before it started"}, None
    t0 = time.perf_counter()
    try:
        result = job.train(job.config, run_dir=job.run_dir, prepared=job.prepared, progress=progress,
                           final_evaluation=False, refit=False, tracking_parent=job.tracking_parent, resumable=False,
                           on_epoch=on_epoch, deadline=None if job.ends is None else t0 + job.ends - time.time(),
                           data_statistics=False)  # (the run's: its winner's, once)
    except TrainingError as exc:  # e.g. diverged: the others may still do
        return {"status": f"failed: {exc}", "seconds": time.perf_counter() - t0}, None
    except TrainingInterrupted as exc:  # the selection cannot be resumed
        raise TrainingInterrupted(f"{exc} of default candidate {job.name}; {_NO_RESUME}") from None
    val_loss, private = _validation(result, job.config, job.prepared)
    fields = {"val_score": result.best_score, "val_loss": val_loss,
              "val_f1_macro": result.history[result.best_epoch - 1].get("val/f1_macro"), "best_epoch": result.best_epoch,
              "epochs": len(result.history), "seconds": time.perf_counter() - t0,
              "status": "trained" + ("; cut short by train.budget" if _cut_short(result, job.config) else "")}
    kept = private.pop("_kept")
    if kept:  # (a list of C or alpha: the value val chose, beside the list)
        fields["settings"] = _settings(job.config, kept)
    fields.update(private)  # (not written out)
    return fields, result


def _cross_validated(job: _Job, fields: dict, result: TrainResult, by_epoch: np.ndarray,
                     seconds: float) -> tuple[dict, TrainResult]:
    """``job``'s outcome scored by its out-of-fold predictions over train + val (``by_epoch``,
    ``training/cross_validation.py``) in place of its validation split's (``fields``: its held-out
    run's; ``seconds``: its fold runs'): the monitored metric, the loss, its probabilities for the
    ensemble and, multiclass, which documents it gets right and its temperature
    (``_temperature``), multi-label its thresholds (``_thresholds``, tuned on all of train + val's
    out-of-fold probabilities), at the epoch count they score best (``_cv_epoch``: what its refit
    trains), among the epochs its held-out run trained."""
    config, monitor = job.config, job.config.train.monitor
    task = get_task(config.task)
    labels = np.asarray(pooled(job.prepared).labels)
    if task.multilabel:
        decision = Decision(config.train.threshold, config.train.allow_empty)
        epoch = best_epoch(by_epoch, labels, lambda logits, truth: ensemble_score(
            task.probabilities(logits), truth, monitor, decision), task.loss)
        logits = by_epoch[epoch - 1]
        probabilities = task.probabilities(logits)
        score = ensemble_score(probabilities, labels, monitor, decision)
        scored = {"val_score": -score if monitor == "val_loss" else score, "val_loss": task.loss(logits, labels),
                  "val_f1_macro": f1_scores(probabilities, labels, monitor, decision)[1],
                  "_thresholds": decision.thresholds(probabilities, labels, monitor),
                  "_probabilities": probabilities}
    else:
        softmax = task.probabilities
        epoch = best_epoch(by_epoch, labels, lambda logits, truth: ensemble_score(softmax(logits), truth, monitor))
        logits = by_epoch[epoch - 1]
        temperature, kept = fitted_and_kept(logits, labels)
        scaled = logits / temperature  # (the ranking's; the probabilities are the kept temperature's)
        probabilities = softmax(logits / kept if config.train.calibration == "temperature" else logits)
        score = ensemble_score(softmax(scaled), labels, monitor)
        scored = {"val_score": -score if monitor == "val_loss" else score, "val_loss": cross_entropy(scaled, labels),
                  "val_f1_macro": ensemble_score(logits, labels, "val_f1_macro"),
                  "_correct": logits.argmax(1) == labels, "_temperature": kept, "_probabilities": probabilities}
    return {**fields, **scored, "_cv_epoch": epoch, "seconds": fields["seconds"] + seconds,
            "status": f"{fields['status']}; {_cv_status(job, result, epoch)}"}, result


def _cv_status(job: _Job, result: TrainResult, epoch: int) -> str:
    """The leaderboard status of a cross-validated candidate: its folds, the epoch count chosen
    out of fold, and its score and best epoch on val alone (a solver's one pass: no epochs)."""
    if len(result.history) == 1:
        return f"{len(job.folds)}-fold cross-validated; val alone: {result.best_score:.4f}"
    return (f"{len(job.folds)}-fold cross-validated at {epoch} epoch{'s' * (epoch != 1)}; "
            f"val alone: {result.best_score:.4f} at epoch {result.best_epoch}")


def _preprocessing(config: Config) -> str:
    """Equal for candidates that can share one encoded corpus: the same preprocessing, and ids
    with (or without) the same unknown words' n-grams after them."""
    subwords = getattr(pipeline_for(config), "subwords", None)
    return json.dumps([config.preprocess.model_dump(), subwords], sort_keys=True)


def _validation(result: TrainResult, config: Config, prepared: PreparedData) -> tuple[float, dict]:
    """The best checkpoint's validation loss and the leaderboard's private fields: its
    probabilities as the ensemble would average them (``_probabilities``: multiclass, calibrated
    unless ``train.calibration`` is none) and, multiclass, which validation documents it gets
    right (``_correct``) and its temperature (``_temperature``). The multiclass loss is taken after temperature
    scaling: label smoothing makes a model's probabilities less confident whatever its accuracy,
    and that must not decide between candidates."""
    best = result.history[result.best_epoch - 1]["val/loss"]
    val = prepared.splits["val"]
    predictor = Predictor.load(RunLayout(result.run_dir).best_checkpoint, batch_size=config.train.eval_batch_size)
    kept = {k: predictor.artifact.model_params[k] for k, v in config.model.params().items()
            if k in SOLVER_SETTING.values() and isinstance(v, list)}  # (``_kept``: what a solver chose on val)
    logits = predictor.log_proba_encoded([val], calibrated=False)
    if config.task != "multiclass":  # (multi-label: the sigmoids as they are, for the ensemble)
        return best, {"_probabilities": predictor.task_.probabilities(logits).astype(np.float32), "_kept": kept}
    temperature, kept_t = fitted_and_kept(logits, val.labels)  # (the ranking's loss uses the fit)
    calibrated = config.train.calibration == "temperature"
    return cross_entropy(logits / temperature, val.labels), {
        "_correct": logits.argmax(1) == np.asarray(val.labels), "_temperature": kept_t, "_kept": kept,
        "_probabilities": predictor.task_.probabilities(logits / kept_t if calibrated else logits).astype(np.float32)}


def _cut_short(result: TrainResult, config: Config) -> bool:
    """Whether the run ended before its epochs were done without early stopping: its budget did
    (a solver's one pass is its whole training)."""
    t, epochs = config.train, len(result.history)
    if t.budget is None or config.model.params().get("solver", "sgd") != "sgd":
        return False
    stopped = t.early_stopping_patience is not None and epochs - result.best_epoch >= t.early_stopping_patience
    return epochs < t.epochs and not stopped


def _settings(config: Config, kept: dict | None = None) -> str:
    """What a candidate trains, in a few words: its model keys and the settings it changes
    (``kept``: the C or alpha a solver chose on validation among its list)."""
    params = config.model.params()
    model = " ".join(f"{k}={v}" for k, v in params.items() if k in ("members", "embedding_dim", "minn", "maxn"))
    if params.get("solver", "sgd") == "sgd":
        lr = f"lr={config.train.lr:g}"
    else:  # (a solver has no learning rate; its C or alpha is a number or a list tried on validation)
        key = SOLVER_SETTING[params["solver"]]
        value = params[key]
        shown = f"[{','.join(f'{v:g}' for v in value)}]" if isinstance(value, list) else f"{value:g}"
        if kept and key in kept:
            shown = f"{kept[key]:g} (of {shown})"
        lr = f"solver={params['solver']} {key}={shown}"
    tokenizer = f"tokenizer={config.preprocess.tokenizer}"
    if config.preprocess.min_freq != PreprocessConfig.model_fields["min_freq"].default:
        tokenizer += f" min_freq={config.preprocess.min_freq}"
    return " ".join(part for part in (model, lr, tokenizer) if part)


def _rank(rows: list[dict], monitor: str) -> str:
    """Give each trained row its rank (best first) in place; the winner's name.

    First by the monitored metric (ties: the lower validation loss). On accuracy, a few documents
    of a small validation split decide, so a candidate whose accuracy is below the best one's by
    no more than the noise of that difference (one standard error of McNemar's paired test: the
    square root of the number of documents on which exactly one of the two is right) counts as
    level with it; of those, the one with the lowest calibrated validation loss, a score that every
    document moves a little instead of a few moving it a lot, wins. Losses equal to the 4 decimals
    the leaderboard shows are a tie, which the earlier candidate (``CANDIDATES`` is simplest
    first) wins: on a validation split of a few documents every candidate's temperature can
    flatten it to the uniform loss, ln C, and a difference in the fifth decimal decided nothing."""
    larger = monitor != "val_loss"
    order = {id(r): i for i, r in enumerate(rows)}

    def loss(r: dict) -> tuple:  # (the leaderboard's 4 decimals; ties to the earlier candidate)
        return round(r["val_loss"], 4), order[id(r)]

    trained = [r for r in rows if r.get("status", "").startswith("trained")]
    trained.sort(key=lambda r: ((-r["val_score"] if larger else r["val_score"]), *loss(r)))
    leader = trained[0]
    if "_correct" in leader and monitor in ("val_accuracy", "val_f1_micro"):  # (multiclass micro-F1 is accuracy)
        level = [r for r in trained if level_within_noise(leader["_correct"], r["_correct"])]
        winner = min(level, key=loss)
        if winner is not leader:
            tied = round(winner["val_loss"], 4) == round(leader["val_loss"], 4)
            winner["status"] += (f"; accuracy level with {leader['candidate']}'s (within the noise of "
                                 "their difference), " + ("the same calibrated val loss: the simpler candidate"
                                                         if tied else "lower calibrated val loss"))
            trained.remove(winner)
            trained.insert(0, winner)
    for rank, row in enumerate(trained, 1):
        row["rank"] = rank
    return trained[0]["candidate"]


def _best_first(rows: list[dict]) -> None:
    """Sort the leaderboard's rows in place: by rank, the candidates not trained last (in their
    order). (The key must not read ``len(rows)``: the list is empty while it is being sorted.)"""
    last = len(rows) + 1
    rows.sort(key=lambda r: r.get("rank", last))


def _write_leaderboard(run: RunLayout, rows: list[dict]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, LEADERBOARD_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text(run.leaderboard, out.getvalue())


def _leaderboard_text(rows: list[dict], plan: list[np.ndarray] | None = None) -> str:
    scored = "" if plan is None else f" (scores: {len(plan)}-fold cross-validation of train + val)"
    lines = [f"default selection, best first{scored}:",
             f"  {'#':>2}  {'candidate':<13} {'val score':>9} {'val loss':>8} {'macro-F1':>8} {'epochs':>6} "
             f"{'seconds':>7}  settings"]
    for row in rows:
        if row["candidate"] == "ensemble":
            lines.append(f"  {row['rank']:>2}  {'ensemble':<13} {row['val_score']:>9.4f} {row['val_loss']:>8.4f} "
                         f"{_macro(row)} {'':>6} {'':>7}  {row['settings']}")
            continue
        if not row.get("status", "").startswith("trained"):
            lines.append(f"  {'-':>2}  {row['candidate']:<13} {row.get('status', '')}")
            continue
        lines.append(f"  {row['rank']:>2}  {row['candidate']:<13} {row['val_score']:>9.4f} {row['val_loss']:>8.4f} "
                     f"{_macro(row)} {row['epochs']:>6} {row['seconds']:>7.1f}  {row['settings']}")
        if row["status"] != "trained":
            lines.append(f"      ({row['status'].removeprefix('trained; ')})")
    return "\n".join(lines)


def _macro(row: dict) -> str:
    """The leaderboard's macro-F1 cell, 8 wide (a dash when the row has none)."""
    value = row.get("val_f1_macro")
    return f"{'-':>8}" if value is None else f"{value:>8.4f}"


def _promote(run: RunLayout, winner: Path, losers: list[Path]) -> None:
    """The winner's run folder becomes the run folder; the ``losers`` keep all but their
    checkpoints (an ensemble's members keep theirs until the ensemble takes them)."""
    for path in losers:
        shutil.rmtree(path / "checkpoints", ignore_errors=True)
    for item in winner.iterdir():
        item.rename(run.root / item.name)
    winner.rmdir()
