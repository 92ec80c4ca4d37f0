"""The Python API: train from a config, open a run, load a model.

    import textclf

    run = textclf.train("configs/sms_spam_lstm.yaml", overrides={"train.epochs": 3})
    run.test_metrics["accuracy"]
    predictor = run.predictor()                  # or textclf.Predictor.load(run.best_checkpoint)
    predictor.predict(["Free entry in a weekly competition!"])

A config can be a YAML path, a dict (the same sections as a YAML file) or a :class:`Config`.
Errors are the CLI's: a :class:`~textclf.errors.TextclfError` subclass with one line per problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from textclf.config import Config, apply_overrides, config_from_dict, load_config, own_raw
from textclf.errors import UsageError
from textclf.run_layout import RunLayout

__all__ = ["Run", "train", "load_config", "resolve_config"]


@dataclass
class Run:
    """A run folder written by :func:`train` (or ``textclf train``)."""

    dir: Path
    val_metrics: dict | None = None
    test_metrics: dict | None = None
    history: list[dict] = field(default_factory=list)

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.dir)

    @property
    def best_checkpoint(self) -> Path:
        return self.layout.best_checkpoint

    @property
    def results(self) -> dict:
        """The summary of the final evaluation (``results.json``): best epoch, val/test scores."""
        path = self.layout.results
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def predictor(self, **kwargs: Any):
        """A :class:`~textclf.Predictor` of the best checkpoint (``device``, ``batch_size``)."""
        from textclf.inference import Predictor

        return Predictor.load(self.best_checkpoint, **kwargs)

    @classmethod
    def open(cls, run_dir: str | Path) -> "Run":
        """A run folder that exists already (its metrics read from its files)."""
        layout = RunLayout(run_dir)
        if not layout.is_run():
            raise UsageError(f"{layout.root}: not a run folder (no config.yaml)")

        def read(path: Path):
            return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

        history = []
        if layout.metrics.is_file():
            history = [json.loads(line) for line in layout.metrics.read_text(encoding="utf-8").splitlines() if line]
        return cls(layout.root, read(layout.evaluation("val") / "metrics.json"),
                   read(layout.evaluation("test") / "metrics.json"), history)


def resolve_config(
    config: str | Path | Mapping[str, Any] | Config,
    overrides: Mapping[str, Any] | list[str] | None = None,
) -> Config:
    """A validated Config from a YAML path, a dict or a Config, with dotted overrides applied
    (``{"train.lr": 1e-3}`` or ``["train.lr=1e-3"]``)."""
    items = _override_items(overrides)
    if isinstance(config, (str, Path)):
        return load_config(config, items)
    if isinstance(config, Config):  # (its own keys only: the rest are defaults, not the user's choices)
        raw = own_raw(config)
    elif isinstance(config, Mapping):
        raw = json.loads(json.dumps(config, default=str))  # a deep copy of plain containers
    else:
        raise UsageError(f"config: give a YAML path, a dict or a Config, not {type(config).__name__}")
    keys = apply_overrides(raw, items)
    return config_from_dict(raw, source="<config dict>", override_keys=keys)


def _override_items(overrides) -> list[str]:
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return [f"{k}={json.dumps(v)}" for k, v in overrides.items()]
    return list(overrides)


def train(
    config: str | Path | Mapping[str, Any] | Config,
    *,
    overrides: Mapping[str, Any] | list[str] | None = None,
    run_dir: str | Path | None = None,
    progress: bool = False,
) -> Run:
    """Train a model as ``textclf train`` does and return its :class:`Run`.

    ``run_dir``: the folder to create (default ``<output_dir>/<name>-<timestamp>``)."""
    from textclf.training.recipe import train as train_recipe

    resolved = resolve_config(config, overrides)
    result = train_recipe(resolved, run_dir=run_dir, progress=progress)
    return Run(Path(result.run_dir), result.val_metrics, result.test_metrics, result.history)
