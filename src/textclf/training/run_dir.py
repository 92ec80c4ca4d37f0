"""Run folders: ``<output_dir>/<name>-<timestamp>/``, never silently reused."""

from __future__ import annotations

import time
from pathlib import Path

from textclf.errors import UsageError

__all__ = ["create_run_dir"]


def create_run_dir(output_dir: str | Path, name: str, explicit: str | Path | None = None) -> Path:
    if explicit is not None:
        run = Path(explicit)
        if run.exists() and any(run.iterdir()):
            raise UsageError(
                f"{run}: run folder already exists and is not empty; choose another --run-dir "
                "or remove it"
            )
        run.mkdir(parents=True, exist_ok=True)
        return run
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(output_dir) / f"{name}-{stamp}"
    run, n = base, 1
    while True:
        try:
            run.mkdir(parents=True, exist_ok=False)
            return run
        except FileExistsError:
            n += 1
            run = base.with_name(f"{base.name}-{n}")
