"""Multilabel classification: labels, thresholds, metrics, and every command on a real run.

The run trains the default model (no model section) on a slice of GoEmotions from the shared
data: the code path a user's own ``text,labels`` CSV takes.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import textclf
from sklearn.metrics import accuracy_score, f1_score, hamming_loss

from conftest import goemotions_slices, minilm_path
from textclf.cli import main
from textclf.config import config_from_dict
from textclf.data import load_corpus
from textclf.errors import DataError
from textclf.evaluation.metrics import multilabel_metrics
from textclf.evaluation.thresholds import _f1, tune_thresholds
from textclf.inference import Predictor
from textclf.task import get_task

# --------------------------------------------------------------------------- thresholds


def test_per_class_threshold_cuts_between_the_best_documents():
    # class 0: positives at 0.9, 0.6, 0.4; negatives at 0.5, 0.2 → keeping the top 4 (down to
    # 0.4) gives F1 = 2·3 / (4 + 3) = 0.857, better than the top 1 (0.5) or top 2 (0.8).
    p = np.array([[0.9], [0.6], [0.5], [0.4], [0.2]], dtype=np.float32)
    y = np.array([[1], [1], [0], [1], [0]])
    threshold = tune_thresholds(p, y, "tune_per_class")[0]
    assert 0.2 < threshold < 0.4 and threshold == pytest.approx(0.3)


def test_a_class_without_positives_keeps_the_global_threshold():
    rng = np.random.default_rng(0)
    y = (rng.random((200, 3)) < 0.3).astype(np.uint8)
    y[:, 2] = 0
    p = np.clip(y * 0.5 + rng.random((200, 3)) * 0.5, 0, 1).astype(np.float32)
    per_class = tune_thresholds(p, y, "tune_per_class")
    global_ = tune_thresholds(p, y, "tune_global")
    assert per_class[2] == global_[0] and len(set(global_.tolist())) == 1


def test_mixed_thresholds_are_per_class_only_where_validation_has_enough_positives():
    from textclf.evaluation.thresholds import MIN_POSITIVES

    rng = np.random.default_rng(2)
    y = (rng.random((400, 3)) < 0.3).astype(np.uint8)
    y[:, 2] = 0
    y[:MIN_POSITIVES - 1, 2] = 1  # one positive short of its own threshold
    p = np.clip(y * 0.4 + rng.random((400, 3)) * 0.6, 0, 1).astype(np.float32)
    mixed, per_class = tune_thresholds(p, y, "tune_mixed"), tune_thresholds(p, y, "tune_per_class")
    global_ = tune_thresholds(p, y, "tune_global")[0]
    assert mixed[:2].tolist() == per_class[:2].tolist() and mixed[2] == global_ != per_class[2]


def test_global_threshold_is_the_best_of_the_grid_and_a_number_is_kept():
    rng = np.random.default_rng(1)
    y = (rng.random((300, 4)) < 0.25).astype(np.uint8)
    p = np.clip(0.35 * y + 0.6 * rng.random((300, 4)), 0, 1).astype(np.float32)
    chosen = tune_thresholds(p, y, "tune_global", "f1_micro", allow_empty=True)[0]
    best = max(np.arange(1, 100) / 100, key=lambda t: f1_score(y, p >= t, average="micro", zero_division=0))
    assert f1_score(y, p >= chosen, average="micro") == pytest.approx(f1_score(y, p >= best, average="micro"))
    assert tune_thresholds(p, y, 0.7).tolist() == pytest.approx([0.7] * 4)


def test_fast_f1_of_tuning_equals_scikit_learn():
    rng = np.random.default_rng(2)
    y = rng.random((100, 5)) < 0.3
    pred = rng.random((100, 5)) < 0.3
    pred[:, 4] = False  # a class never predicted
    for average in ("micro", "macro"):
        assert _f1(pred, y, average) == pytest.approx(f1_score(y, pred, average=average, zero_division=0))


def test_every_document_gets_a_label_unless_empty_sets_are_allowed():
    task = get_task("multilabel")
    p = np.array([[0.2, 0.3], [0.9, 0.6], [0.1, 0.05]])
    assert task.decide(p, [0.5, 0.5]).tolist() == [[False, True], [True, True], [True, False]]
    assert task.decide(p, [0.5, 0.5], allow_empty=True).tolist() == [[False, False], [True, True], [False, False]]


# --------------------------------------------------------------------------- metrics


def test_metrics_against_scikit_learn_and_by_hand():
    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    pred = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0], [1, 0, 1]])
    m = multilabel_metrics(y, pred, ["a", "b", "c"])
    # By hand: TP 5, FP 2, FN 1 → micro-F1 10 / 13; 3 wrong cells of 12; 1 of 4 rows exact.
    assert m["f1_micro"] == pytest.approx(10 / 13)
    assert m["hamming_loss"] == pytest.approx(3 / 12) == hamming_loss(y, pred)
    assert m["subset_accuracy"] == pytest.approx(0.25) == accuracy_score(y, pred)
    for average in ("macro", "samples", "weighted"):
        assert m[f"f1_{average}"] == pytest.approx(f1_score(y, pred, average=average))
    assert m["label_cardinality"] == {"true": 1.5, "predicted": 1.75}
    assert [r["support"] for r in m["per_class"]] == [2, 2, 2]
    assert [r["predicted"] for r in m["per_class"]] == [3, 2, 2]


# --------------------------------------------------------------------------- labels


def _read(tmp_path: Path, name: str, content, **data) -> object:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        content.to_json(path, orient="records", lines=name.endswith(".jsonl"))
    raw = {"task": "multilabel", "data": {"source": "files", "train": str(path), "test_size": 0.25,
                                          "val_size": 0.25, **data}}
    return load_corpus(config_from_dict(raw))


def test_labels_from_a_table_cell_and_from_json_lists(tmp_path):
    rows = "".join(f"text {i},{labels}\n" for i, labels in enumerate(["a|b", "b", "", " c | a "] * 5))
    corpus = _read(tmp_path, "t.csv", "text,label\n" + rows)
    assert corpus.label_names == ["a", "b", "c"]
    every = np.concatenate([corpus[s].labels for s in ("train", "val", "test")])
    assert every.shape == (20, 3) and every.dtype == np.uint8
    assert sorted(map(tuple, every.tolist())) == sorted([(1, 1, 0), (0, 1, 0), (0, 0, 0), (1, 0, 1)] * 5)

    frame = pd.DataFrame({"text": [f"t{i}" for i in range(12)], "tags": [["x", "y"], ["y"], []] * 4})
    corpus = _read(tmp_path, "t.jsonl", frame, label_column="tags")
    assert corpus.label_names == ["x", "y"] and sum(len(corpus[s]) for s in ("train", "val", "test")) == 12


def test_unknown_labels_in_test_are_an_error_or_left_out(tmp_path, capsys):
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"t{i},a|b\nu{i},b\n" for i in range(6)))
    (tmp_path / "test.csv").write_text("text,label\nx,a|zzz\ny,zzz\n")
    raw = {"task": "multilabel", "data": {"source": "files", "train": str(tmp_path / "train.csv"),
                                          "test": str(tmp_path / "test.csv"), "val_size": 0.3}}
    with pytest.raises(DataError, match="labels never seen in the training file: 'zzz'"):
        load_corpus(config_from_dict(raw))
    raw["data"]["unknown_labels"] = "drop"
    test = load_corpus(config_from_dict(raw))["test"]
    assert test.texts == ["x"] and test.labels.tolist() == [[1, 0]]
    assert "1 rows had no other label and were dropped" in capsys.readouterr().err


def test_a_wrong_separator_and_a_forgotten_task_are_pointed_out(tmp_path, capsys):
    (tmp_path / "t.csv").write_text("text,label\n" + "".join(f"t{i},\"a,b\"\nu{i},b\n" for i in range(6)))
    _read(tmp_path, "t.csv", (tmp_path / "t.csv").read_text())
    assert "set data.label_separator" in capsys.readouterr().err
    (tmp_path / "m.csv").write_text("text,label\n" + "".join(f"t{i},a|b\nu{i},b\n" for i in range(6)))
    raw = {"data": {"source": "files", "train": str(tmp_path / "m.csv"), "test_size": 0.25, "val_size": 0.25}}
    load_corpus(config_from_dict(raw))
    assert "set task: multilabel" in capsys.readouterr().err


def test_monitor_defaults_to_micro_f1_for_multilabel_only():
    assert config_from_dict({"task": "multilabel"}).train.monitor == "val_f1_micro"
    assert config_from_dict({"task": "multilabel"}).search.metric == "val_f1_micro"
    assert config_from_dict({"task": "multilabel", "train": {"monitor": "val_loss"}}).train.monitor == "val_loss"
    assert config_from_dict({}).train.monitor == "val_accuracy"


# --------------------------------------------------------------------------- a real run


@pytest.fixture(scope="module")
def multilabel_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("goemotions")
    goemotions_slices(folder, {"train": 2000, "dev": 400, "test": 400})
    config = folder / "config.yaml"
    # No model named: the default selection, as on a user's own CSV (with smaller hash tables),
    # keeping one model (the tests below export it; a multi-label ensemble is
    # tests/training/test_selection_ensemble.py's).
    config.write_text(
        "name: ge\ntask: multilabel\noutput_dir: runs\nmodel: {buckets: 20000, char_buckets: 20000}\n"
        "data: {source: files, train: train.csv, val: dev.csv, test: test.csv, label_column: labels,"
        " unknown_labels: drop}\n"
        "preprocess: {max_seq_len: 40}\n"
        "train: {epochs: 2, batch_size: 32, device: cpu, class_weights: balanced, ensemble: false}\n",
        encoding="utf-8")
    run = folder / "run"
    assert main(["train", "--config", str(config), "--run-dir", str(run), "--no-progress"]) == 0
    return folder, run


def test_training_writes_multilabel_metrics_and_thresholds(multilabel_run):
    folder, run = multilabel_run
    metrics = json.loads((run / "evaluation" / "test" / "metrics.json").read_text())
    for key in ("f1_micro", "f1_macro", "f1_samples", "hamming_loss", "subset_accuracy", "label_cardinality"):
        assert key in metrics
    assert 0 < metrics["f1_micro"] <= 1 and metrics["f1_micro"] > metrics["baselines"]["majority"]["f1_micro"] * 0.5
    assert (run / "evaluation" / "test" / "per_class_f1.png").stat().st_size > 1000
    assert not (run / "evaluation" / "test" / "confusion_matrix.png").exists()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all("val/f1_micro" in r for r in records)
    results = json.loads((run / "results.json").read_text())
    assert results["monitor"] == "val_f1_micro" and "test_f1_micro" in results
    predictor = Predictor.load(run / "checkpoints" / "best.ckpt")
    assert predictor.task == "multilabel" and len(predictor.thresholds) == len(predictor.classes)
    assert metrics["thresholds"] == pytest.approx(predictor.thresholds.tolist(), abs=1e-6)


def test_predict_output_round_trips_to_the_predictor(multilabel_run, tmp_path):
    folder, run = multilabel_run
    best = run / "checkpoints" / "best.ckpt"
    texts = ["Thank you so much, this made my day!", "I am so angry about this", "what?", ""]
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": texts}).to_csv(source, index=False)
    out = tmp_path / "out.csv"
    assert main(["predict", "--checkpoint", str(best), "--input", str(source), "--output", str(out),
                 "--proba", "--no-progress"]) == 0
    written = pd.read_csv(out, keep_default_na=False)
    predictor = Predictor.load(best)
    assert [cell.split("|") for cell in written["Category"]] == predictor.predict(texts)
    probability_columns = [f"p_{c}" for c in predictor.classes]
    assert list(written.columns) == ["Id", "Category", *probability_columns]
    assert np.allclose(written[probability_columns].to_numpy(), predictor.predict_proba(texts), atol=1e-6)
    # Every document has at least one label, and each label reached its threshold or is the top one.
    probs = predictor.predict_proba(texts)
    for row, labels in zip(probs, predictor.predict(texts)):
        assert labels
        indices = [predictor.classes.index(x) for x in labels]
        assert all(row[i] >= predictor.thresholds[i] for i in indices) or indices == [int(row.argmax())]


def test_evaluate_report_explain_and_sanity_handle_multilabel(multilabel_run, tmp_path, capsys):
    folder, run = multilabel_run
    best = run / "checkpoints" / "best.ckpt"
    assert main(["evaluate", "--checkpoint", str(best), "--split", "val", "--output", str(tmp_path / "ev")]) == 0
    printed = capsys.readouterr().out
    assert "micro-F1" in printed and "subset accuracy" in printed and "per_class_f1.png" in printed
    # An ensemble's thresholds are tuned on validation for its mean probabilities; a default
    # selection's winner was refit on train + val, so its ensemble keeps the members' mean.
    assert main(["evaluate", "--checkpoint", str(best), str(best), "--split", "test",
                 "--output", str(tmp_path / "ens")]) == 0
    assert "decision thresholds are the members' mean" in capsys.readouterr().out
    single = textclf.Predictor.load(best)
    ensemble = json.loads((tmp_path / "ens" / "metrics.json").read_text())
    alone = json.loads((run / "evaluation" / "test" / "metrics.json").read_text())
    assert ensemble["f1_micro"] == pytest.approx(alone["f1_micro"]) and single.allow_empty is False
    assert main(["report", str(run), "--explain", "2"]) == 0
    report = (run / "report.md").read_text()
    assert "micro-F1" in report and "per_class_f1.png" in report and "predicted labels" in (run / "report.html").read_text()
    assert main(["explain", "--checkpoint", str(best), "--text", "thanks a lot, I love it"]) == 0
    assert "predicted labels:" in capsys.readouterr().out
    sanity_dir = tmp_path / "sanity"
    assert main(["sanity", "--config", str(folder / "config.yaml"), "--output", str(sanity_dir),
                 "--steps", "5"]) in (0, 1)
    assert "vs ln(2) = 0.6931" in capsys.readouterr().out
    sanity = json.loads((sanity_dir / "sanity.json").read_text())
    assert sanity["expected_loss"] == pytest.approx(np.log(2))
    assert abs(sanity["initial_loss"] - np.log(2)) < 0.1


def test_ensemble_export_and_server_keep_the_label_sets(multilabel_run, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from textclf.serving import create_app

    folder, run = multilabel_run
    best = run / "checkpoints" / "best.ckpt"
    texts = pd.read_csv(folder / "test.csv")["text"].tolist()[:80]
    single = Predictor.load(best)
    # An ensemble of a model with itself: the mean of equal probabilities is the same model.
    pair = Predictor.load([best, best])
    assert np.allclose(pair.predict_proba(texts), single.predict_proba(texts), atol=1e-5)
    assert pair.predict(texts) == single.predict(texts)
    # The ONNX export carries the thresholds in textclf.json.
    out = tmp_path / "onnx"
    assert main(["export", "--checkpoint", str(best), "--output", str(out)]) == 0
    exported = Predictor.load(out)
    assert exported.runtime == "onnx" and exported.task == "multilabel"
    assert exported.thresholds.tolist() == pytest.approx(single.thresholds.tolist())
    assert exported.predict(texts) == single.predict(texts)
    with TestClient(create_app(exported)) as client:
        assert client.get("/metadata").json()["task"] == "multilabel"
        answer = client.post("/predict", json={"texts": texts[:10], "top_k": 3}).json()["predictions"]
        # The Open Inference Protocol adds the label sets as a BYTES output, joined by "|".
        v2 = client.post("/v2/models/ge/infer", json={
            "inputs": [{"name": "text", "datatype": "BYTES", "shape": [10], "data": texts[:10]}],
            "outputs": [{"name": "labels"}]}).json()
    assert [p["labels"] for p in answer] == single.predict(texts[:10])
    assert [row.split("|") if row else [] for row in v2["outputs"][0]["data"]] == single.predict(texts[:10])
    assert all(len(p["probabilities"]) == 3 for p in answer)


# --------------------------------------------------------------------------- every model, search, multiclass


TINY = "text,label\n" + "".join(
    f"{w} news today {i},{labels}\n"
    for i, (w, labels) in enumerate([("great happy", "joy"), ("sad awful", "sadness"),
                                     ("great sad", "joy|sadness"), ("nothing", "neutral")] * 12))


def _tiny_config(tmp_path: Path, model: str, extra: str = "") -> Path:
    (tmp_path / "tiny.csv").write_text(TINY)
    path = tmp_path / "tiny.yaml"
    path.write_text(f"name: tiny\ntask: multilabel\noutput_dir: {tmp_path / 'runs'}\n"
                    f"data: {{source: files, train: tiny.csv, test_size: 0.25, val_size: 0.25, cache_dir: {tmp_path / 'c'}}}\n"
                    f"preprocess: {{min_freq: 1}}\nmodel: {{name: {model}}}\n"
                    f"train: {{epochs: 1, batch_size: 8, device: cpu}}\n{extra}", encoding="utf-8")
    return path


@pytest.mark.parametrize("model", ["bag_of_ngrams", "bigru_attention", "linear", "lstm", "textcnn", "transformer"])
def test_every_registered_model_trains_multilabel(model, tmp_path):
    from textclf.models.registry import list_models

    assert sorted(list_models()) == ["bag_of_ngrams", "bigru_attention", "linear", "lstm", "textcnn", "transformer"]
    if model == "transformer":  # the real all-MiniLM-L6-v2, frozen
        model = f"transformer, pretrained: {minilm_path()}, freeze: true"
    run = tmp_path / "run"
    assert main(["train", "--config", str(_tiny_config(tmp_path, model)), "--run-dir", str(run), "--no-progress"]) == 0
    predictor = Predictor.load(run / "checkpoints" / "best.ckpt")
    assert predictor.task == "multilabel" and predictor.classes == ["joy", "neutral", "sadness"]
    assert all(isinstance(labels, list) and labels for labels in predictor.predict(["great happy news", "x"]))


@pytest.mark.slow  # (-m slow; .ci/run runs it after the default run)
def test_a_search_monitors_micro_f1_by_default(tmp_path):
    search = ("search:\n  method: grid\n  epochs: 1\n  space:\n    train.lr: [0.01, 0.02]\n")
    path = _tiny_config(tmp_path, "bag_of_ngrams", search)
    out = tmp_path / "search"
    assert main(["search", "--config", str(path), "--output", str(out)]) == 0
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(0 <= float(r["val_f1_micro"]) <= 1 for r in rows)


def test_a_single_label_run_records_what_it_always_did(trained_run):
    """The multiclass outputs keep their keys: no multilabel metric or threshold creeps in."""
    record = json.loads((trained_run / "metrics.jsonl").read_text().splitlines()[0])
    assert set(record) == {"epoch", "step", "train/loss", "train/accuracy", "val/loss", "val/accuracy",
                           "val/f1_macro", "lr", "epoch_seconds", "eval_seconds"}
    results = json.loads((trained_run / "results.json").read_text())
    assert {k for k in results if k.startswith("test_")} == {"test_accuracy", "test_f1_macro", "test_loss",
                                                              "test_loss_uncalibrated"}
    metrics = json.loads((trained_run / "evaluation" / "test" / "metrics.json").read_text())
    assert "accuracy" in metrics and "confusion_matrix" in metrics and "f1_micro" not in metrics
    predictor = Predictor.load(trained_run / "checkpoints" / "best.ckpt")
    assert predictor.task == "multiclass" and predictor.thresholds is None
    assert isinstance(predictor.predict(["the rangers won"])[0], str)
    assert (trained_run / "evaluation" / "test" / "confusion_matrix.png").is_file()


def test_the_tasks_probabilities_are_torchs_without_torch():
    """Both tasks' probabilities are numpy (an export's Predictor imports no torch): torch's
    softmax and sigmoid to a float32 rounding, for logits far from 0 too, and ensemble scores
    turn back into the same probabilities."""
    import torch

    logits = np.random.default_rng(0).normal(0, 30, (500, 7)).astype(np.float32)
    for name, reference in (("multiclass", lambda t: torch.softmax(t, 1)), ("multilabel", torch.sigmoid)):
        task = get_task(name)
        probs = task.probabilities(logits)
        expected = reference(torch.from_numpy(logits)).numpy()
        assert probs.dtype == np.float32
        normal = expected > 1e-30  # (torch flushes the smallest values to 0)
        np.testing.assert_allclose(probs[normal], expected[normal], rtol=1e-6, atol=0)
        assert np.all(probs[~normal] < 1e-30)
        back = task.probabilities(task.scores(probs.astype(np.float64)))
        np.testing.assert_allclose(back, probs, rtol=1e-5, atol=1e-7)
