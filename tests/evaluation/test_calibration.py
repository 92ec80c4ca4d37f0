"""Temperature scaling: the fit, the error it is judged by, and a real run's outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from textclf.artifact import ModelArtifact
from textclf.cli import main
from textclf.evaluation.calibration import (
    expected_calibration_error,
    fit_temperature,
    kept_temperature,
    reliability_bins,
)
from textclf.inference import Predictor


def test_the_fit_recovers_the_temperature_that_made_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(20000, 5)).astype(np.float32)
    probs = torch.softmax(torch.from_numpy(logits) / 2.0, dim=1).numpy()
    labels = np.array([rng.choice(5, p=p / p.sum()) for p in probs])
    assert fit_temperature(logits, labels) == pytest.approx(2.0, rel=0.05)


def test_with_no_document_wrong_the_model_keeps_its_own_probabilities():
    # Every document right: the loss falls as T shrinks; the fit stops wherever it is flat.
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    labels = np.array([0, 1, 0])
    fitted = fit_temperature(logits, labels)
    assert fitted < 0.05
    assert kept_temperature(fitted, logits.argmax(1) == labels) == 1.0
    # One wrong document: a finite optimum, kept as fitted.
    labels = np.array([0, 1, 1])
    fitted = fit_temperature(logits, labels)
    assert 0.1 < fitted < 100 and kept_temperature(fitted, logits.argmax(1) == labels) == fitted


def test_expected_calibration_error_by_hand():
    # Ten documents at confidence 0.9, half right: one bin, |0.5 - 0.9| = 0.4.
    probs = np.tile([[0.9, 0.1]], (10, 1))
    labels = np.array([0] * 5 + [1] * 5)
    assert expected_calibration_error(probs, labels) == pytest.approx(0.4)
    # Confidence 0.7 (bin 0.667-0.733) with 70 % right, and 1.0 always right: calibrated.
    probs = np.vstack([np.tile([[0.7, 0.3]], (10, 1)), np.tile([[0.0, 1.0]], (5, 1))])
    labels = np.array([0] * 7 + [1] * 3 + [1] * 5)
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-9)
    bins = reliability_bins(probs, labels)
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 15 and bins[-1]["count"] == 5


def test_a_run_is_calibrated_on_validation_without_changing_a_prediction(trained_run, tmp_path):
    from textclf.config import config_from_dict
    from textclf.text.prepare import prepare_data

    best = trained_run / "checkpoints" / "best.ckpt"
    artifact = ModelArtifact.load(best)
    assert artifact.temperature != 1.0
    test = json.loads((trained_run / "evaluation" / "test" / "metrics.json").read_text())
    assert test["temperature"] == pytest.approx(artifact.temperature)
    assert 0 <= test["ece"] <= 1 and 0 <= test["ece_uncalibrated"] <= 1
    assert (trained_run / "evaluation" / "test" / "reliability.png").stat().st_size > 1000
    results = json.loads((trained_run / "results.json").read_text())
    assert results["temperature"] == pytest.approx(artifact.temperature)
    # Both validation losses: the raw one is the best epoch's in metrics.jsonl, the other is lower.
    records = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    raw = records[results["best_epoch"] - 1]["val/loss"]
    assert results["val_loss_uncalibrated"] == pytest.approx(raw, rel=1e-4)
    assert results["val_loss"] <= results["val_loss_uncalibrated"] + 1e-6

    # The temperature minimises the validation loss (T = 1 was a candidate), and no label moves.
    val = prepare_data(config_from_dict(artifact.config)).splits["val"]
    predictor = Predictor([artifact])
    after = predictor.log_proba_encoded([val])
    before = predictor.log_proba_encoded([val], calibrated=False)
    loss = torch.nn.functional.cross_entropy
    labels = torch.from_numpy(np.array(val.labels))
    assert float(loss(torch.from_numpy(after), labels)) <= float(loss(torch.from_numpy(before), labels)) + 1e-6
    assert np.array_equal(after.argmax(1), before.argmax(1))

    assert main(["report", str(trained_run), "--explain", "0"]) == 0
    assert "Calibration (test)" in (trained_run / "report.md").read_text()


def test_calibration_can_be_turned_off(mini_config, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--config", str(mini_config), "--run-dir", str(run), "--no-progress",
                 "--set", "train.calibration=none", "--set", "train.epochs=1"]) == 0
    assert ModelArtifact.load(run / "checkpoints" / "best.ckpt").temperature == 1.0
    test = json.loads((run / "evaluation" / "test" / "metrics.json").read_text())
    assert test["temperature"] == 1.0 and test["ece"] == test["ece_uncalibrated"]
