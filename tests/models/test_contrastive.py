"""The transformer's contrastive stage (SetFit-style): pairs drawn from the labels, the encoder
fine-tuned on them before the head, and an artifact that carries the adapted encoder."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

import textclf
from conftest import minilm_path, shared_data
from textclf.config import config_from_dict
from textclf.errors import ConfigError
from textclf.models.contrastive import draw_pairs


def test_pairs_pair_same_classes_as_positives_and_different_ones_as_negatives():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    pairs = draw_pairs(labels, rounds=3, max_pairs=10_000, seed=1)
    first, second, target = pairs.T
    assert (first != second).all()
    assert ((labels[first] == labels[second]) == (target == 1)).all()
    # Every example gets one positive and one negative a round (each class has two or more examples).
    assert (target == 1).sum() == 3 * len(labels) and (target == 0).sum() == 3 * len(labels)
    np.testing.assert_array_equal(draw_pairs(labels, 3, 10_000, seed=1), pairs)  # seeded
    assert len(draw_pairs(labels, 3, 7, seed=1)) == 7  # max_pairs


def test_multilabel_pairs_share_a_label_or_none():
    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]], dtype=np.uint8)
    first, second, target = draw_pairs(labels, rounds=4, max_pairs=10_000, seed=0).T
    shared = (labels[first] & labels[second]).any(axis=1)
    assert (shared == (target == 1)).all() and target.sum() > 0 and (target == 0).sum() > 0


def test_contrastive_settings_are_validated():
    base = {"model": {"name": "transformer", "pretrained": "x", "contrastive": {"pairs": 0}}}
    with pytest.raises(ConfigError, match="model.contrastive.pairs"):
        config_from_dict(base)
    base["model"]["contrastive"] = {"pair": 3}
    with pytest.raises(ConfigError, match="contrastive.pair"):
        config_from_dict(base)
    assert config_from_dict({"model": {"name": "transformer", "pretrained": "x", "contrastive": True}}) \
        .model.params()["contrastive"] == {"pairs": 20, "max_pairs": 20_000, "epochs": 1, "lr": 2e-5, "batch_size": 16}


def _few_sms(folder, per_class: int = 8) -> tuple[dict, dict]:
    """Files of ``per_class`` SMS a class for training and validation, 40 a class for test; a
    contrastive config reading them, and the parts."""
    rows = list(csv.DictReader(shared_data("sms_spam.csv").open(encoding="utf-8")))
    ham, spam = [r for r in rows if r["label"] == "ham"], [r for r in rows if r["label"] == "spam"]
    k = per_class
    parts = {"train": ham[:k] + spam[:k], "val": ham[k:2 * k] + spam[k:2 * k], "test": ham[16:56] + spam[16:56]}
    for name, part in parts.items():
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, ["text", "label"])
            writer.writeheader()
            writer.writerows(part)
    config = {
        "name": "fewshot", "output_dir": str(folder / "runs"),
        "data": {"source": "files", "root": str(folder), "train": "train.csv", "val": "val.csv", "test": "test.csv",
                 "cache_dir": str(folder / "cache")},
        "preprocess": {"max_seq_len": 48},
        "model": {"name": "transformer", "pretrained": minilm_path(), "contrastive": {"pairs": 2}},
        "train": {"epochs": 5, "batch_size": 16, "lr": 0.01, "device": "cpu"},
    }
    return config, parts


def test_eight_examples_a_class_adapt_the_encoder_and_the_artifact_carries_it(tmp_path, capsys):
    config, parts = _few_sms(tmp_path)
    run = textclf.train(config, run_dir=tmp_path / "run")
    out = capsys.readouterr().out
    assert "contrastive stage: 64 pairs (32 of the same class) from the 16 training examples" in out
    assert "the validation split is not used here" in out
    # The checkpoint holds the adapted encoder, not the pretrained one: its predictions differ.
    from transformers import AutoModel

    pretrained = AutoModel.from_pretrained(minilm_path()).state_dict()
    saved = run.predictor().models[0].encoder.state_dict()
    changed = [k for k, v in pretrained.items() if k in saved and not torch.equal(v, saved[k])]
    assert len(changed) > 10
    predictor = run.predictor()
    probabilities = predictor.predict_proba([r["text"] for r in parts["test"]])
    accuracy = float((probabilities.argmax(1) == np.array([r["label"] == "spam" for r in parts["test"]])).mean())
    assert accuracy == pytest.approx(run.results["test_accuracy"], abs=1e-9)
    assert accuracy >= 0.7
    assert run.results["epochs_run"] == 1  # the head on the adapted vectors: the svm, by default


def test_a_resumed_run_keeps_its_adapted_encoder_and_does_not_adapt_again(tmp_path, capsys):
    """Resuming loads the saved weights before the head's vectors are computed: they come from the
    adapted encoder (not the pretrained one), and the pairs are not trained on again."""
    import signal

    from textclf.config import config_from_dict
    from textclf.errors import TrainingInterrupted
    from textclf.training.recipe import resume, train

    config, _ = _few_sms(tmp_path, per_class=4)
    config["train"]["epochs"] = 2
    config["model"]["solver"] = "sgd"  # (a head trained over epochs, to interrupt between them)
    whole = train(config_from_dict(config), run_dir=tmp_path / "whole", progress=False)
    with pytest.raises(TrainingInterrupted):
        train(config_from_dict(config), run_dir=tmp_path / "cut", progress=False,
              on_epoch=lambda record: signal.raise_signal(signal.SIGINT))
    capsys.readouterr()
    resumed = resume(tmp_path / "cut", progress=False)
    assert "contrastive stage" not in capsys.readouterr().out
    strip = lambda r: {k: v for k, v in r.items() if not k.endswith("seconds")}  # noqa: E731
    assert [strip(r) for r in resumed.history] == [strip(r) for r in whole.history]


def test_a_head_on_fixed_vectors_fitted_by_the_svm_is_linearsvc_on_those_vectors(tmp_path):
    from sklearn.svm import LinearSVC

    from textclf.inference.logits import predict_logits
    from textclf.training.setup import setup_run
    from textclf.training.solver import feature_matrix

    config, parts = _few_sms(tmp_path)
    config["model"] = {"name": "transformer", "pretrained": minilm_path(), "freeze": True, "solver": "svm"}
    run = textclf.train(config, run_dir=tmp_path / "run")
    model = run.predictor().models[0]
    setup = setup_run(config_from_dict(config))
    train, test = setup.prepared.splits["train"], setup.prepared.splits["test"]
    model.train()  # (the vectors of documents it has not seen are kept while training)
    X, T = feature_matrix(model, train), feature_matrix(model, test)
    model.eval()
    svm = LinearSVC(C=1.0, dual=True, max_iter=5000).fit(X, train.labels)
    logits = predict_logits(model, test)
    np.testing.assert_allclose(logits[:, 1] - logits[:, 0], svm.decision_function(T), atol=1e-3)
    assert run.results["epochs_run"] == 1
    with pytest.raises(ConfigError, match="model.solver: svm fits a head on fixed vectors"):
        textclf.train({**config, "model": {**config["model"], "freeze": False}}, run_dir=tmp_path / "bad")
    contrastive = {**config["model"], "contrastive": True, "freeze": False}
    del contrastive["solver"]
    assert config_from_dict({**config, "model": contrastive}).model.params()["solver"] is None  # (svm: the model's)
