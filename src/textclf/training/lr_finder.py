"""Learning-rate range test (Smith 2017; the fastai recipe).

Train from the initial weights while raising the learning rate exponentially from ``min_lr`` to
``max_lr``, one batch per value; smooth the loss with a bias-corrected exponential moving average;
stop when the smoothed loss exceeds ``diverge`` × its minimum. The suggestion is the lower of two
classic rules: the learning rate of steepest descent of the smoothed loss (per decade of learning
rate) before its minimum, and a tenth of the learning rate at the minimum. In a short sweep the
loss falls late, so steepest descent alone can land next to the point of divergence (on the
study's BiGRU it picked 3.5e-2, and training at that rate diverged within 81 steps); the tenth
of the minimum keeps a decade of margin. The stable window runs from where the smoothed loss has
made 10 % of its total drop to its minimum.
The first tenth of the steps (at least 3) is left out of both: those averages rest on too few
batches.
The model, the optimizer and the RNG states are restored afterwards: the test leaves no trace.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from textclf.batching import TrainBatches
from textclf.config import Config
from textclf.files import write_json
from textclf.precision import autocast, grad_scaler
from textclf.reporting.plots import save_figure, subplots
from textclf.runtime import restore_rng_state, rng_state

__all__ = ["LRFindResult", "lr_range_test", "run_lr_find", "save_lr_find"]


@dataclass
class LRFindResult:
    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)  # raw, per batch
    smoothed: list[float] = field(default_factory=list)  # bias-corrected EMA
    suggestion: float = float("nan")
    window: tuple[float, float] = (float("nan"), float("nan"))
    stop_reason: str = ""


def run_lr_find(config: Config, out_dir: Path, min_lr: float = 1e-6, max_lr: float = 1.0,
                steps: int = 100) -> LRFindResult:
    """The range test on ``config``'s model as ``train`` would start it; results in ``out_dir``."""
    from textclf.training.setup import setup_run

    run = setup_run(config)
    result = lr_range_test(run.model, run.optimizer, run.criterion, run.loader, run.device,
                           min_lr, max_lr, steps, precision=run.config.train.precision)
    save_lr_find(result, out_dir)
    return result


def lr_range_test(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    loader: TrainBatches,
    device: torch.device,
    min_lr: float = 1e-6,
    max_lr: float = 1.0,
    steps: int = 100,
    beta: float = 0.98,
    diverge: float = 4.0,
    precision: str = "fp32",
) -> LRFindResult:
    saved_model = copy.deepcopy(model.state_dict())
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    saved_rng = rng_state()
    result = LRFindResult()
    scaler = grad_scaler(device, precision)  # fp16: loss scaling, as training does
    try:
        model.train()
        batches, epoch = iter(()), 0
        average, best = 0.0, math.inf
        for i in range(steps):
            lr = min_lr * (max_lr / min_lr) ** (i / max(steps - 1, 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = next(batches, None)
            if batch is None:  # next epoch of batches
                epoch += 1
                loader.set_epoch(epoch)
                batches = iter(loader)
                batch = next(batches)
            ids, lengths, labels = (t.to(device) for t in batch[:3])
            optimizer.zero_grad(set_to_none=True)
            with autocast(device, precision):  # train.precision, as training runs
                loss = criterion(model(ids, lengths), labels)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            value = loss.item()
            if not math.isfinite(value):
                result.stop_reason = f"loss became {value} at lr {lr:.2e}"
                break
            average = beta * average + (1 - beta) * value
            smooth = average / (1 - beta ** (i + 1))
            result.lrs.append(lr)
            result.losses.append(value)
            result.smoothed.append(smooth)
            if i >= _skip(steps):  # the first averages rest on a handful of batches
                best = min(best, smooth)
            if smooth > diverge * best:
                result.stop_reason = f"smoothed loss exceeded {diverge:g}× its minimum at lr {lr:.2e}"
                break
        else:
            result.stop_reason = f"reached max_lr {max_lr:g}"
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)
        restore_rng_state(saved_rng)
    _suggest(result)
    return result


def _skip(steps: int) -> int:
    return max(3, steps // 10)


def _suggest(result: LRFindResult) -> None:
    skip = _skip(len(result.lrs))
    if len(result.lrs) < skip + 3:
        return
    lrs, smooth = np.array(result.lrs[skip:]), np.array(result.smoothed[skip:])
    lowest = int(np.argmin(smooth))
    if lowest < 2:
        result.suggestion = float(lrs[lowest])
        result.window = (float(lrs[0]), float(lrs[lowest]))
        return
    slopes = np.gradient(smooth[: lowest + 1], np.log10(lrs[: lowest + 1]))
    result.suggestion = float(min(lrs[int(np.argmin(slopes))], lrs[lowest] / 10))
    drop = smooth[0] - smooth[lowest]
    start = int(np.argmax(smooth[: lowest + 1] <= smooth[0] - 0.1 * drop))
    result.window = (float(lrs[start]), float(lrs[lowest]))


def save_lr_find(result: LRFindResult, out_dir: Path) -> None:
    """lr_find.json, lr_find.png and TensorBoard scalars (lr_find/loss against the step)."""
    write_json(out_dir / "lr_find.json", {
        "suggestion": result.suggestion, "window": list(result.window), "stop_reason": result.stop_reason,
        "rule": "the lower of: steepest descent of the smoothed loss before its minimum, and a tenth of "
                "the lr at the minimum; window from 10 % of the total drop to the minimum",
        "lrs": result.lrs, "losses": result.losses, "smoothed": result.smoothed,
    })
    writer = SummaryWriter(log_dir=str(out_dir / "tensorboard"))
    for step, (lr, raw, smooth) in enumerate(zip(result.lrs, result.losses, result.smoothed)):
        writer.add_scalar("lr_find/lr", lr, step)
        writer.add_scalar("lr_find/loss", raw, step)
        writer.add_scalar("lr_find/smoothed_loss", smooth, step)
    writer.close()
    fig, ax = subplots(figsize=(7, 4))
    ax.semilogx(result.lrs, result.losses, alpha=0.3, label="loss per batch")
    ax.semilogx(result.lrs, result.smoothed, label="smoothed loss")
    if math.isfinite(result.suggestion):
        ax.axvline(result.suggestion, color="red", linestyle="--", label=f"suggested {result.suggestion:.2e}")
        ax.axvspan(*result.window, color="green", alpha=0.1, label="stable window")
    if result.smoothed:  # keep the informative part visible, not the blow-up at the end
        low, start = min(result.smoothed), result.smoothed[0]
        ax.set_ylim(low - 0.1 * abs(low), start + 0.5 * abs(start - low) + 0.1 * abs(start))
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("cross-entropy")
    ax.set_title("Learning-rate range test")
    ax.legend()
    save_figure(fig, out_dir / "lr_find.png")
