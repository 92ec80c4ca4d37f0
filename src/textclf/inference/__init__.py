"""From raw texts to class probabilities with nothing but model artifacts."""

from textclf.inference.logits import predict_logits
from textclf.inference.predictor import Predictor

__all__ = ["Predictor", "predict_logits"]
