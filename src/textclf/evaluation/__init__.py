"""Metrics, baselines and evaluation outputs."""

from textclf.evaluation.baselines import baseline_metrics
from textclf.evaluation.evaluate import evaluate_checkpoint, evaluate_logits, format_evaluation
from textclf.evaluation.metrics import classification_metrics, cross_entropy

__all__ = [
    "baseline_metrics",
    "evaluate_checkpoint",
    "evaluate_logits",
    "format_evaluation",
    "classification_metrics",
    "cross_entropy",
]
