"""Learning-rate schedules: the curve, both parts of a split optimizer, the log, and resume."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from textclf.cli import main
from textclf.config import TrainConfig
from textclf.training.optimizer import SplitOptimizer, make_optimizer
from textclf.training.schedule import make_schedule


class _Sparse(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(10, 4, sparse=True)
        self.fc = nn.Linear(4, 2)


def _lrs(kind: str, steps: int = 10, warmup: float = 0.0, lr: float = 1.0):
    model = _Sparse()
    t = TrainConfig(lr=lr, epochs=1, scheduler=kind, warmup=warmup)
    optimizer = make_optimizer(t, model)
    assert isinstance(optimizer, SplitOptimizer)
    schedule = make_schedule(t, optimizer, steps)
    seen = []
    for _ in range(steps):
        seen.append([group["lr"] for group in optimizer.param_groups])  # the lr this step uses
        optimizer.step()
        schedule.step()
    return seen


def test_linear_warmup_then_decay_moves_both_parts_of_a_split_optimizer():
    seen = _lrs("linear", steps=10, warmup=0.2)  # 2 warm-up steps
    assert all(len(set(lrs)) == 1 for lrs in seen)  # dense and sparse parts together
    first = [lrs[0] for lrs in seen]
    assert first[:4] == pytest.approx([0.5, 1.0, 1.0, 7 / 8])
    assert first[-1] == pytest.approx(1 / 8)


def test_cosine_and_one_cycle_shapes():
    cosine = [lrs[0] for lrs in _lrs("cosine", steps=8)]
    assert cosine[0] == pytest.approx(1.0) and cosine == sorted(cosine, reverse=True)
    assert cosine[4] == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))
    cycle = [lrs[0] for lrs in _lrs("one_cycle", steps=20, warmup=5)]  # torch peaks at step warmup - 1
    peak = cycle.index(max(cycle))
    assert peak == 4 and max(cycle) == pytest.approx(1.0) and cycle[0] < 0.1 and cycle[-1] < 0.01


def test_no_schedule_keeps_the_learning_rate():
    t = TrainConfig(lr=0.5, epochs=1)
    assert make_schedule(t, torch.optim.AdamW(nn.Linear(2, 2).parameters(), lr=0.5), 10) is None


def test_a_run_logs_the_learning_rate_of_every_step(mini_config, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    assert main(["train", "--config", str(mini_config), "--run-dir", str(run), "--no-progress",
                 "--set", "train.epochs=2", "--set", "train.scheduler=linear", "--set", "train.warmup=0.1"]) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["lr"] == pytest.approx(0.0, abs=1e-9)  # linear decay ends at 0
    events = EventAccumulator(str(run / "tensorboard")).Reload()
    steps = events.Scalars("train/lr_step")
    assert [s.step for s in steps] == list(range(1, records[-1]["step"] + 1))
    assert max(s.value for s in steps) == pytest.approx(0.02, rel=1e-5)  # the config's lr, after warm-up
