"""``textclf serve --workers N``: N server processes on one port, each with its own model.

One Python process answers HTTP, runs the micro-batcher and the model on one interpreter; under
many concurrent clients its event loop is the bottleneck long before the cores are. uvicorn's
``workers`` starts N processes that share the listening socket (the kernel spreads connections
among them); each builds its app with :func:`worker_app`, from the settings the parent put in
the environment (:func:`worker_environment`), and loads the checkpoint itself. Each worker
gets ``max(1, cores // N)`` threads (torch's, or an export's batches at once), so N workers do not
oversubscribe the cores. A worker that serves ONNX exports only never imports torch: two
processes serving the SMS bag's export answered /health 0.86 s after the start with 300 MB
resident in all, against 3.88 s and 1,548 MB from its checkpoint (``benchmarks/serve_load.py``).
``/metrics`` and the queue limit (``--max-queue-texts``) are per worker.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from textclf.serving.app import ServeSettings, create_app

__all__ = ["WORKER_ENV", "worker_environment", "worker_app"]

# The environment variable that carries a worker's settings (JSON) from `textclf serve`.
WORKER_ENV = "TEXTCLF_SERVE_WORKER"


def worker_environment(checkpoints: list[str | Path], device: str, batch_size: int, settings: ServeSettings,
                       model_name: str | None, threads: int) -> dict[str, str]:
    """The environment entry from which each worker builds the same app."""
    spec = {"checkpoints": [str(c) for c in checkpoints], "device": device, "batch_size": batch_size,
            "settings": asdict(settings), "model_name": model_name, "threads": threads}
    return {WORKER_ENV: json.dumps(spec)}


def worker_app():
    """The app of one worker process (uvicorn calls this factory in each worker)."""
    from textclf.inference import Predictor

    spec = json.loads(os.environ[WORKER_ENV])
    predictor = Predictor.load(spec["checkpoints"], device=spec["device"], batch_size=spec["batch_size"],
                               threads=spec["threads"])
    if any(a.onnx_path is None for a in predictor.artifacts):  # (a checkpoint file: torch is loaded)
        import torch

        torch.set_num_threads(spec["threads"])
    return create_app(predictor, ServeSettings(**spec["settings"]), spec["model_name"])
