"""The training loop: plain PyTorch, one function from a config to a finished run folder.

set up (seed, device, data, model, optimizer) → for each epoch: train, validate, log, checkpoint,
maybe stop early → evaluate the best checkpoint on val and test → write results.

Everything the loop changes lives in one dict (epoch and batch reached, step, best score, early
stopping counter, history, the running sums of the current epoch) that every checkpoint carries
with the optimizer and RNG states; batches are a pure function of (seed, epoch), so ``resume``
continues an interrupted run exactly where it stopped.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from textclf import __version__
from textclf.config import Config, dump_config, load_config
from textclf.errors import ConfigError, TrainingError, TrainingInterrupted, UsageError
from textclf.evaluation.evaluate import evaluate_logits
from textclf.evaluation.metrics import classification_metrics, cross_entropy
from textclf.evaluation.predict import predict_logits
from textclf.files import write_json, write_text
from textclf.reporting.data_stats import write_data_statistics
from textclf.reporting.plots import plot_training_curves
from textclf.text.prepare import PreparedData, prepare_data
from textclf.training.checkpoint import load_checkpoint, save_checkpoint
from textclf.training.optimizer import clip_gradients
from textclf.training.run_dir import create_run_dir
from textclf.training.runtime import resolve_device, restore_rng_state, rng_state, seed_everything
from textclf.training.setup import build_parts
from textclf.training.writers import MetricsWriter

__all__ = ["train", "resume", "TrainResult", "class_weights"]

# The monitored metric's key in an epoch record, and whether larger is better.
_MONITOR = {
    "val_accuracy": ("val/accuracy", True),
    "val_f1_macro": ("val/f1_macro", True),
    "val_loss": ("val/loss", False),
}


@dataclass
class TrainResult:
    run_dir: Path
    best_epoch: int
    best_score: float
    history: list[dict] = field(default_factory=list)
    val_metrics: dict | None = None
    test_metrics: dict | None = None


def class_weights(setting, counts: np.ndarray, label_names: list[str]) -> torch.Tensor | None:
    """Loss weight per class from ``train.class_weights``.

    ``none`` → None; ``balanced`` → n / (k · count); ``inverse`` → n / count (the Kaggle
    notebook's); a list → itself, in label order; a mapping → by label name (others get 1).
    """
    if isinstance(setting, str):
        if setting == "none":
            return None
        counts = np.maximum(np.asarray(counts, dtype=np.float64), 1)
        k = len(counts) if setting == "balanced" else 1
        return torch.tensor(counts.sum() / (k * counts), dtype=torch.float32)
    if isinstance(setting, dict):
        unknown = sorted(set(setting) - set(label_names))
        if unknown:
            raise ConfigError(
                f"train.class_weights: unknown labels {', '.join(map(repr, unknown))}; "
                f"labels are {', '.join(label_names)}"
            )
        return torch.tensor([setting.get(name, 1.0) for name in label_names], dtype=torch.float32)
    if len(setting) != len(counts):
        raise ConfigError(
            f"train.class_weights: {len(setting)} weights given but the data has {len(counts)} classes"
        )
    return torch.tensor(setting, dtype=torch.float32)


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


def train(
    config: Config,
    run_dir: str | Path | None = None,
    prepared: PreparedData | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
    final_evaluation: bool = True,
) -> TrainResult:
    """Train ``config``'s model and write a complete run folder; return its summary.

    ``on_epoch`` sees every epoch's record (a search uses it to prune); ``final_evaluation``
    off skips evaluating the best checkpoint on val and test at the end."""
    # Data and settings are checked before the run folder exists, so a mistake leaves nothing.
    prepared = prepared or prepare_data(config)
    counts = np.bincount(prepared.splits["train"].labels, minlength=prepared.num_classes)
    class_weights(config.train.class_weights, counts, prepared.label_names)
    resolve_device(config.train.device)
    run = create_run_dir(config.output_dir, config.name, run_dir)
    write_text(run / "config.yaml", dump_config(config))
    return _run(config, run, prepared, progress, None, on_epoch, final_evaluation)


def resume(run_dir: str | Path, progress: bool = True) -> TrainResult:
    """Continue an interrupted run from ``checkpoints/last.ckpt``, exactly where it stopped."""
    run = Path(run_dir)
    if not (run / "config.yaml").is_file():
        raise UsageError(f"{run}: not a run folder (no config.yaml); give the folder `textclf train` made")
    last = run / "checkpoints" / "last.ckpt"
    if not last.is_file():
        raise UsageError(f"{run}: nothing to resume (no checkpoints/last.ckpt); start it again with textclf train")
    config = load_config(run / "config.yaml")
    return _run(config, run, None, progress, load_checkpoint(last))


def _run(
    config: Config,
    run: Path,
    prepared: PreparedData | None,
    progress: bool,
    resume_state: dict | None,
    on_epoch: Callable[[dict], None] | None = None,
    final_evaluation: bool = True,
) -> TrainResult:
    t = config.train
    if t.num_threads:
        torch.set_num_threads(t.num_threads)
    seed_everything(config.train.run_seed(config.seed))
    device = resolve_device(t.device)
    prepared = prepared or prepare_data(config)
    if resume_state is None:
        write_data_statistics(prepared, config, run / "data")

    train_split, val_split = prepared.splits["train"], prepared.splits["val"]
    counts = np.bincount(train_split.labels, minlength=prepared.num_classes)
    parts = build_parts(config, prepared, device)
    model, optimizer, criterion, loader = parts.model, parts.optimizer, parts.criterion, parts.loader
    if parts.class_weights is not None:
        write_json(run / "class_weights.json", dict(zip(prepared.label_names, parts.class_weights.tolist())))
    monitor_key, larger_is_better = _MONITOR[t.monitor]

    base = {
        "textclf_version": __version__,
        "config": config.model_dump(mode="json"),
        "model": {"name": config.model.name, "params": config.model.params()},
        "vocab": prepared.vocab.itos_,
        "label_names": prepared.label_names,
        "train_label_counts": counts.tolist(),
    }
    # Everything the loop changes; saved in every checkpoint, so a resumed run continues exactly.
    s = {
        "epoch_done": 0, "batches_done": 0, "step": 0, "best_score": None, "best_epoch": 0,
        "stale_epochs": 0, "stopped_early": False, "history": [],
        "partial": {"loss_sum": 0.0, "correct": 0, "seen": 0, "seconds": 0.0},
    }
    if resume_state is not None:
        saved = resume_state["training"]
        model.load_state_dict(resume_state["state_dict"])
        optimizer.load_state_dict(saved["optimizer"])
        s = {k: saved[k] for k in s}
        restore_rng_state(saved["rng"])
        # metrics.jsonl may be one line ahead of last.ckpt if the run died between the two.
        write_text(run / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in s["history"]))
        print(f"resuming {run} after epoch {s['epoch_done']}, batch {s['batches_done']}")

    def snapshot(metrics: dict | None = None) -> dict:
        training = {**s, "optimizer": optimizer.state_dict(), "rng": rng_state()}
        return {**base, "state_dict": model.state_dict(), "metrics": metrics or {}, "training": training}

    n_params = sum(p.numel() for p in model.parameters())
    print(f"run folder: {run}")
    print(f"model {config.model.name}: {n_params:,} parameters on {device}; "
          f"train {len(train_split):,} / val {len(val_split):,} examples", flush=True)
    writer = MetricsWriter(run)
    try:
        with _Interrupt() as interrupt:
            while s["epoch_done"] < t.epochs and not s["stopped_early"]:
                epoch = s["epoch_done"] + 1
                _train_epoch(epoch, model, optimizer, criterion, loader, device, t, s, progress,
                             interrupt, snapshot, run)
                started = time.perf_counter()
                val_logits = predict_logits(model, val_split, t.eval_batch_size, device)
                val = classification_metrics(val_split.labels, val_logits.argmax(1), prepared.label_names)
                p = s["partial"]
                record = {
                    "epoch": epoch,
                    "step": s["step"],
                    "train/loss": p["loss_sum"] / p["seen"],
                    "train/accuracy": p["correct"] / p["seen"],
                    "val/loss": cross_entropy(val_logits, val_split.labels),
                    "val/accuracy": val["accuracy"],
                    "val/f1_macro": val["f1_macro"],
                    "lr": optimizer.param_groups[0]["lr"],
                    "epoch_seconds": p["seconds"],
                    "eval_seconds": time.perf_counter() - started,
                }
                score = record[monitor_key]
                best = s["best_score"]
                improved = best is None or (score > best if larger_is_better else score < best)
                if improved:
                    s["best_score"], s["best_epoch"], s["stale_epochs"] = score, epoch, 0
                else:
                    s["stale_epochs"] += 1
                s["history"].append(record)
                s["epoch_done"], s["batches_done"] = epoch, 0
                s["partial"] = {"loss_sum": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
                patience = t.early_stopping_patience
                s["stopped_early"] = bool(patience and s["stale_epochs"] >= patience and epoch < t.epochs)
                state = snapshot(record)
                if improved:  # weights only: resuming reads last.ckpt, which keeps the optimizer
                    best = {k: v for k, v in state.items() if k != "training"}
                    save_checkpoint(run / "checkpoints" / "best.ckpt", best)
                save_checkpoint(run / "checkpoints" / "last.ckpt", state)
                writer.log(record, step=epoch)
                print(
                    f"epoch {epoch:>3}/{t.epochs}  train loss {record['train/loss']:.4f} "
                    f"acc {record['train/accuracy']:.4f}  val loss {record['val/loss']:.4f} "
                    f"acc {record['val/accuracy']:.4f} F1 {record['val/f1_macro']:.4f}  "
                    f"{record['epoch_seconds']:.1f}s{'  *best' if improved else ''}",
                    flush=True,
                )
                if s["stopped_early"]:
                    print(f"early stopping: {t.monitor} has not improved for {s['stale_epochs']} epochs")
                if on_epoch is not None:
                    on_epoch(record)
    finally:
        writer.close()
    if not final_evaluation:
        return TrainResult(run, s["best_epoch"], float(s["best_score"]), s["history"])

    # Evaluate the best checkpoint on val and test.
    best_state = load_checkpoint(run / "checkpoints" / "best.ckpt")
    model.load_state_dict(best_state["state_dict"])
    results = {}
    for split in ("val", "test"):
        enc = prepared.splits[split]
        logits = predict_logits(model, enc, t.eval_batch_size, device)
        previews = [" ".join(prepared.vocab.decode(enc.document(i)[:60].tolist())) for i in range(len(enc))]
        results[split] = evaluate_logits(
            logits, enc.labels, prepared.label_names, counts.tolist(), config.seed,
            run / "evaluation" / split, title=f"Confusion matrix ({split}, epoch {s['best_epoch']})",
            previews=previews,
        )
    history = s["history"]
    summary = {
        "best_epoch": s["best_epoch"],
        "monitor": t.monitor,
        "best_score": s["best_score"],
        "epochs_run": len(history),
        "mean_epoch_seconds": float(np.mean([h["epoch_seconds"] for h in history])),
        **{f"{k}_{m}": results[k][m] for k in results for m in ("accuracy", "f1_macro", "loss")},
    }
    write_json(run / "results.json", summary)
    plot_training_curves(history, s["best_epoch"], run / "training_curves.png")
    return TrainResult(run, s["best_epoch"], float(s["best_score"]), history, results["val"], results["test"])


def _train_epoch(epoch, model, optimizer, criterion, loader, device, t, s, progress, interrupt,
                 snapshot, run) -> None:
    """One epoch (or its remainder, when resuming); updates the loop state ``s`` in place."""
    loader.set_epoch(epoch)
    model.train()
    p = s["partial"]
    bar = tqdm(loader.iter_from(s["batches_done"]), total=len(loader), initial=s["batches_done"],
               desc=f"epoch {epoch}/{t.epochs}", unit="batch", disable=not progress, leave=False)
    started = time.perf_counter() - p["seconds"]
    for ids, lengths, labels in bar:
        ids, lengths, labels = ids.to(device), lengths.to(device), labels.to(device)
        optimizer.zero_grad(set_to_none=True)
        logits = model(ids, lengths)  # (batch, num_classes)
        loss = criterion(logits, labels)
        loss.backward()
        # The norm before clipping (no clipping when grad_clip is unset): checks for inf/NaN.
        norm = clip_gradients(model.parameters(), t.grad_clip)
        if not (torch.isfinite(loss) and torch.isfinite(norm)):
            what = "loss" if not torch.isfinite(loss) else "gradient norm"
            raise TrainingError(
                f"training diverged at epoch {epoch}, step {s['step'] + 1}: the {what} is "
                f"{float(loss if what == 'loss' else norm)}; lower train.lr (now {t.lr:g}) or set "
                f"train.grad_clip (for example 1.0); the best checkpoint so far is kept in {run}/checkpoints"
            )
        optimizer.step()
        s["step"] += 1
        s["batches_done"] += 1
        p["loss_sum"] += loss.item() * len(labels)
        p["correct"] += int((logits.argmax(1) == labels).sum())
        p["seen"] += len(labels)
        p["seconds"] = time.perf_counter() - started
        bar.set_postfix(loss=f"{p['loss_sum'] / p['seen']:.4f}", acc=f"{p['correct'] / p['seen']:.3f}")
        every = t.checkpoint_every_steps
        if interrupt.signal is not None or (every and s["step"] % every == 0):
            save_checkpoint(run / "checkpoints" / "last.ckpt", snapshot())
        if interrupt.signal is not None:
            bar.close()
            raise TrainingInterrupted(
                f"interrupted ({signal.Signals(interrupt.signal).name}) at epoch {epoch}, batch "
                f"{s['batches_done']}; state saved in {run}/checkpoints/last.ckpt; continue with: "
                f"textclf train --resume {run}"
            )
    bar.close()
