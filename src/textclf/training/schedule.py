"""Learning-rate schedules (``train.scheduler``, ``train.warmup``), stepped after every batch.

- ``none``: the learning rate stays ``train.lr``;
- ``linear``: warm up linearly from 0 to ``train.lr``, then decay linearly to 0 at the last step;
- ``cosine``: the same warm-up, then a half cosine from ``train.lr`` to 0;
- ``one_cycle``: torch's ``OneCycleLR`` (up to ``train.lr`` and down again, momentum the other
  way); ``train.warmup`` is its rising part (default 30 % of the steps).

``train.warmup`` is a number of steps (1 or more) or a fraction of all steps (below 1). The
schedulers are torch's own (``LambdaLR``, ``OneCycleLR``), one per optimizer: a split optimizer
(sparse embedding table + dense layers) moves both parts together. Their state is kept in
``last.ckpt``, so a resumed run continues the schedule exactly.
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR, OneCycleLR

from textclf.config import TrainConfig
from textclf.training.optimizer import SplitOptimizer

__all__ = ["Schedule", "make_schedule", "warmup_steps"]


def warmup_steps(warmup: float, total: int) -> int:
    return int(warmup) if warmup >= 1 else int(round(warmup * total))


def _multiplier(kind: str, total: int, warm: int):
    def factor(step: int) -> float:  # step: optimizer steps taken so far
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm) / max(1, total - warm))  # 1 after the last step
        return 1.0 - progress if kind == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


class Schedule:
    """One torch scheduler per optimizer, stepped together."""

    def __init__(self, schedulers: list[torch.optim.lr_scheduler.LRScheduler]):
        self.schedulers = schedulers

    def step(self) -> None:
        for scheduler in self.schedulers:
            scheduler.step()

    def state_dict(self) -> dict:
        return {"schedulers": [s.state_dict() for s in self.schedulers]}

    def load_state_dict(self, state: dict) -> None:
        for scheduler, saved in zip(self.schedulers, state["schedulers"]):
            scheduler.load_state_dict(saved)


def make_schedule(t: TrainConfig, optimizer, steps_per_epoch: int) -> Schedule | None:
    """The schedule of ``train.scheduler`` over ``epochs × steps_per_epoch`` steps, or None."""
    if t.scheduler == "none":
        return None
    total = max(1, t.epochs * steps_per_epoch)
    warm = min(warmup_steps(t.warmup, total), total)
    optimizers = optimizer.optimizers if isinstance(optimizer, SplitOptimizer) else [optimizer]
    if t.scheduler == "one_cycle":
        rising = warm / total if warm else 0.3
        return Schedule([OneCycleLR(o, max_lr=[g["lr"] for g in o.param_groups], total_steps=total,
                                    pct_start=min(max(rising, 1e-3), 0.999)) for o in optimizers])
    return Schedule([LambdaLR(o, _multiplier(t.scheduler, total, warm)) for o in optimizers])
