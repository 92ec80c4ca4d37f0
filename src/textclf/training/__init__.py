"""The training loop, checkpoints, metric writers and run folders."""

from textclf.training.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from textclf.training.loop import TrainResult, train

__all__ = ["train", "TrainResult", "load_checkpoint", "model_from_checkpoint", "save_checkpoint"]
