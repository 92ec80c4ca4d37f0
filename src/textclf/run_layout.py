"""Every path inside a run folder, in one place.

A run folder is what ``textclf train`` writes and what every later command reads::

    <run>/
      config.yaml              the fully resolved config
      environment.json         versions, device, threads and OpenMP settings of the run
      data/                    statistics.json and plots of the data
      class_weights.json       the loss weight of each class (when class weights are on)
      checkpoints/best.ckpt    the best model artifact by the monitored metric (a default
                               selection's ensemble: one file holding its members)
      checkpoints/last.ckpt    the latest artifact plus the training state, for --resume
      refit/                   train.refit: the run trained again on train + val (no checkpoints:
                               its weights are best.ckpt's); an ensemble's: refit/<candidate>/
      metrics.jsonl            one JSON line per epoch
      tensorboard/             TensorBoard event files
      evaluation/<split>/      metrics.json, per_class.csv, confusion_matrix.csv/.png, predictions.csv
      evaluation/input-<name>/ the same for `evaluate --input FILE`
      results.json             summary of the final evaluation
      training_curves.png
      sanity/, lr_find/, search/   outputs of those commands when written into the run folder
      report.md, report.html

No other module spells these names: they ask a :class:`RunLayout`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunLayout"]


@dataclass(frozen=True)
class RunLayout:
    """The paths of one run folder (``RunLayout(run_dir).best_checkpoint`` and so on)."""

    root: Path

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root))

    @classmethod
    def of_checkpoint(cls, checkpoint: str | Path) -> "RunLayout":
        """The run folder a checkpoint belongs to (its ``checkpoints/`` parent, else its folder)."""
        checkpoint = Path(checkpoint)
        parent = checkpoint.parent
        return cls(parent.parent if parent.name == "checkpoints" else parent)

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def environment(self) -> Path:
        return self.root / "environment.json"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def data_statistics(self) -> Path:
        return self.data / "statistics.json"

    @property
    def class_weights(self) -> Path:
        return self.root / "class_weights.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoints / "best.ckpt"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    def evaluation(self, split: str) -> Path:
        """Outputs of evaluating on ``split`` (train, val, test, or ``input-<name>``)."""
        return self.root / "evaluation" / split

    @property
    def tracking(self) -> Path:
        """The MLflow run this folder is recorded in (so that --resume continues it)."""
        return self.root / "tracking.json"

    @property
    def results(self) -> Path:
        return self.root / "results.json"

    @property
    def training_curves(self) -> Path:
        return self.root / "training_curves.png"

    @property
    def leaderboard(self) -> Path:
        """The default selection's candidates with their validation scores (training/select.py)."""
        return self.root / "leaderboard.csv"

    @property
    def candidates(self) -> Path:
        return self.root / "candidates"

    @property
    def folds(self) -> Path:
        """A default candidate's cross-validation runs, one folder a fold (training/cross_validation.py):
        config, metrics, TensorBoard and train.log, no checkpoint."""
        return self.root / "folds"

    @property
    def refit(self) -> Path:
        """train.refit: the run trained again on train + val (training/refit.py); its config,
        metrics and TensorBoard events (its weights became checkpoints/best.ckpt)."""
        return self.root / "refit"

    @property
    def sanity(self) -> Path:
        return self.root / "sanity"

    @property
    def lr_find(self) -> Path:
        return self.root / "lr_find"

    @property
    def search(self) -> Path:
        return self.root / "search"

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    def is_run(self) -> bool:
        return self.config.is_file()
