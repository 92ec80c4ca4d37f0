"""Where per-epoch numbers go: ``metrics.jsonl`` (one JSON line each) and TensorBoard."""

from __future__ import annotations

from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from textclf.files import append_jsonl

__all__ = ["MetricsWriter"]


class MetricsWriter:
    def __init__(self, jsonl: Path, tensorboard: Path):
        self.jsonl = jsonl
        self.tensorboard = SummaryWriter(log_dir=str(tensorboard))

    def log(self, record: dict, step: int) -> None:
        """``record`` holds flat scalars such as ``{"epoch": 1, "train/loss": 0.9, ...}``."""
        append_jsonl(self.jsonl, record)
        for key, value in record.items():
            if "/" in key or key == "lr":
                self.tensorboard.add_scalar(key, value, step)
        self.tensorboard.flush()

    def scalar(self, tag: str, value: float, step: int) -> None:
        """One TensorBoard point between epoch records (the learning rate of every step)."""
        self.tensorboard.add_scalar(tag, value, step)

    def close(self) -> None:
        self.tensorboard.close()
