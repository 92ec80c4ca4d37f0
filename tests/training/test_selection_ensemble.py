"""The default selection's ensemble: greedy on validation, kept as one checkpoint file whose
members are calibrated and refit, read by the Predictor, evaluate, the report and the estimator."""

import csv

import numpy as np
import pytest

import textclf
from conftest import goemotions_slices, sms_selection_config
from textclf.artifact import ModelArtifact, load_members, save_ensemble
from textclf.cli import main
from textclf.config import CANDIDATES, config_from_dict, load_config
from textclf.errors import CheckpointError, ConfigError
from textclf.inference import Predictor
from textclf.training import select
from textclf.training.ensemble import Decision, ensemble_score, greedy_ensemble, worth_keeping


def _probabilities(column0: list[float]) -> np.ndarray:
    p = np.asarray(column0, dtype=np.float64)[:, None]
    return np.hstack([p, 1 - p])


def test_greedy_adds_the_candidate_that_raises_the_score_and_stops_when_none_does():
    labels = np.zeros(10, dtype=int)
    a = _probabilities([0.9] * 6 + [0.4] * 4)    # right on 6
    b = _probabilities([0.45] * 6 + [0.9] * 4)   # right on 4, but sure where a is wrong
    c = _probabilities([0.3] * 10)               # right on none
    counts = greedy_ensemble({"a": a, "b": b, "c": c}, labels, "a", "val_accuracy")
    assert counts == {"a": 1, "b": 1}  # the mean is right on all 10; nothing raises 1.0
    # Nothing that helps: the start alone.
    assert greedy_ensemble({"a": a, "c": c}, labels, "a", "val_accuracy") == {"a": 1}
    # Equal scores are no step (a copy of the start does not raise accuracy).
    assert greedy_ensemble({"a": a, "a2": a.copy()}, labels, "a", "val_accuracy") == {"a": 1}
    # On the loss, a candidate surer of the right class keeps being added, up to the rounds.
    sure = _probabilities([0.99] * 10)
    assert greedy_ensemble({"a": a, "sure": sure}, labels, "a", "val_loss", rounds=3) == {"a": 1, "sure": 3}


def test_a_multilabel_mean_is_scored_at_thresholds_tuned_for_it():
    labels = np.array([[1, 0], [1, 0], [0, 1], [0, 1]] * 5)
    # a knows label 0 and guesses at label 1; b the other way round; c knows nothing.
    a = np.array([[0.9, 0.5], [0.8, 0.5], [0.1, 0.5], [0.2, 0.5]] * 5)
    b = np.array([[0.5, 0.1], [0.5, 0.2], [0.5, 0.9], [0.5, 0.8]] * 5)
    c = np.full((20, 2), 0.5)
    decision = Decision("tune_per_class", allow_empty=True)
    assert ensemble_score(a, labels, "val_f1_micro", decision) < 1.0
    assert ensemble_score((a + b) / 2, labels, "val_f1_micro", decision) == 1.0
    counts = greedy_ensemble({"a": a, "b": b, "c": c}, labels, "a", "val_f1_micro", decision=decision)
    assert counts == {"a": 1, "b": 1}
    assert ensemble_score((a + b) / 2, labels, "val_loss", decision) > ensemble_score(c, labels, "val_loss", decision)


