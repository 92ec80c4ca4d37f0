"""The hf source: a Hugging Face data set saved to disk trains exactly as the same rows in CSV."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import shared_data
from textclf.cli import main
from textclf.config import config_from_dict
from textclf.data import load_corpus
from textclf.errors import DataError
from textclf.inference import Predictor

datasets = pytest.importorskip("datasets")

TRAIN = """name: {name}
output_dir: {runs}
data:
{data}
  cache_dir: {cache}
preprocess: {{min_freq: 1, max_seq_len: 60}}
model: {{name: bag_of_ngrams, embedding_dim: 16, buckets: 5000, tfidf: true}}
train: {{epochs: 2, batch_size: 32, device: cpu, lr: 0.01}}
"""


@pytest.fixture(scope="module")
def sms(tmp_path_factory):
    """The first 900 SMS messages as train/val/test CSV files, and the same rows as a DatasetDict
    saved to disk with the label as a ClassLabel (ids on disk, names when read)."""
    folder = tmp_path_factory.mktemp("sms")
    frame = pd.read_csv(shared_data("sms_spam.csv"), keep_default_na=False).iloc[:900]
    parts = {"train": frame.iloc[:600], "validation": frame.iloc[600:750], "test": frame.iloc[750:]}
    for name, part in parts.items():
        part.to_csv(folder / f"{name}.csv", index=False)
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["ham", "spam"])})
    dataset = datasets.DatasetDict({
        name: datasets.Dataset.from_pandas(
            part.assign(label=part["label"].map({"ham": 0, "spam": 1})).reset_index(drop=True), features=features)
        for name, part in parts.items()
    })
    dataset.save_to_disk(str(folder / "sms_hf"))
    return folder


def _train(folder, name, data: str):
    config = folder / f"{name}.yaml"
    config.write_text(TRAIN.format(name=name, runs=folder / "runs", data=data, cache=folder / f"cache-{name}"))
    run = folder / f"run-{name}"
    assert main(["train", "--config", str(config), "--run-dir", str(run), "--no-progress"]) == 0
    return run


def test_a_saved_data_set_trains_exactly_as_its_csv_files(sms):
    from_csv = _train(sms, "csv", f"  source: files\n  train: {sms / 'train.csv'}\n  val: {sms / 'validation.csv'}\n"
                                  f"  test: {sms / 'test.csv'}")
    from_hf = _train(sms, "hf", f"  source: hf\n  path: {sms / 'sms_hf'}\n  train: train\n  val: validation\n"
                                "  test: test")
    csv_metrics = json.loads((from_csv / "evaluation" / "test" / "metrics.json").read_text())
    hf_metrics = json.loads((from_hf / "evaluation" / "test" / "metrics.json").read_text())
    assert hf_metrics["accuracy"] == csv_metrics["accuracy"] and hf_metrics["loss"] == csv_metrics["loss"]
    texts = ["WINNER!! claim your free prize now", "see you at lunch?"]
    a = Predictor.load(from_csv / "checkpoints" / "best.ckpt")
    b = Predictor.load(from_hf / "checkpoints" / "best.ckpt")
    assert b.classes == ["ham", "spam"]  # names, not the ClassLabel ids
    np.testing.assert_array_equal(a.predict_proba(texts), b.predict_proba(texts))


def test_missing_splits_are_carved_and_unknown_names_are_errors(sms):
    raw = {"data": {"source": "hf", "path": str(sms / "sms_hf"), "test_size": 0.2, "val_size": 0.2}}
    corpus = load_corpus(config_from_dict(raw))  # only "train" is used: val and test are carved from it
    assert [len(corpus[s]) for s in ("train", "val", "test")] == [360, 120, 120]
    raw["data"]["test"] = "dev"
    with pytest.raises(DataError, match="no split 'dev' \\(data.test\\); its splits: train, validation, test"):
        load_corpus(config_from_dict(raw))
    raw = {"data": {"source": "hf", "path": str(sms / "missing")}}
    with pytest.raises(DataError, match="missing: no such folder"):
        load_corpus(config_from_dict(raw))


def test_a_multilabel_sequence_of_class_labels(tmp_path):
    names = ["anger", "joy", "love"]
    features = datasets.Features({"text": datasets.Value("string"),
                                  "labels": datasets.Sequence(datasets.ClassLabel(names=names))})
    rows = {"text": [f"text {i}" for i in range(40)], "labels": [[0, 2], [1], [], [2]] * 10}
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(tmp_path / "ml"))
    raw = {"task": "multilabel", "data": {"source": "hf", "path": str(tmp_path / "ml"), "label_column": "labels"}}
    corpus = load_corpus(config_from_dict(raw))
    assert corpus.label_names == names
    every = np.concatenate([corpus[s].labels for s in ("train", "val", "test")])
    assert every.sum(axis=0).tolist() == [10, 10, 20]
