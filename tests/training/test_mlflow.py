"""MLflow tracking: a run and a search recorded in a real MLflow store (SQLite), read back with
MLflow's own client, and the logged pyfunc model loaded and run."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import write_config
from textclf.cli import main
from textclf.inference import Predictor

mlflow = pytest.importorskip("mlflow")


def test_a_run_is_recorded_and_its_model_predicts(mini_config, tmp_path, monkeypatch, capfd):
    import warnings

    monkeypatch.chdir(tmp_path)  # MLflow must not write into the working directory
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    run_dir = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["train", "--config", str(mini_config), "--run-dir", str(run_dir), "--no-progress",
                     "--set", f"tracking.mlflow={uri}", "--set", "train.epochs=3"]) == 0
    assert not [w for w in caught if "type hints" in str(w.message)]  # MLflow's advice stays out
    assert "Downloading artifacts" not in capfd.readouterr().err
    client = mlflow.tracking.MlflowClient(uri)
    experiment = client.get_experiment_by_name("mini")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.data.params["train.epochs"] == "3"
    assert run.data.params["model.name"] == "bigru_attention"
    history = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert [m.step for m in history] == [1, 2, 3]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "results.json", "training_curves.png", "evaluation"} <= artifacts
    assert not (tmp_path / "mlruns").exists()

    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    texts = ["the rangers won in overtime", "the shuttle launch was delayed", "israeli and arab talks"]
    labels = model.predict(pd.DataFrame({"text": texts}))["label"].tolist()
    assert labels == Predictor.load(run_dir / "checkpoints" / "best.ckpt").predict(texts)


def test_a_search_is_a_parent_run_with_a_child_per_trial(mini_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    text = mini_config.read_text() + (f"tracking:\n  mlflow: {uri}\n  experiment: grid\n"
                                      "search:\n  method: grid\n  epochs: 1\n  space:\n    train.lr: [0.01, 0.02]\n")
    path = write_config(tmp_path / "search.yaml", text)
    assert main(["search", "--config", str(path), "--output", str(tmp_path / "search")]) == 0
    client = mlflow.tracking.MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("grid").experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 2
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    assert sorted(c.data.params["train.lr"] for c in children) == ["0.01", "0.02"]
    assert "results.csv" in {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert all(r.info.status == "FINISHED" for r in runs)
