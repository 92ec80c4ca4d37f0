"""Metrics, baselines and evaluation outputs.

The names below are loaded on first use, so that ``textclf predict`` (``predict_file``, which
needs only the Predictor) does not import scikit-learn, SciPy and matplotlib with the metrics:
about 1.3 s of a whole predict process."""

from __future__ import annotations

import importlib

_EXPORTS = {
    "baseline_metrics": "textclf.evaluation.baselines",
    "evaluate_checkpoint": "textclf.evaluation.evaluate",
    "evaluate_logits": "textclf.evaluation.evaluate",
    "format_evaluation": "textclf.evaluation.evaluate",
    "classification_metrics": "textclf.evaluation.metrics",
    "cross_entropy": "textclf.evaluation.metrics",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'textclf.evaluation' has no attribute {name!r}")
