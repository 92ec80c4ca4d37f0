"""textclf: config-driven text classification with PyTorch.

The public names are loaded on first use, so ``import textclf`` stays cheap and loading a
Predictor does not import the training code::

    import textclf
    run = textclf.train("configs/sms_spam_lstm.yaml")
    textclf.Predictor.load(run.best_checkpoint).predict(["some text"])
"""

from __future__ import annotations

import os

from textclf.exports import exports_on_first_use  # (imports no torch: the OpenMP setting below comes first)

__version__ = "0.1.0"

# PyTorch's OpenMP threads spin for a short while when they run out of work, then sleep.
# Threads that spin long (OMP_WAIT_POLICY=ACTIVE, close to the runtime's own default) hold whole
# cores through the gaps between small operations, so two computations on one machine (a
# training beside a server, two search workers, a test run beside a benchmark) each slowed down
# several times over; sleeping at once (OMP_WAIT_POLICY=PASSIVE) made a run alone much slower. A
# short spin keeps most of both (benchmarks/contention.py measures the three). It must be set before torch loads its OpenMP
# runtime, and a setting of the user's wins.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "1000"

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


__getattr__ = exports_on_first_use(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return sorted(__all__)
