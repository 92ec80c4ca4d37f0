"""Metrics, baselines and evaluation outputs.

The names below are loaded on first use, so that ``textclf predict`` (``predict_file``, which
needs only the Predictor) does not import scikit-learn, SciPy and matplotlib with the metrics."""

from __future__ import annotations

from textclf.exports import exports_on_first_use

_EXPORTS = {
    "baseline_metrics": "textclf.evaluation.baselines",
    "evaluate_checkpoint": "textclf.evaluation.evaluate",
    "evaluate_logits": "textclf.evaluation.evaluate",
    "format_evaluation": "textclf.evaluation.evaluate",
    "classification_metrics": "textclf.evaluation.metrics",
    "cross_entropy": "textclf.evaluation.metrics",
}

__all__ = list(_EXPORTS)

__getattr__ = exports_on_first_use(__name__, _EXPORTS)
