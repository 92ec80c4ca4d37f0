"""Recording runs in MLflow (``tracking.mlflow``), besides the run folder and TensorBoard.

A run logs its config as parameters (dotted keys: ``train.lr``), every epoch's record as metrics
with the names of ``metrics.jsonl`` (``val/accuracy`` → ``val_accuracy``, step = epoch), the run
folder's plots, evaluation files, config and results as artifacts, and the best checkpoint as an
MLflow pyfunc model under the artifact path ``model`` (``serving/mlflow_model.py``). A search is
one parent run with a child run per trial. The MLflow run id is kept in the run folder's
``tracking.json``, so ``--resume`` continues the same MLflow run.

MLflow is reached through ``MlflowClient`` (no global active run), except for logging the model.
With a ``sqlite:///`` URI, artifacts go beside the database (``<folder>/mlartifacts``), not into
the working directory.
"""

from __future__ import annotations

import contextlib

import json
import time
from pathlib import Path
from typing import Any

from textclf.config import Config
from textclf.errors import TrainingInterrupted, UsageError
from textclf.files import write_json
from textclf.run_layout import RunLayout

__all__ = ["MlflowTracker", "open_tracker", "start_parent_run"]

_MODEL_CODE = Path(__file__).resolve().parents[1] / "serving" / "mlflow_model.py"


def _mlflow():
    try:
        import mlflow
    except ImportError:
        raise UsageError('tracking.mlflow needs MLflow: pip install "textclf[mlflow]"') from None
    return mlflow


def _flatten(raw: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, name + "."))
        else:
            out[name] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return out


def _experiment_id(client, uri: str, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        location = (Path(uri.removeprefix("sqlite:///")).expanduser().resolve().parent / "mlartifacts" / name).as_uri()
    return client.create_experiment(name, artifact_location=location)


class MlflowTracker:
    """One MLflow run: parameters, epoch metrics, artifacts and the model."""

    def __init__(self, uri: str, run_id: str):
        self.mlflow = _mlflow()
        self.uri = uri
        self.client = self.mlflow.tracking.MlflowClient(uri)
        self.run_id = run_id

    def log_epoch(self, record: dict) -> None:
        from mlflow.entities import Metric

        step, now = int(record["epoch"]), int(time.time() * 1000)
        metrics = [Metric(key.replace("/", "_"), float(value), now, step) for key, value in record.items()
                   if key != "epoch" and isinstance(value, (int, float))]
        self.client.log_batch(self.run_id, metrics=metrics)

    def log_outputs(self, run: RunLayout, model: bool = True) -> None:
        """The run folder's plots, evaluation files, config and results, and (``model``) the best
        checkpoint as a pyfunc model."""
        for path in (run.config, run.results, run.training_curves, run.environment):
            if path.is_file():
                self.client.log_artifact(self.run_id, str(path))
        for folder, name in ((run.root / "evaluation", "evaluation"), (run.data, "data")):
            if folder.is_dir():
                self.client.log_artifacts(self.run_id, str(folder), name)
        if model and run.best_checkpoint.is_file():
            mlflow = self.mlflow
            mlflow.set_tracking_uri(self.uri)
            # Logging a model draws a progress bar of the artifacts it copies back: it does not
            # belong in a training's output.
            with _quiet_mlflow(), mlflow.start_run(run_id=self.run_id):
                mlflow.pyfunc.log_model(name="model", python_model=str(_MODEL_CODE),
                                        artifacts={"checkpoint": str(run.best_checkpoint)},
                                        pip_requirements=["textclf"])

    def end(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)

    def abort(self, exc: BaseException) -> None:
        """End the run for the exception that stopped training: KILLED for an interrupt, else FAILED."""
        self.end("KILLED" if isinstance(exc, (TrainingInterrupted, KeyboardInterrupt)) else "FAILED")


def _params(config: Config) -> list:
    from mlflow.entities import Param

    return [Param(k, v[:6000]) for k, v in _flatten(config.model_dump(mode="json")).items()]


def open_tracker(config: Config, run: RunLayout, parent_run_id: str | None = None) -> MlflowTracker | None:
    """The MLflow run of ``run`` (continued when the folder names one), or None without
    ``tracking.mlflow``."""
    uri = config.tracking.mlflow
    if not uri:
        return None
    mlflow = _mlflow()
    client = mlflow.tracking.MlflowClient(uri)
    if run.tracking.is_file():
        saved = json.loads(run.tracking.read_text(encoding="utf-8"))
        client.update_run(saved["run_id"], status="RUNNING")
        return MlflowTracker(uri, saved["run_id"])
    try:
        experiment = _experiment_id(client, uri, config.tracking.experiment or config.name)
    except Exception as exc:  # an unreachable server, a bad URI
        raise UsageError(f"tracking.mlflow {uri!r}: cannot reach MLflow ({str(exc).splitlines()[0][:200]})") from None
    tags = {"textclf.run_dir": str(run.root)}
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    created = client.create_run(experiment, run_name=run.root.name, tags=tags)
    params = _params(config)
    for start in range(0, len(params), 100):  # MLflow takes at most 100 parameters a call
        client.log_batch(created.info.run_id, params=params[start : start + 100])
    write_json(run.tracking, {"mlflow": uri, "run_id": created.info.run_id})
    return MlflowTracker(uri, created.info.run_id)


def start_parent_run(config: Config, name: str) -> str | None:
    """A search's parent run (its trials are its children); its id, or None without MLflow."""
    uri = config.tracking.mlflow
    if not uri:
        return None
    client = _mlflow().tracking.MlflowClient(uri)
    experiment = _experiment_id(client, uri, config.tracking.experiment or config.name)
    created = client.create_run(experiment, run_name=name, tags={"textclf.search": "true"})
    return created.info.run_id


def finish_parent_run(config: Config, run_id: str, files: list[Path]) -> None:
    """A search's outputs (results table, best config) on its parent run, which is then ended."""
    client = _mlflow().tracking.MlflowClient(config.tracking.mlflow)
    for path in files:
        if path.is_file():
            client.log_artifact(run_id, str(path))
    client.set_terminated(run_id, status="FINISHED")


@contextlib.contextmanager
def _quiet_mlflow():
    import os

    saved = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = saved
