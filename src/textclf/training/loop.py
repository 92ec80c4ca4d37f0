"""The training loop: plain PyTorch, one function from a config to a finished run folder.

set up (seed, device, data, model, optimizer) → for each epoch: train, validate, log, checkpoint,
maybe stop early → evaluate the best checkpoint on val and test → write results.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from textclf import __version__
from textclf.batching import make_train_loader
from textclf.config import Config, dump_config
from textclf.errors import ConfigError, TrainingError
from textclf.evaluation.evaluate import evaluate_logits
from textclf.evaluation.metrics import classification_metrics, cross_entropy
from textclf.evaluation.predict import predict_logits
from textclf.files import write_json, write_text
from textclf.models import build_model
from textclf.reporting.data_stats import write_data_statistics
from textclf.text.prepare import PreparedData, prepare_data
from textclf.training.checkpoint import load_checkpoint, save_checkpoint
from textclf.training.run_dir import create_run_dir
from textclf.training.runtime import resolve_device, rng_state, seed_everything
from textclf.training.writers import MetricsWriter

__all__ = ["train", "TrainResult", "class_weights", "make_optimizer"]

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


def make_optimizer(config: Config, model: nn.Module) -> torch.optim.Optimizer:
    t = config.train
    cls = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}[t.optimizer]
    return cls(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)


def train(
    config: Config,
    run_dir: str | Path | None = None,
    prepared: PreparedData | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``config``'s model and write a complete run folder; return its summary."""
    t = config.train
    if t.num_threads:
        torch.set_num_threads(t.num_threads)
    seed_everything(config.seed)
    device = resolve_device(t.device)
    prepared = prepared or prepare_data(config)
    run = create_run_dir(config.output_dir, config.name, run_dir)
    write_text(run / "config.yaml", dump_config(config))
    write_data_statistics(prepared, config, run / "data")

    train_split, val_split = prepared.splits["train"], prepared.splits["val"]
    counts = np.bincount(train_split.labels, minlength=prepared.num_classes)
    model = build_model(
        config.model.name, config.model.params(), len(prepared.vocab), prepared.num_classes
    ).to(device)
    optimizer = make_optimizer(config, model)
    weights = class_weights(t.class_weights, counts, prepared.label_names)
    if weights is not None:
        write_json(run / "class_weights.json", dict(zip(prepared.label_names, weights.tolist())))
    criterion = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device))
    loader = make_train_loader(
        train_split, t.batch_size, bucket=t.bucket_by_length, seed=config.seed,
        balance_classes=t.sampler == "weighted",
    )
    writer = MetricsWriter(run)
    monitor_key, larger_is_better = _MONITOR[t.monitor]
    n_params = sum(p.numel() for p in model.parameters())
    print(f"run folder: {run}")
    print(f"model {config.model.name}: {n_params:,} parameters on {device}; "
          f"train {len(train_split):,} / val {len(val_split):,} examples")

    base = {
        "textclf_version": __version__,
        "config": config.model_dump(mode="json"),
        "model": {"name": config.model.name, "params": config.model.params()},
        "vocab": prepared.vocab.itos_,
        "label_names": prepared.label_names,
        "train_label_counts": counts.tolist(),
    }
    history: list[dict] = []
    best_score, best_epoch, stale, step = None, 0, 0, 0
    try:
        for epoch in range(1, t.epochs + 1):
            started = time.perf_counter()
            loader.batch_sampler.set_epoch(epoch)
            model.train()
            loss_sum, correct, seen = 0.0, 0, 0
            bar = tqdm(loader, desc=f"epoch {epoch}/{t.epochs}", unit="batch", disable=not progress,
                       leave=False)
            for ids, lengths, labels in bar:
                ids, lengths, labels = ids.to(device), lengths.to(device), labels.to(device)
                optimizer.zero_grad(set_to_none=True)
                logits = model(ids, lengths)  # (batch, num_classes)
                loss = criterion(logits, labels)
                loss.backward()
                if t.grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
                optimizer.step()
                step += 1
                loss_sum += loss.item() * len(labels)
                correct += int((logits.argmax(1) == labels).sum())
                seen += len(labels)
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}")
            train_seconds = time.perf_counter() - started

            val_logits = predict_logits(model, val_split, t.eval_batch_size, device)
            val = classification_metrics(val_split.labels, val_logits.argmax(1), prepared.label_names)
            record = {
                "epoch": epoch,
                "step": step,
                "train/loss": loss_sum / seen,
                "train/accuracy": correct / seen,
                "val/loss": cross_entropy(val_logits, val_split.labels),
                "val/accuracy": val["accuracy"],
                "val/f1_macro": val["f1_macro"],
                "lr": optimizer.param_groups[0]["lr"],
                "epoch_seconds": train_seconds,
            }
            if not math.isfinite(record["train/loss"]):
                raise TrainingError(
                    f"training diverged at epoch {epoch}: the loss is {record['train/loss']}; "
                    "lower train.lr or set train.grad_clip"
                )
            history.append(record)
            writer.log(record, step=epoch)

            score = record[monitor_key]
            improved = best_score is None or (score > best_score if larger_is_better else score < best_score)
            if improved:
                best_score, best_epoch, stale = score, epoch, 0
            else:
                stale += 1
            state = {
                **base,
                "state_dict": model.state_dict(),
                "metrics": record,
                "training": {
                    "epoch": epoch,
                    "step": step,
                    "best_score": best_score,
                    "best_epoch": best_epoch,
                    "stale_epochs": stale,
                    "optimizer": optimizer.state_dict(),
                    "rng": rng_state(),
                },
            }
            if improved:
                save_checkpoint(run / "checkpoints" / "best.ckpt", state)
            save_checkpoint(run / "checkpoints" / "last.ckpt", state)
            print(
                f"epoch {epoch:>3}/{t.epochs}  train loss {record['train/loss']:.4f} "
                f"acc {record['train/accuracy']:.4f}  val loss {record['val/loss']:.4f} "
                f"acc {record['val/accuracy']:.4f} F1 {record['val/f1_macro']:.4f}  "
                f"{train_seconds:.1f}s{'  *best' if improved else ''}",
                flush=True,
            )
            if t.early_stopping_patience and stale >= t.early_stopping_patience:
                print(f"early stopping: {t.monitor} has not improved for {stale} epochs")
                break
    finally:
        writer.close()

    # Evaluate the best checkpoint on val and test.
    best = load_checkpoint(run / "checkpoints" / "best.ckpt")
    model.load_state_dict(best["state_dict"])
    results = {}
    for split in ("val", "test"):
        enc = prepared.splits[split]
        logits = predict_logits(model, enc, t.eval_batch_size, device)
        results[split] = evaluate_logits(
            logits, enc.labels, prepared.label_names, counts.tolist(), config.seed,
            run / "evaluation" / split, title=f"Confusion matrix ({split}, epoch {best_epoch})",
        )
    summary = {
        "best_epoch": best_epoch,
        "monitor": t.monitor,
        "best_score": best_score,
        "epochs_run": len(history),
        "mean_epoch_seconds": float(np.mean([h["epoch_seconds"] for h in history])),
        **{f"{s}_{k}": results[s][k] for s in results for k in ("accuracy", "f1_macro", "loss")},
    }
    write_json(run / "results.json", summary)
    return TrainResult(run, best_epoch, float(best_score), history, results["val"], results["test"])