def test_an_ensemble_level_with_the_winner_is_kept_only_with_a_lower_calibrated_loss():
    labels = np.zeros(100, dtype=int)
    winner_correct = np.arange(100) < 90
    # One document more than the winner (of 1 or more discordant): within the noise.
    ahead_by_one = _probabilities([0.6] * 91 + [0.4] * 9)
    loss = float(-np.log(0.6))
    assert not worth_keeping(ahead_by_one, labels, "val_accuracy", winner_correct, winner_loss=loss - 0.1)
    assert worth_keeping(ahead_by_one, labels, "val_accuracy", winner_correct, winner_loss=loss + 0.1)
    # Clearly ahead (10 documents more, 10 discordant): kept whatever the loss.
    ahead = _probabilities([0.6] * 100)
    assert worth_keeping(ahead, labels, "val_accuracy", winner_correct, winner_loss=0.0)
    # Multi-label: not below the winner on micro- or macro-F1 (at thresholds tuned for the monitor).
    decision = Decision("tune_global", allow_empty=True)
    truth = np.array([[1, 0]] * 8 + [[0, 1]] * 2)
    winner = np.array([[0.9, 0.1]] * 8 + [[0.1, 0.9]] * 2)  # every label right
    common = np.array([[0.9, 0.1]] * 8 + [[0.9, 0.1]] * 2)  # the rare label given up
    assert not worth_keeping(common, truth, "val_f1_micro", None, 0.0, decision, winner)
    assert worth_keeping(winner, truth, "val_f1_micro", None, 0.0, decision, common)
    # Other monitors: the greedy step's own gain decides.
    assert worth_keeping(ahead_by_one, labels, "val_f1_macro", winner_correct, winner_loss=0.0)


@pytest.fixture
def sms(tmp_path):
    return sms_selection_config(tmp_path, per_class=120, buckets=4000, num_threads=1)


def _forced(monkeypatch, chosen: list[str], guard: bool = True):
    """The selection's greedy step, made to keep the winner and ``chosen`` (twice each); without
    ``guard``, the ensemble is kept whatever ``worth_keeping`` would say."""
    def fake(probabilities, labels, start, monitor, **settings):
        assert set(chosen) <= set(probabilities) and start in probabilities
        assert start not in chosen, "the winner is one of the forced members: choose others"
        return {start: 1, **{name: 2 for name in chosen}}

    monkeypatch.setattr(select, "greedy_ensemble", fake)
    if not guard:
        monkeypatch.setattr(select, "worth_keeping", lambda *args: True)


