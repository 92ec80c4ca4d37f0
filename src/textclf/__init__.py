"""textclf: config-driven text classification with PyTorch.

The public names are loaded on first use, so ``import textclf`` stays cheap and loading a
Predictor does not import the training code::

    import textclf
    run = textclf.train("configs/sms_spam_lstm.yaml")
    textclf.Predictor.load(run.best_checkpoint).predict(["some text"])
"""

from __future__ import annotations

import importlib
import os

__version__ = "0.1.0"

# OpenMP threads that wait for work sleep instead of spinning. Spinning threads take whole cores
# from any other process, so two computations on one machine (a training beside a server, two
# search workers, a test run beside a benchmark) each slow down by an order of magnitude instead
# of sharing the cores (benchmarks/contention.py). It must be set before torch loads its OpenMP
# runtime; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_EXPORTS = {
    "train": "textclf.api",
    "Run": "textclf.api",
    "load_config": "textclf.config",
    "Config": "textclf.config",
    "Predictor": "textclf.inference.predictor",
    "ModelArtifact": "textclf.artifact",
    "TextPipeline": "textclf.text.pipeline",
    "RunLayout": "textclf.run_layout",
    "TextclfError": "textclf.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'textclf' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
