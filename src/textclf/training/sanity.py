"""``textclf sanity``: the checks to run before a long training run.

1. Initial loss: with uniform predictions a fresh model's cross-entropy is ln(num_classes) (for a
   multilabel model, whose logits start near 0, the binary cross-entropy is ln 2 per class); a
   large gap means a bug (wrong labels, a bad initialisation, a softmax applied twice).
2. Gradients: after one backward pass every trainable parameter has a finite, non-zero gradient.
3. Overfit a small sample: with dropout and weight decay off, the model must drive N examples to
   100 % training accuracy and a near-zero loss; if it cannot, it cannot learn the full data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from textclf.batching import take
from textclf.config import Config
from textclf.files import write_json
from textclf.reporting.plots import save_figure, subplots
from textclf.training.optimizer import gradient_values, make_optimizer
from textclf.training.setup import setup_run

__all__ = ["SanityResult", "run_sanity"]


@dataclass
class SanityResult:
    initial_loss: float
    expected_loss: float
    gradient_norm: float
    params_without_gradient: list[str]
    overfit_loss: float
    overfit_accuracy: float
    overfit_steps: int
    passed: bool
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    curve: list[dict] = field(default_factory=list)
    reference: str = "ln(C)"  # how expected_loss is written: ln(num_classes), or ln(2) for multilabel


def run_sanity(
    config: Config,
    out_dir: Path,
    n_examples: int = 32,
    lr: float | None = None,
    max_steps: int = 300,
    loss_threshold: float = 0.01,
    max_relative_gap: float = 0.25,
) -> SanityResult:
    parts = setup_run(config)
    model, criterion, device, prepared = parts.model, parts.criterion, parts.device, parts.prepared
    train, task = prepared.splits["train"], parts.task
    num_classes = prepared.num_classes
    unweighted = task.criterion(None)

    # 1. Initial loss on one batch, without dropout.
    ids, lengths, labels = (t.to(device) for t in next(iter(parts.loader))[:3])
    model.eval()
    with torch.no_grad():
        initial = float(unweighted(model(ids, lengths), labels))
    expected, written = task.initial_loss(num_classes)
    gap = abs(initial - expected)
    warnings, failures = [], []
    if gap / expected > max_relative_gap:
        warnings.append(f"initial loss {initial:.4f} is {gap / expected:.0%} away from {written} = "
                        f"{expected:.4f}; check the labels and the output layer's initialisation")

    # 2. One backward pass.
    model.train()
    model.zero_grad(set_to_none=True)
    criterion(model(ids, lengths), labels).backward()
    grads = {name: gradient_values(p) for name, p in model.named_parameters() if p.requires_grad}
    missing = [name for name, g in grads.items()
               if g is None or not torch.isfinite(g).all() or g.abs().sum() == 0]
    norm = float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads.values() if g is not None)))
    if missing:
        failures.append(f"no finite non-zero gradient for {', '.join(missing)}")

    # 3. Overfit a small sample: dropout and weight decay off, one batch of n examples.
    model = setup_run(config, prepared).model  # a fresh model, seeded as train seeds it
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    optimizer = make_optimizer(config.train, model, lr=lr, weight_decay=0.0)
    rng = np.random.default_rng(config.train.run_seed(config.seed))
    chosen = rng.choice(len(train), size=min(n_examples, len(train)), replace=False)
    ids, lengths, labels = (t.to(device) for t in take(train, chosen))
    writer = SummaryWriter(log_dir=str(out_dir / "tensorboard"))
    curve = []
    for step in range(1, max_steps + 1):
        optimizer.zero_grad(set_to_none=True)
        logits = model(ids, lengths)
        loss = unweighted(logits, labels)
        loss.backward()
        optimizer.step()
        accuracy = task.correct(logits, labels) / len(labels)
        curve.append({"step": step, "loss": loss.item(), "accuracy": accuracy})
        writer.add_scalar("sanity/overfit_loss", loss.item(), step)
        writer.add_scalar("sanity/overfit_accuracy", accuracy, step)
        if accuracy == 1.0 and loss.item() < loss_threshold:
            break
    writer.close()
    last = curve[-1]
    if not (last["accuracy"] == 1.0 and last["loss"] < loss_threshold):
        failures.append(
            f"could not overfit {len(chosen)} examples in {len(curve)} steps (loss {last['loss']:.4f}, "
            f"accuracy {last['accuracy']:.1%}; needs 100 % and loss < {loss_threshold}); "
            "try --lr, more --steps, or look for a bug in the model"
        )

    result = SanityResult(initial, expected, norm, missing, last["loss"], last["accuracy"], len(curve),
                          not failures, warnings, failures, curve, written)
    _plot(curve, loss_threshold, out_dir / "overfit_curve.png")
    write_json(out_dir / "sanity.json", {k: v for k, v in result.__dict__.items()})
    return result


def _plot(curve: list[dict], threshold: float, path: Path) -> None:
    fig, ax = subplots(figsize=(7, 4))
    steps = [c["step"] for c in curve]
    ax.semilogy(steps, [c["loss"] for c in curve], label="loss")
    ax.axhline(threshold, color="grey", linestyle="--", linewidth=1, label=f"threshold {threshold}")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (log scale)")
    ax.set_title("Overfitting a small sample")
    twin = ax.twinx()
    twin.plot(steps, [c["accuracy"] for c in curve], color="tab:green", label="accuracy")
    twin.set_ylim(0, 1.05)
    twin.set_ylabel("training accuracy")
    ax.legend(loc="center right")
    save_figure(fig, path)