def test_a_kept_ensemble_is_one_checkpoint_of_calibrated_refit_members(sms, tmp_path, monkeypatch, capsys):
    _forced(monkeypatch, ["linear"], guard=False)
    run = textclf.train({**sms, "train": {**sms["train"], "refit": True}}, run_dir=tmp_path / "run")
    err = capsys.readouterr().err
    with open(run.layout.leaderboard, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["candidate"] == "ensemble" and rows[0]["rank"] == "1" and "linear x2" in rows[0]["settings"]
    assert [int(r["rank"]) for r in rows if r["rank"]] == list(range(1, len(CANDIDATES) + 1))  # (linear_nb: skipped)
    winner = rows[1]["candidate"] if rows[1]["candidate"] != "linear" else rows[2]["candidate"]
    assert "as one ensemble" in err
    # One file: ModelArtifact.load refuses it with the way to read it; the Predictor reads it.
    with pytest.raises(CheckpointError, match="an ensemble of 2 models"):
        ModelArtifact.load(run.best_checkpoint)
    artifacts, weights = load_members(run.best_checkpoint)
    assert [a.model_name for a in artifacts][1] == "linear" and weights == pytest.approx([1 / 3, 2 / 3])
    assert all(a.temperature != 1.0 for a in artifacts)  # each member calibrated on its own
    predictor = Predictor.load(run.best_checkpoint)
    assert len(predictor) == 2
    texts = ["WIN a free prize now, call 0800", "see you at lunch?", "ok"]
    mean = sum(w * Predictor([a]).predict_proba(texts) for a, w in zip(artifacts, weights))
    np.testing.assert_allclose(predictor.predict_proba(texts), mean, atol=1e-5)
    # Each member was refit on train + val; the member files are gone (the ensemble holds them).
    refit = run.results["refit"]
    assert set(refit["members"]) == {winner, "linear"} and all("epochs" in r for r in refit["members"].values())
    assert all((run.layout.refit / name / "metrics.jsonl").is_file() for name in refit["members"])
    assert not (run.layout.checkpoints / "members").exists()
    assert not (run.layout.candidates / "linear" / "checkpoints").exists()
    assert run.results["ensemble"]["weights"] == pytest.approx([1 / 3, 2 / 3])
    timing = run.results["timing"]  # where the run's time went
    assert set(timing) == {"prepare_s", "selection_s", "refit_s", "evaluation_s"} and min(timing.values()) > 0
    assert run.results["ensemble"]["candidates"] == [winner, "linear"]
    # evaluate reads it as the run's final evaluation did.
    assert main(["evaluate", "--checkpoint", str(run.best_checkpoint), "--split", "test",
                 "--output", str(tmp_path / "ev")]) == 0
    assert abs(float(run.test_metrics["accuracy"]) - _accuracy(tmp_path / "ev")) < 1e-9
    # ... every member counted (its own tokenization), not the first alone: the same loss.
    assert float(run.test_metrics["loss"]) == pytest.approx(_metrics(tmp_path / "ev")["loss"], abs=1e-5)
    with pytest.raises(ValueError, match="1 encoded inputs for 2 models"):
        predictor.log_proba_encoded(predictor.encode(texts)[:1])
    from textclf.reporting.report import build_report

    markdown, _ = build_report(run.dir, explain_examples=1)
    text = markdown.read_text()
    assert "The run keeps an ensemble" in text and "each of the ensemble's 2 members" in text
    # explain takes its first member and says so.
    assert main(["explain", "--checkpoint", str(run.best_checkpoint), "--text", "free prize"]) == 0
    assert "an ensemble of 2 models; explaining its first" in capsys.readouterr().err
    # export takes one model: a one-line error that says how to get one, and no folder left.
    assert main(["export", "--checkpoint", str(run.best_checkpoint), "--output", str(tmp_path / "onnx")]) != 0
    assert "train with train.ensemble: false" in capsys.readouterr().err and not (tmp_path / "onnx").exists()
    # config.yaml chooses among the members again (the user's own keys kept, nothing else fixed);
    # the winner's own config sits beside the other members'.
    saved = load_config(run.layout.config)
    assert saved.model.auto and saved.model.candidates == [winner, "linear"]
    assert saved.model.params()["buckets"] == 4000 and not saved.sets("train.lr")
    assert load_config(run.layout.candidates / winner / "config.yaml").model.name == artifacts[0].model_name
    again = textclf.train(str(run.layout.config), run_dir=tmp_path / "again")
    with open(again.layout.leaderboard, newline="") as f:
        assert sorted(r["candidate"] for r in csv.DictReader(f)) == sorted(["ensemble", winner, "linear"])


def test_on_two_threads_the_members_are_refit_side_by_side_as_they_are_in_turn(sms, tmp_path, monkeypatch, capsys):
    from textclf.training import ensemble

    _forced(monkeypatch, ["linear"], guard=False)
    train = {**sms["train"], "refit": True, "num_threads": 2}
    textclf.train({**sms, "train": train}, run_dir=tmp_path / "cheap")  # seconds of refits: in this process
    assert "processes side by side" not in capsys.readouterr().err
    monkeypatch.setattr(ensemble, "SIDE_BY_SIDE_S", 0.0)  # as if each refit took long
    runs = {threads: textclf.train({**sms, "train": {**train, "num_threads": threads}},
                                   run_dir=tmp_path / f"threads{threads}") for threads in (1, 2)}
    err = capsys.readouterr().err
    assert "refit: 2 ensemble members in 2 processes side by side" in err
    assert "refit: 2 of 2 ensemble members trained again on train + val" in err
    side = runs[2]
    assert set(side.results["refit"]["members"]) == set(runs[1].results["refit"]["members"])
    for name, done in side.results["refit"]["members"].items():
        assert done["epochs"] == runs[1].results["refit"]["members"][name]["epochs"]
        assert "refit: training" in (side.layout.refit / name / "train.log").read_text()  # its own output
    assert not (side.layout.checkpoints / "members").exists()
    for key in ("accuracy", "loss"):
        assert side.test_metrics[key] == pytest.approx(runs[1].test_metrics[key], abs=1e-6)


def test_a_multilabel_ensemble_decides_at_the_thresholds_tuned_for_its_mean(tmp_path, monkeypatch, capsys):
    _forced(monkeypatch, ["linear"], guard=False)
    goemotions_slices(tmp_path, {"train": 600, "dev": 200, "test": 200})
    config = {"name": "ge", "task": "multilabel", "output_dir": str(tmp_path / "runs"),
              "model": {"buckets": 4000, "char_buckets": 4000},
              "data": {"source": "files", "train": str(tmp_path / "train.csv"), "val": str(tmp_path / "dev.csv"),
                       "test": str(tmp_path / "test.csv"), "label_column": "labels", "unknown_labels": "drop",
                       "cache_dir": str(tmp_path / "cache")},
              "preprocess": {"max_seq_len": 40},
              "train": {"epochs": 2, "device": "cpu", "num_threads": 1, "threshold": "tune_mixed"}}
    run = textclf.train(config, run_dir=tmp_path / "run")
    with open(run.layout.leaderboard, newline="") as f:
        assert next(csv.DictReader(f))["candidate"] == "ensemble"
    artifacts, _ = load_members(run.best_checkpoint)
    assert len(artifacts) == 2 and artifacts[0].thresholds == artifacts[1].thresholds  # the mean's, refit or not
    assert set(run.results["refit"]["members"]) == set(run.results["ensemble"]["candidates"])
    assert main(["evaluate", "--checkpoint", str(run.best_checkpoint), "--split", "test",
                 "--output", str(tmp_path / "ev")]) == 0
    assert "decision thresholds are the members' mean" in capsys.readouterr().out
    assert _metrics(tmp_path / "ev")["f1_micro"] == pytest.approx(float(run.test_metrics["f1_micro"]), abs=1e-9)


def test_model_candidates_restricts_the_selection_and_is_checked(sms, tmp_path):
    run = textclf.train({**sms, "model": {"candidates": ["linear"], "buckets": 4000},
                         "train": {**sms["train"], "refit": False}}, run_dir=tmp_path / "run")
    with open(run.layout.leaderboard, newline="") as f:
        assert [r["candidate"] for r in csv.DictReader(f)] == ["linear"]
    with pytest.raises(ConfigError,
                       match=r"model.candidates: 'trigrams': give one or more of linear, linear_nb, linear_chars, bag"):
        config_from_dict({**sms, "model": {"candidates": ["trigrams"]}})
    with pytest.raises(ConfigError, match="only a config that names no model"):
        config_from_dict({**sms, "model": {"name": "linear", "candidates": ["linear"]}})


def _metrics(folder) -> dict:
    import json

    return json.loads(next(folder.rglob("metrics.json")).read_text())


def _accuracy(folder) -> float:
    return _metrics(folder)["accuracy"]


def test_train_ensemble_false_keeps_the_best_candidate_alone(sms, tmp_path, monkeypatch):
    _forced(monkeypatch, ["linear"])
    run = textclf.train({**sms, "train": {**sms["train"], "ensemble": False, "refit": False}},
                        run_dir=tmp_path / "run")
    with open(run.layout.leaderboard, newline="") as f:
        assert "ensemble" not in {r["candidate"] for r in csv.DictReader(f)}
    assert ModelArtifact.load(run.best_checkpoint).model_name in ("linear", "bag_of_ngrams")


def test_an_ensemble_file_with_mismatched_weights_is_a_clear_error(trained_run, tmp_path):
    artifact = ModelArtifact.load(trained_run / "checkpoints" / "best.ckpt")
    path = save_ensemble(tmp_path / "ens.ckpt", [artifact, artifact], [1.0, 3.0])
    predictor = Predictor.load(path)
    assert len(predictor) == 2 and predictor.weights.tolist() == [0.25, 0.75]
    # Several paths count equally, an ensemble file's members sharing its count.
    both = Predictor.load([path, trained_run / "checkpoints" / "best.ckpt"])
    assert both.weights.tolist() == [0.125, 0.375, 0.5]
    import torch

    payload = torch.load(path, weights_only=True)
    payload["ensemble"]["weights"] = [1.0]
    torch.save(payload, tmp_path / "bad.ckpt")
    with pytest.raises(CheckpointError, match="members and weights do not match"):
        Predictor.load(tmp_path / "bad.ckpt")
    with pytest.raises(CheckpointError, match="for one model .to export it."):
        ModelArtifact.load(path)
