"""Ensembles: several checkpoints evaluate and predict together (mean probabilities)."""

import csv
import json

import numpy as np
import pytest

from textclf.cli import main
from textclf.inference import Predictor


@pytest.fixture(scope="module")
def second_run(mini_config, tmp_path_factory):
    """A second small model on the same data and split: another training seed and epochs."""
    run = tmp_path_factory.mktemp("second") / "run"
    assert main(["train", "--config", str(mini_config), "--run-dir", str(run), "--no-progress",
                 "--set", "train.seed=7", "--set", "train.epochs=2"]) == 0
    return run


def test_ensemble_is_the_mean_of_the_members_probabilities(trained_run, second_run, mini_config):
    from textclf.config import load_config
    from textclf.data import load_corpus

    paths = [trained_run / "checkpoints" / "best.ckpt", second_run / "checkpoints" / "best.ckpt"]
    val = load_corpus(load_config(mini_config))["val"]
    both = Predictor.load(paths)
    log_p = both.log_proba_encoded(both.encode(val.texts, val.labels))
    members = [Predictor.load(path).predict_proba(val.texts).astype(np.float64) for path in paths]
    np.testing.assert_allclose(np.exp(log_p), (members[0] + members[1]) / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(both.predict_proba(val.texts), (members[0] + members[1]) / 2, rtol=1e-4, atol=1e-6)
    assert both.predict(val.texts) == [both.classes[i] for i in np.exp(log_p).argmax(1)]


def test_evaluate_and_predict_take_several_checkpoints(trained_run, second_run, tmp_path, capsys):
    a, b = str(trained_run / "checkpoints" / "best.ckpt"), str(second_run / "checkpoints" / "best.ckpt")
    assert main(["evaluate", "--checkpoint", a, b, "--split", "val"]) == 0
    assert "written to" in capsys.readouterr().out
    metrics = json.loads((trained_run / "evaluation" / "val-ensemble2" / "metrics.json").read_text())
    assert 0 <= metrics["accuracy"] <= 1 and (trained_run / "evaluation" / "val-ensemble2" / "confusion_matrix.png").is_file()

    texts = tmp_path / "texts.csv"
    with open(texts, "w", newline="") as f:
        csv.writer(f).writerows([["text"], ["the goalie made forty saves"], ["my disk drive is dead"]])
    out = tmp_path / "pred.csv"
    assert main(["predict", "--checkpoint", a, b, "--input", str(texts), "--output", str(out), "--proba",
                 "--no-progress"]) == 0
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 2
    probs = [float(v) for k, v in rows[0].items() if k.startswith("p_")]
    assert sum(probs) == pytest.approx(1, abs=1e-4)


def test_members_with_different_classes_are_refused(trained_run, tmp_path):
    from textclf.artifact import ModelArtifact

    artifact = ModelArtifact.load(trained_run / "checkpoints" / "best.ckpt")
    artifact.classes = list(reversed(artifact.classes))
    other = artifact.save(tmp_path / "other.ckpt")
    assert main(["evaluate", "--checkpoint", str(trained_run / "checkpoints" / "best.ckpt"), str(other)]) == 5


def test_a_member_trained_on_another_split_is_refused(trained_run, mini_config, tmp_path, capsys):
    """Evaluating on the first member's split would score documents the other trained on."""
    other = tmp_path / "other"
    assert main(["train", "--config", str(mini_config), "--run-dir", str(other), "--no-progress",
                 "--set", "seed=7", "--set", "train.epochs=1"]) == 0
    capsys.readouterr()
    a, b = str(trained_run / "checkpoints" / "best.ckpt"), str(other / "checkpoints" / "best.ckpt")
    assert main(["evaluate", "--checkpoint", a, b, "--split", "test"]) == 5
    err = capsys.readouterr().err
    assert "trained on another split" in err and "seed" in err and len(err.strip().splitlines()) == 1
    assert not (trained_run / "evaluation" / "test-ensemble2").exists()
