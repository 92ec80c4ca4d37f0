"""The training recipe: set up → epoch loop → final evaluation, one run folder.

    train(config)      checks the data and settings, creates the run folder, runs
    resume(run_dir)    reads last.ckpt (model artifact + TrainingState) and continues exactly

Everything the loop changes lives in one :class:`LoopState` (epoch and batch reached, step, best
score, early stopping, history, the running sums of the current epoch), which ``last.ckpt``
stores beside the optimizer and RNG states; batches are a pure function of (seed, epoch), so a
resumed run continues exactly where the interrupted one stopped. The final evaluation and plots
are in ``training/final.py``, outside the loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from textclf.artifact import ModelArtifact, TrainingState
from textclf.config import Config, dump_config, load_config
from textclf.errors import TextclfError, TrainingError, TrainingInterrupted, UsageError
from textclf.evaluation.metrics import classification_metrics, cross_entropy, multilabel_metrics
from textclf.evaluation.thresholds import tune_thresholds
from textclf.files import write_json, write_text
from textclf.forked import refuse_while_starting_up
from textclf.inference import predict_logits
from textclf.models.char_memo import remembering
from textclf.precision import autocast, check_training
from textclf.reporting.data_stats import write_data_statistics
from textclf.run_layout import RunLayout
from textclf.runtime import environment, resolve_device, restore_rng_state, rng_state
from textclf.text.prepare import PreparedData, prepare_with_recipe
from textclf.training.distributed import Distributed, current, shutdown
from textclf.training.final import TrainResult, final_evaluation
from textclf.training.optimizer import clip_gradients, sparse_parameters
from textclf.training.refit import check_refit, refit_run
from textclf.training.run_dir import create_run_dir
from textclf.training.select import select_and_train
from textclf.training.setup import RunSetup, setup_run
from textclf.training.solver import fit_with_solver
from textclf.training.tracking import MlflowTracker, open_tracker
from textclf.training.writers import MetricsWriter

__all__ = ["LoopState", "train", "resume", "TrainResult"]

# The monitored metric's key in an epoch record, and whether larger is better. A multiclass
# record has no val/f1_micro: there micro-F1 is the accuracy.
MONITOR = {
    "val_accuracy": ("val/accuracy", True),
    "val_f1_micro": ("val/f1_micro", True),
    "val_f1_macro": ("val/f1_macro", True),
    "val_loss": ("val/loss", False),
}


def monitored(record: dict, monitor: str) -> float:
    key = MONITOR[monitor][0]
    return record[key] if key in record else record["val/accuracy"]


@dataclass
class EpochSums:
    """Running sums of the epoch in progress (kept in checkpoints taken mid-epoch)."""

    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    seconds: float = 0.0


@dataclass
class LoopState:
    epoch_done: int = 0
    batches_done: int = 0
    step: int = 0
    best_score: float | None = None
    best_loss: float | None = None  # the best epoch's validation loss: it breaks ties (end_epoch)
    best_epoch: int = 0
    stale_epochs: int = 0
    stopped_early: bool = False
    history: list[dict] = field(default_factory=list)
    partial: EpochSums = field(default_factory=EpochSums)

    @classmethod
    def from_dict(cls, d: dict) -> "LoopState":
        return cls(**{**d, "partial": EpochSums(**d["partial"])})

    def end_epoch(self, record: dict, monitor: str, epochs: int, patience: int | None) -> bool:
        """Record a finished epoch; return whether it is the best so far. An epoch that ties the
        best accuracy or F1 is the better one when its validation loss is lower: on a small
        validation split a few documents set the accuracy, and several epochs often share it
        while the loss still falls (the later, more confident model generalises better)."""
        larger_is_better = MONITOR[monitor][1]
        score, best = monitored(record, monitor), self.best_score
        loss = record.get("val/loss")
        improved = best is None or (score > best if larger_is_better else score < best) or (
            larger_is_better and score == best and None not in (loss, self.best_loss) and loss < self.best_loss)
        if improved:
            self.best_score, self.best_epoch, self.stale_epochs = score, record["epoch"], 0
            self.best_loss = loss
        else:
            self.stale_epochs += 1
        self.history.append(record)
        self.epoch_done, self.batches_done, self.partial = record["epoch"], 0, EpochSums()
        self.stopped_early = bool(patience and self.stale_epochs >= patience and record["epoch"] < epochs)
        return improved


@remembering()  # (each document's character n-grams counted once while it trains: models/char_memo.py)
def train(
    config: Config,
    run_dir: str | Path | None = None,
    prepared: PreparedData | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
    final_evaluation: bool = True,
    tracking_parent: str | None = None,
    resumable: bool = True,
    deadline: float | None = None,
    until_epoch: int | None = None,
    refit: bool = True,
    data_statistics: bool = True,
    on_validation: Callable[[int, np.ndarray], None] | None = None,
    checkpoints: bool = True,
) -> TrainResult:
    """Train ``config``'s model and write a complete run folder; return its summary.

    ``on_epoch`` sees every epoch's record (a search uses it to prune); ``final_evaluation``
    off skips evaluating the best checkpoint on val and test at the end (``train.refit`` then
    refits without them; it happens between the two otherwise); ``refit`` off never refits (a
    selection's candidates, a search's trials: they are chosen on val, not kept). With
    ``tracking.mlflow`` the run is also recorded in MLflow (a child of ``tracking_parent``).
    ``resumable`` off writes no ``last.ckpt`` (only ``best.ckpt``): the run cannot be resumed.
    ``deadline`` (a ``time.perf_counter()``) stops training after the epoch in which it passes, as
    ``train.budget`` does (a default selection gives its candidates the end of its own budget).
    ``until_epoch`` (a refit) stops after that epoch of the configured schedule and keeps the last
    epoch, not the best on validation. ``data_statistics`` off writes no ``data/`` folder (a
    selection writes its winner's once; a refit's data are the run's). ``on_validation(epoch,
    logits)`` sees every epoch's validation logits, in the split's order (a cross-validated
    selection's fold runs: ``training/cross_validation.py``); ``checkpoints`` off (with
    ``resumable`` off) writes no checkpoint at all (those fold runs: their predictions are what
    they are for)."""
    refuse_while_starting_up()  # (a script without a main guard, re-run by a spawned worker)
    dist = current()  # under torchrun: this process's rank; else a single process
    check_training(resolve_device(config.train.device), config.train.precision)  # before any candidate starts
    check_refit(config, dist.active)
    if config.model.auto and prepared is None and not dist.active:  # no model named: choose one on val
        return select_and_train(config, train, run_dir, progress, final_evaluation, tracking_parent, refit)
    with _rank_context(dist) as scratch:
        # Everything is set up (and so checked) before the run folder exists: a mistake leaves nothing.
        setup = setup_run(*_prepare_in_turn(config, prepared, dist), dist)
        setup.resumable, setup.deadline, setup.until_epoch = resumable, deadline, until_epoch
        setup.refit = refit and config.train.refit
        setup.data_statistics, setup.on_validation = data_statistics, on_validation
        setup.checkpoints = checkpoints or resumable
        run = RunLayout(create_run_dir(config.output_dir, config.name, run_dir) if dist.is_main
                        else create_run_dir("", "", scratch / "run"))
        return _train_in(setup, run, progress and dist.is_main, on_epoch, final_evaluation and dist.is_main,
                         tracking_parent if dist.is_main else None)


def _train_in(setup: RunSetup, run: RunLayout, progress: bool, on_epoch, evaluate: bool,
              tracking_parent: str | None) -> TrainResult:
    config, prepared = setup.config, setup.prepared
    tracker = None
    try:
        if setup.distributed.active:
            d = setup.distributed
            print(f"distributed: {d.world_size} processes ({d.backend}); global batch "
                  f"{d.world_size} x {config.train.batch_size}", flush=True)
        if setup.distributed.is_main:
            tracker = open_tracker(config, run, tracking_parent)
        write_text(run.config, dump_config(config))
        write_json(run.environment, environment(setup.device))
        if setup.data_statistics:
            write_data_statistics(prepared, config, run.data)
        if setup.class_weights is not None:
            write_json(run.class_weights, dict(zip(prepared.label_names, setup.class_weights.tolist())))
        state = _fit(setup, run, LoopState(), progress, on_epoch, tracker)
    except BaseException as exc:
        if tracker is not None:
            tracker.abort(exc)
        # Stopped before anything could be resumed (an interrupt during set-up, a divergence in
        # epoch 1, any stop of a run that is not resumable): a folder that could neither be
        # resumed nor reused would only be in the way.
        if not run.last_checkpoint.is_file():
            shutil.rmtree(run.root, ignore_errors=True)
        raise
    return _finish(setup, run, state, evaluate, tracker, progress)


@contextlib.contextmanager
def _rank_context(dist: Distributed):
    """Ranks other than 0 of a torchrun job print nothing and write into a scratch folder that
    is removed at the end; the process group is closed when the run ends."""
    if not dist.active:
        yield None
        return
    scratch = None if dist.is_main else Path(tempfile.mkdtemp(prefix=f"textclf-rank{dist.rank}-"))
    try:
        if scratch is None:
            yield None
        else:
            with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
                yield scratch
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        shutdown()


def _prepare_in_turn(config: Config, prepared: PreparedData | None,
                     dist: Distributed) -> tuple[Config, PreparedData | None]:
    """Under torchrun rank 0 decides the default recipe and prepares (and caches) the data as the
    run will train on them (the recipe may choose another tokenizer) first; the others then read
    the cache. The config comes back decided, so setup_run does not decide it again. A mistake
    found by rank 0 (a missing file, bad data) is its one-line error; the other ranks learn of it
    and stop with its exit code, silently."""
    if not dist.active or prepared is not None:
        return config, prepared
    if dist.is_main:
        try:
            config, prepared = prepare_with_recipe(config)
        except TextclfError as exc:
            dist.share(exc.exit_code)
            raise
        dist.share(None)
        return config, prepared
    failed = dist.share(None)
    if failed is not None:
        raise SystemExit(failed)
    return prepare_with_recipe(config, quiet=True)


@remembering()
def resume(run_dir: str | Path, progress: bool = True) -> TrainResult:
    """Continue an interrupted run from ``checkpoints/last.ckpt``, exactly where it stopped."""
    run = RunLayout(run_dir)
    if not run.is_run():
        raise UsageError(f"{run.root}: not a run folder (no config.yaml); give the folder `textclf train` made")
    if not run.last_checkpoint.is_file():
        raise UsageError(f"{run.root}: nothing to resume (no checkpoints/last.ckpt); start it again with textclf train")
    artifact, saved = ModelArtifact.load_with_state(run.last_checkpoint)
    if saved is None:
        raise UsageError(f"{run.last_checkpoint}: holds no training state; start the run again with textclf train")
    dist = current()
    with _rank_context(dist) as scratch:
        config = load_config(run.config, stored=True)
        check_refit(config, dist.active)
        setup = setup_run(*_prepare_in_turn(config, None, dist), dist, state_dict=artifact.state_dict)
        setup.refit = config.train.refit
        if not dist.is_main:  # the other ranks read the run folder but write elsewhere
            run = RunLayout(create_run_dir("", "", scratch / "run"))
        return _resume_in(setup, run, artifact, saved, progress and dist.is_main)


def _resume_in(setup: RunSetup, run: RunLayout, artifact: ModelArtifact, saved: TrainingState,
               progress: bool) -> TrainResult:
    setup.thresholds = artifact.thresholds  # (setup_run loaded the weights)
    if saved.optimizer:  # (a solver's run saved none)
        setup.optimizer.load_state_dict(saved.optimizer)
    if setup.schedule is not None and saved.scheduler is not None:
        setup.schedule.load_state_dict(saved.scheduler)
    if setup.scaler.is_enabled() and saved.scaler:
        setup.scaler.load_state_dict(saved.scaler)
    state = LoopState.from_dict(saved.loop)
    restore_rng_state(saved.rng)
    # metrics.jsonl may be one line ahead of last.ckpt if the run died between the two.
    write_text(run.metrics, "".join(json.dumps(r) + "\n" for r in state.history))
    print(f"resuming {run.root} after epoch {state.epoch_done}, batch {state.batches_done}")
    tracker = open_tracker(setup.config, run) if setup.distributed.is_main else None
    try:
        state = _fit(setup, run, state, progress, None, tracker)
    except BaseException as exc:
        if tracker is not None:
            tracker.abort(exc)
        raise
    return _finish(setup, run, state, setup.distributed.is_main, tracker, progress)


def _finish(setup: RunSetup, run: RunLayout, state: LoopState, evaluate: bool,
            tracker: MlflowTracker | None = None, progress: bool = True) -> TrainResult:
    refit = (partial(refit_run, setup.config, setup.prepared, run, state.best_epoch, train, progress,
                     state.history, setup.budget_ends) if setup.refit else None)  # (check_refit: no torchrun)
    if not evaluate:
        if refit is not None:
            refit()
        result = TrainResult(run.root, state.best_epoch, float(state.best_score), state.history)
    else:
        result = final_evaluation(setup, run, state.best_epoch, state.best_score, state.history, refit)
    if tracker is not None:
        tracker.log_outputs(run, model=evaluate)
        tracker.end()
    return result


def _save_last(setup: RunSetup, run: RunLayout, state: LoopState, record: dict | None = None) -> ModelArtifact:
    artifact = setup.artifact(record)
    schedule = None if setup.schedule is None else setup.schedule.state_dict()
    scaler = setup.scaler.state_dict() if setup.scaler.is_enabled() else None
    artifact.save(run.last_checkpoint,
                  TrainingState(asdict(state), setup.optimizer_state(), rng_state(), schedule, scaler))
    return artifact


def _fit(setup: RunSetup, run: RunLayout, state: LoopState, progress: bool,
         on_epoch: Callable[[dict], None] | None, tracker: MlflowTracker | None = None) -> LoopState:
    """The epoch loop: train, validate, keep the best, log, maybe stop early."""
    t, val_split = setup.config.train, setup.prepared.splits["val"]
    n_params = sum(p.numel() for p in setup.model.parameters())
    print(f"run folder: {run.root}")
    print(f"model {setup.config.model.name}: {n_params:,} parameters on {setup.device}; "
          f"train {len(setup.prepared.splits['train']):,} / val {len(val_split):,} examples", flush=True)
    writer = MetricsWriter(run.metrics, run.tensorboard)
    # train.budget counts from here (in a resumed run too); a deadline given to train() may come sooner.
    budget = t.budget_seconds()
    setup.budget_ends = None if budget is None else time.perf_counter() + budget  # (a refit must fit too)
    stop_at = min((end for end in (setup.budget_ends, setup.deadline) if end is not None), default=None)
    best = None  # a run that is not resumable: its best epoch's artifact, in memory
    try:
        with _Interrupt() as interrupt:
            last = min(t.epochs, setup.until_epoch or t.epochs)
            while state.epoch_done < last and not state.stopped_early:
                epoch = state.epoch_done + 1
                _train_epoch(setup, run, state, epoch, interrupt, progress, writer)
                record = _validate(setup, state, epoch)
                improved = state.end_epoch(record, t.monitor, t.epochs, t.early_stopping_patience)
                out_of_time = (stop_at is not None and not state.stopped_early and epoch < t.epochs
                               and time.perf_counter() >= stop_at)
                state.stopped_early = state.stopped_early or out_of_time
                artifact = (_save_last(setup, run, state, record) if setup.resumable
                            else setup.artifact(record) if setup.checkpoints else None)
                keep = epoch == last if setup.until_epoch is not None else improved  # (a refit keeps its last)
                if artifact is not None and keep:
                    if setup.resumable:  # weights only: resuming reads last.ckpt
                        artifact.save(run.best_checkpoint)
                    else:  # written once, when the loop ends (a run that cannot resume has no use for it before)
                        best = replace(artifact, state_dict=_kept_weights(artifact.state_dict,
                                                                          None if best is None else best.state_dict))
                writer.log(record, step=epoch)
                if tracker is not None:
                    tracker.log_epoch(record)
                micro = f" micro-F1 {record['val/f1_micro']:.4f}" if "val/f1_micro" in record else ""
                print(
                    f"epoch {epoch:>3}/{t.epochs}  train loss {record['train/loss']:.4f} "
                    f"acc {record['train/accuracy']:.4f}  val loss {record['val/loss']:.4f} "
                    f"acc {record['val/accuracy']:.4f}{micro} F1 {record['val/f1_macro']:.4f}  "
                    f"{record['epoch_seconds']:.1f}s{'  *best' if improved else ''}",
                    flush=True,
                )
                if out_of_time:
                    spent = f"train.budget {budget:g} s spent" if budget is not None else "deadline passed"
                    print(f"{spent}: stopping after epoch {epoch} of {t.epochs} (best epoch {state.best_epoch} kept)")
                elif state.stopped_early:
                    print(f"early stopping: {t.monitor} has not improved for {state.stale_epochs} epochs")
                if on_epoch is not None:
                    on_epoch(record)
                if interrupt.signal is not None:  # (it came during validation: the epoch is saved)
                    raise _interrupted(setup, run, interrupt.signal, f"after epoch {epoch}")
        if best is not None:
            best.save(run.best_checkpoint)
    finally:
        writer.close()
    return state


def _kept_weights(state_dict: dict, kept: dict | None) -> dict:
    """A copy of ``state_dict`` (the model's, which training changes next), written into ``kept``
    (the last copy) when there is one: a selection's candidate on a few hundred documents improves
    at most epochs, and copying into the tensors it has is about a third of the time of new ones
    (0.03 against 0.1 s for the bag's 110 MB)."""
    if kept is None:
        return {key: value.detach().clone() for key, value in state_dict.items()}
    for key, value in state_dict.items():
        kept[key].copy_(value.detach())
    return kept


def _validate(setup: RunSetup, state: LoopState, epoch: int) -> dict:
    """The epoch's record: training sums and validation metrics. A multilabel model's decision
    thresholds are chosen here, on the validation split, and kept with its checkpoints."""
    started = time.perf_counter()
    val_split, p, t = setup.prepared.splits["val"], state.partial, setup.config.train
    logits = predict_logits(setup.eval_model, val_split, t.eval_batch_size, setup.device, t.precision)
    if setup.on_validation is not None:
        setup.on_validation(epoch, logits)
    loss_sum, correct, seen = setup.distributed.sum([p.loss_sum, float(p.correct), float(p.seen)])  # all ranks
    record = {"epoch": epoch, "step": state.step, "train/loss": loss_sum / seen, "train/accuracy": correct / seen}
    if setup.task.multilabel:
        probabilities = setup.task.probabilities(logits)
        objective = "f1_macro" if t.monitor == "val_f1_macro" else "f1_micro"
        thresholds = tune_thresholds(probabilities, val_split.labels, t.threshold, objective, t.allow_empty)
        setup.thresholds = thresholds.tolist()
        chosen = setup.task.decide(probabilities, thresholds, t.allow_empty)
        val = multilabel_metrics(val_split.labels, chosen, setup.prepared.label_names)
        record.update({"val/loss": setup.task.loss(logits, val_split.labels),
                       "val/accuracy": val["subset_accuracy"], "val/f1_micro": val["f1_micro"],
                       "val/f1_macro": val["f1_macro"]})
    else:
        val = classification_metrics(val_split.labels, logits.argmax(1), setup.prepared.label_names)
        record.update({"val/loss": cross_entropy(logits, val_split.labels), "val/accuracy": val["accuracy"],
                       "val/f1_macro": val["f1_macro"]})
    return {**record, "lr": setup.lr(), "epoch_seconds": p.seconds,
            "eval_seconds": time.perf_counter() - started}


def _train_epoch(setup: RunSetup, run: RunLayout, state: LoopState, epoch: int, interrupt, progress: bool,
                 writer: MetricsWriter) -> None:
    """One epoch (or its remainder, when resuming); updates ``state`` in place."""
    t, model, loader, device, scaler = (setup.config.train, setup.model, setup.loader, setup.device, setup.scaler)
    loader.set_epoch(epoch)
    model.train()
    p = state.partial
    if model.solver is not None:  # fitted in one pass by a convex solver: this epoch is the fit
        started = time.perf_counter()
        p.loss_sum, p.correct, p.seen = fit_with_solver(setup)
        p.seconds = time.perf_counter() - started
        state.batches_done = len(loader)
        return
    optimizer = setup.optimizer
    bar = tqdm(loader.iter_from(state.batches_done), total=len(loader), initial=state.batches_done,
               desc=f"epoch {epoch}/{t.epochs}", unit="batch", disable=not progress, leave=False)
    started = time.perf_counter() - p.seconds
    for ids, lengths, labels, weights in bar:
        ids, lengths, labels = ids.to(device), lengths.to(device), labels.to(device)
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, t.precision):  # train.precision (fp32: nothing)
            logits = setup.train_model(ids, lengths)  # (batch, num_classes); DDP syncs gradients in backward
            if weights is None:
                loss = setup.criterion(logits, labels)
            else:  # data.weight_column
                loss = setup.task.weighted_loss(logits, labels, weights.to(device), setup.device_class_weights,
                                                t.label_smoothing)
            penalty = model.regularization()  # e.g. the linear model's L2 on the rows it read
        # fp16: backward from the loss times the scale, then the true gradients back (the scaler
        # passes everything through at other precisions).
        scaler.scale(loss if penalty is None else loss + penalty).backward()
        if setup.distributed.active:  # (DDP averaged the dense gradients during backward)
            setup.distributed.average_sparse(sparse_parameters(model))
        scaler.unscale_(optimizer)
        # The norm before clipping (no clipping when grad_clip is unset): checks for inf/NaN. In
        # fp16 an overflowed gradient is not a divergence: the scaler skips that step and lowers
        # its scale.
        norm = clip_gradients(model.parameters(), t.grad_clip)
        if not (torch.isfinite(loss) and (scaler.is_enabled() or torch.isfinite(norm))):
            bar.close()
            raise _diverged(run, state, epoch, t.lr, loss, norm)
        scaler.step(optimizer)
        scaler.update()
        state.step += 1
        if setup.schedule is not None:
            setup.schedule.step()
            writer.scalar("train/lr_step", optimizer.param_groups[0]["lr"], state.step)
        state.batches_done += 1
        p.loss_sum += loss.item() * len(labels)
        p.correct += setup.task.correct(logits, labels)
        p.seen += len(labels)
        p.seconds = time.perf_counter() - started
        bar.set_postfix(loss=f"{p.loss_sum / p.seen:.4f}", acc=f"{p.correct / p.seen:.3f}")
        every = t.checkpoint_every_steps
        if setup.resumable and (interrupt.signal is not None or (every and state.step % every == 0)):
            _save_last(setup, run, state)
        if interrupt.signal is not None:
            bar.close()
            raise _interrupted(setup, run, interrupt.signal, f"at epoch {epoch}, batch {state.batches_done}")
    bar.close()


def _interrupted(setup: RunSetup, run: RunLayout, signum: int, where: str) -> TrainingInterrupted:
    message = f"interrupted ({signal.Signals(signum).name}) {where}"
    if not setup.resumable:
        return TrainingInterrupted(message)
    return TrainingInterrupted(f"{message}; state saved in {run.last_checkpoint}; continue with: "
                               f"textclf train --resume {run.root}")


def _diverged(run: RunLayout, state: LoopState, epoch: int, lr: float, loss, norm) -> TrainingError:
    what, value = ("loss", loss) if not torch.isfinite(loss) else ("gradient norm", norm)
    kept = (f"the best checkpoint so far (epoch {state.best_epoch}) is kept in {run.best_checkpoint}"
            if run.best_checkpoint.is_file() else "no epoch had finished, so there is no checkpoint")
    if not run.last_checkpoint.is_file():
        kept += f" and the run folder {run.root} is removed"
    return TrainingError(
        f"training diverged at epoch {epoch}, step {state.step + 1}: the {what} is {float(value.detach())}; "
        f"lower train.lr (now {lr:g}) or set train.grad_clip (for example 1.0); {kept}"
    )


class _Interrupt:
    """Turns SIGINT/SIGTERM into a flag the loop checks after each step (main thread only)."""

    def __init__(self):
        self.signal: int | None = None

    def __enter__(self):
        self._old = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signal = signum

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
