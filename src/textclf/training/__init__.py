"""Training: run set-up, the recipe (epoch loop), final evaluation, diagnostics and search."""

from textclf.training.recipe import LoopState, TrainResult, resume, train
from textclf.training.setup import RunSetup, setup_run

__all__ = ["train", "resume", "TrainResult", "LoopState", "RunSetup", "setup_run"]
