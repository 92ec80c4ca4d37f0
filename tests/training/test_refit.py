"""train.refit: after a run has chosen its epoch on val, the model kept is trained again on train +
val; val metrics, temperature and thresholds stay the held-out run's, test is the refit model's."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import textclf
from conftest import goemotions_slices, shared_data
from textclf.artifact import ModelArtifact
from textclf.config import CANDIDATES, candidate_raw, config_from_dict
from textclf.inference.logits import predict_logits
from textclf.text.encoding import concatenate
from textclf.training.setup import setup_run
from textclf.training.solver import feature_matrix


def _sms(tmp_path, **train) -> dict:
    frame = pd.read_csv(shared_data("sms_spam.csv"), keep_default_na=False).groupby("label").head(150)
    frame.to_csv(tmp_path / "sms.csv", index=False)
    return {"name": "refit", "output_dir": str(tmp_path / "runs"),
            "data": {"source": "files", "train": str(tmp_path / "sms.csv"), "cache_dir": str(tmp_path / "cache")},
            "model": {"name": "linear", "solver": "svm", "tol": 1e-4, "buckets": 3000},
            "train": {"device": "cpu", **train}}


def test_concatenated_splits_keep_every_document_in_order(tmp_path):
    setup = setup_run(config_from_dict(_sms(tmp_path)))
    train, val = setup.prepared.splits["train"], setup.prepared.splits["val"]
    both = concatenate([train, val])
    assert len(both) == len(train) + len(val)
    for i in (0, len(train) - 1, len(train), len(both) - 1):
        source, j = (train, i) if i < len(train) else (val, i - len(train))
        np.testing.assert_array_equal(both.document(i), source.document(j))
        assert both.labels[i] == source.labels[j] and both.full_lengths[i] == source.full_lengths[j]


def test_a_refit_linear_model_is_the_svm_of_train_and_val_and_keeps_the_held_out_val_results(tmp_path, capsys):
    from textclf.evaluation.evaluate import evaluate_checkpoint
    from sklearn.svm import LinearSVC

    held_out = textclf.train(_sms(tmp_path), run_dir=tmp_path / "held_out")
    run = textclf.train(_sms(tmp_path, refit=True), run_dir=tmp_path / "run")
    setup = setup_run(config_from_dict(_sms(tmp_path)))
    train, val, test = (setup.prepared.splits[s] for s in ("train", "val", "test"))
    model = textclf.Predictor.load(run.best_checkpoint).models[0]  # (its TF-IDF weights: of train, as the vocabulary)
    X = feature_matrix(model, concatenate([train, val]))
    svm = LinearSVC(C=1.0, dual=True, max_iter=5000).fit(X, np.concatenate([train.labels, val.labels]))
    decision = svm.decision_function(feature_matrix(model, test))
    np.testing.assert_allclose(predict_logits(model, test) @ np.array([-1.0, 1.0]), decision, atol=1e-4)
    # Val: the held-out model's numbers and temperature; the refit is recorded.
    for key in ("val_accuracy", "val_loss", "temperature", "best_epoch"):
        assert run.results[key] == pytest.approx(held_out.results[key])
    assert run.results["refit"]["train_examples"] == len(train) + len(val)
    kept = ModelArtifact.load(run.best_checkpoint)
    assert kept.config["train"]["refit"] is True and kept.temperature == pytest.approx(held_out.results["temperature"])
    assert (run.layout.refit / "metrics.jsonl").is_file() and not (run.layout.refit / "checkpoints").exists()
    assert run.results["test_accuracy"] == pytest.approx(float(((decision > 0) == test.labels).mean()))
    from textclf.reporting.report import build_report

    report, _ = build_report(run.layout.root, explain_examples=0)
    assert f"Refit (train.refit): once validation had chosen epoch 1, the model was trained again on train + val " \
           f"({len(train) + len(val):,} examples)" in report.read_text()
    capsys.readouterr()
    evaluate_checkpoint(run.best_checkpoint, "val", tmp_path / "eval")
    assert "was refit on train + val (train.refit)" in capsys.readouterr().err


def test_a_refit_runs_the_best_epoch_count_and_keeps_the_held_out_thresholds(tmp_path, capsys):
    from textclf.evaluation.evaluate import evaluate_checkpoint

    goemotions_slices(tmp_path, {"train": 600, "dev": 200, "test": 150})

    def raw(refit: bool) -> dict:
        return {"name": "ml", "task": "multilabel", "output_dir": str(tmp_path / "runs"),
                "data": {"source": "files", "train": str(tmp_path / "train.csv"), "val": str(tmp_path / "dev.csv"),
                         "test": str(tmp_path / "test.csv"), "label_column": "labels", "unknown_labels": "drop",
                         "cache_dir": str(tmp_path / "cache")},
                "model": {"name": "bag_of_ngrams", "embedding_dim": 8, "members": 2, "buckets": 5000},
                "train": {"device": "cpu", "epochs": 4, "lr": 0.02, "num_threads": 1, "threshold": "tune_mixed",
                          "refit": refit}}

    held_out = textclf.train(raw(False), run_dir=tmp_path / "held_out")
    run = textclf.train(raw(True), run_dir=tmp_path / "run")
    assert run.results["best_epoch"] == held_out.results["best_epoch"]
    assert run.results["val_f1_micro"] == pytest.approx(held_out.results["val_f1_micro"])
    refit_epochs = [json.loads(line) for line in (run.layout.refit / "metrics.jsonl").read_text().splitlines()]
    assert len(refit_epochs) == held_out.results["best_epoch"] == run.results["refit"]["epochs"]
    before, after = ModelArtifact.load(held_out.best_checkpoint), ModelArtifact.load(run.best_checkpoint)
    assert after.thresholds == before.thresholds

    def scores(metrics: dict) -> dict:
        return {k: v for k, v in metrics.items() if not k.endswith("_seconds")}

    assert scores(after.metrics) == scores(before.metrics)
    changed = [k for k in before.state_dict if not torch.equal(before.state_dict[k], after.state_dict[k])]
    assert changed  # trained on more documents
    assert after.train_class_counts != before.train_class_counts
    # An ensemble's thresholds: tuned on val for its mean probabilities, unless a member was refit
    # on val (then the members' mean).
    capsys.readouterr()
    ensemble = evaluate_checkpoint([held_out.best_checkpoint] * 2, "test", tmp_path / "ens")
    assert "decision thresholds tuned on the validation split" in capsys.readouterr().out
    assert ensemble["f1_micro"] == pytest.approx(held_out.results["test_f1_micro"])
    evaluate_checkpoint([run.best_checkpoint] * 2, "test", tmp_path / "ens_refit")
    assert "decision thresholds are the members' mean" in capsys.readouterr().out


def test_a_refit_with_a_list_of_c_fits_the_c_that_val_chose(tmp_path, capsys):
    from sklearn.svm import LinearSVC

    raw = _sms(tmp_path, refit=True)
    raw["model"]["C"] = [0.05, 1e-4]  # 1e-4: so strong a penalty that every message is ham
    run = textclf.train(raw, run_dir=tmp_path / "run")
    assert "model.C: 0.05 kept" in capsys.readouterr().out
    kept = ModelArtifact.load(run.best_checkpoint)
    assert kept.model_params["C"] == 0.05 and kept.config["model"]["C"] == [0.05, 1e-4]
    setup = setup_run(config_from_dict(_sms(tmp_path)))
    train, val, test = (setup.prepared.splits[s] for s in ("train", "val", "test"))
    model = textclf.Predictor.load(run.best_checkpoint).models[0]
    svm = LinearSVC(C=0.05, dual=True, max_iter=5000).fit(feature_matrix(model, concatenate([train, val])),
                                                          np.concatenate([train.labels, val.labels]))
    np.testing.assert_allclose(predict_logits(model, test) @ np.array([-1.0, 1.0]),
                               svm.decision_function(feature_matrix(model, test)), atol=1e-4)


def test_the_default_selection_refits_its_winner_unless_told_not_to(tmp_path):
    raw = _sms(tmp_path)
    del raw["model"]
    config = config_from_dict(raw)
    assert all(candidate_raw(config, c)["train"]["refit"] is True for c in CANDIDATES)
    own = config_from_dict({**raw, "train": {**raw["train"], "refit": False}})
    assert not any(candidate_raw(own, c)["train"]["refit"] for c in CANDIDATES)


def test_a_selection_refits_its_winner_without_a_final_evaluation_and_never_its_candidates(tmp_path):
    from textclf.training.recipe import train

    raw = _sms(tmp_path, num_threads=1)
    del raw["model"]
    result = train(config_from_dict(raw), run_dir=tmp_path / "run", progress=False, final_evaluation=False)
    run = textclf.Run.open(result.run_dir)
    refit_epochs = (run.layout.refit / "metrics.jsonl").read_text().splitlines()
    assert len(refit_epochs) == result.best_epoch  # (the scikit-learn estimator's path: no evaluation)
    assert not list((run.layout.candidates).glob("*/refit"))
    assert not (run.layout.root / "evaluation").exists()
    plain = train(config_from_dict(raw), run_dir=tmp_path / "plain", progress=False, final_evaluation=False,
                  refit=False)
    assert not textclf.Run.open(plain.run_dir).layout.refit.exists()


def test_a_refit_that_would_overrun_the_budget_is_skipped_and_the_held_out_model_kept(tmp_path, capsys):
    from textclf.reporting.report import build_report

    run = textclf.train(_sms(tmp_path, refit=True, budget=0.001), run_dir=tmp_path / "run")
    assert "train.budget has 0 s left" in run.results["refit"]["skipped"]
    assert "refit skipped: train.budget has 0 s left" in capsys.readouterr().err
    assert not run.layout.refit.exists()
    held_out = textclf.train(_sms(tmp_path), run_dir=tmp_path / "held_out")
    assert run.results["test_accuracy"] == held_out.results["test_accuracy"]
    report, _ = build_report(run.layout.root, explain_examples=0)
    assert "Refit (train.refit) skipped: train.budget has 0 s left" in report.read_text()


def test_a_refit_weighs_only_the_features_of_the_split_its_vocabulary_was_fitted_on(tmp_path):
    # Every positive val review is made of words the training split never had: each is <unk>
    # (min_freq 1: train itself has none). TF-IDF weights fitted on train + val gave <unk> a
    # weight that the refit learnt from those val reviews alone, and then a negative test review
    # with new words came out positive.
    rng = np.random.default_rng(0)
    good, bad = ["good", "great", "fine", "lovely"], ["bad", "awful", "poor", "dreadful"]
    rows = lambda words, label, n: [(" ".join(rng.choice(words, 3)), label) for _ in range(n)]  # noqa: E731
    pd.DataFrame(rows(good, "pos", 20) + rows(bad, "neg", 20), columns=["text", "label"]).to_csv(
        tmp_path / "train.csv", index=False)
    new_words = [f"zq{i}" for i in range(40)]
    pd.DataFrame(rows(new_words, "pos", 30) + rows(bad, "neg", 30), columns=["text", "label"]).to_csv(
        tmp_path / "val.csv", index=False)
    test = [(f"{w} zq{100 + i} zq{200 + i} zq{300 + i}", label) for words, label in ((bad, "neg"), (good, "pos"))
            for i, w in enumerate(words * 5)]
    pd.DataFrame(test, columns=["text", "label"]).to_csv(tmp_path / "test.csv", index=False)
    config = {"name": "unk", "output_dir": str(tmp_path / "runs"),
              "data": {"source": "files", "train": str(tmp_path / "train.csv"), "val": str(tmp_path / "val.csv"),
                       "test": str(tmp_path / "test.csv"), "cache_dir": str(tmp_path / "cache")},
              "preprocess": {"min_freq": 1},
              "model": {"name": "linear", "solver": "svm", "buckets": 1000},
              "train": {"device": "cpu", "refit": True}}
    run = textclf.train(config, run_dir=tmp_path / "run")
    assert run.results["refit"]["train_examples"] == 100
    model = textclf.Predictor.load(run.best_checkpoint).models[0]
    assert float(model.idf[1]) == 0.0  # <unk>: in no training document, so weightless in the refit too
    assert run.results["test_accuracy"] == 1.0
