"""Sample weights (data.weight_column): read from the table, carried through the cache and the
batches, and used by the loss of both tasks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from textclf.cli import main
from textclf.config import config_from_dict
from textclf.data import load_corpus
from textclf.errors import DataError
from textclf.task import get_task
from textclf.text.prepare import prepare_data


def test_unit_weights_give_exactly_the_plain_criterion():
    torch.manual_seed(0)
    logits = torch.randn(6, 3)
    ones = torch.ones(6)
    multiclass, multilabel = get_task("multiclass"), get_task("multilabel")
    labels = torch.tensor([0, 1, 2, 2, 1, 0])
    class_weights = torch.tensor([1.0, 2.0, 5.0])
    for weights in (None, class_weights):
        for smoothing in (0.0, 0.1):
            expected = multiclass.criterion(weights, smoothing)(logits, labels)
            assert torch.allclose(multiclass.weighted_loss(logits, labels, ones, weights, smoothing), expected)
    sets = torch.tensor([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 0, 0], [0, 1, 0], [1, 1, 1]], dtype=torch.uint8)
    for weights in (None, class_weights):
        expected = multilabel.criterion(weights)(logits, sets)
        assert torch.allclose(multilabel.weighted_loss(logits, sets, ones, weights), expected)


def test_a_zero_weight_leaves_a_document_out_and_weights_scale_it():
    logits = torch.randn(3, 4)
    labels = torch.tensor([1, 3, 0])
    task = get_task("multiclass")
    only_first_two = task.criterion(None)(logits[:2], labels[:2])
    assert torch.allclose(task.weighted_loss(logits, labels, torch.tensor([1.0, 1.0, 0.0]), None), only_first_two)
    doubled = task.criterion(None)(logits[[0, 0, 1]], labels[[0, 0, 1]])
    assert torch.allclose(task.weighted_loss(logits, labels, torch.tensor([2.0, 1.0, 0.0]), None), doubled)


def _table(tmp_path, weights: list[str], multilabel: bool = False):
    labels = ["a|b", "b"] if multilabel else ["a", "b"]
    rows = [f"message {i} {'good' if i % 2 else 'bad'},{labels[i % 2]},{w}" for i, w in enumerate(weights)]
    path = tmp_path / "t.csv"
    path.write_text("text,label,w\n" + "\n".join(rows) + "\n")
    return path


def _config(tmp_path, path, multilabel: bool = False, **train):
    raw = {"name": "w", "output_dir": str(tmp_path / "runs"), "task": "multilabel" if multilabel else "multiclass",
           "data": {"source": "files", "train": str(path), "weight_column": "w", "cache_dir": str(tmp_path / "c")},
           "model": {"name": "bag_of_ngrams", "embedding_dim": 8, "buckets": 1000},
           "train": {"epochs": 2, "batch_size": 8, "device": "cpu", **train}}
    return config_from_dict(raw)


def test_weights_travel_through_splits_and_the_cache(tmp_path):
    weights = [str(1 + i % 3) for i in range(60)]
    config = _config(tmp_path, _table(tmp_path, weights))
    corpus = load_corpus(config)
    every = np.concatenate([corpus[s].weights for s in ("train", "val", "test")])
    assert sorted(every.tolist()) == sorted(float(w) for w in weights)
    first = prepare_data(config)
    cached = prepare_data(config)
    assert cached.from_cache and np.array_equal(cached.splits["train"].weights, first.splits["train"].weights)
    assert np.array_equal(first.splits["train"].weights, corpus["train"].weights)


@pytest.mark.parametrize("bad, message", [("-1", "rows 3 have no non-negative number"),
                                          ("heavy", "rows 3 have no non-negative number"),
                                          ("", "rows 3 have no non-negative number")])
def test_bad_weights_name_the_rows(tmp_path, bad, message):
    weights = ["1"] * 40
    weights[2] = bad
    with pytest.raises(DataError, match=message):
        load_corpus(_config(tmp_path, _table(tmp_path, weights)))


@pytest.mark.parametrize("multilabel", [False, True])
def test_training_with_a_weight_column(tmp_path, multilabel):
    path = _table(tmp_path, [str(i % 4) for i in range(80)], multilabel)
    config_path = tmp_path / "c.yaml"
    config_path.write_text(json.dumps(_config(tmp_path, path, multilabel).model_dump(mode="json")))
    run = tmp_path / "run"
    assert main(["train", "--config", str(config_path), "--run-dir", str(run), "--no-progress"]) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(np.isfinite(r["train/loss"]) for r in records)


def test_label_smoothing_moves_the_target_towards_uniform():
    logits = torch.tensor([[4.0, 0.0, 0.0]])
    labels = torch.tensor([0])
    task = get_task("multiclass")
    plain, smoothed = task.criterion(None)(logits, labels), task.criterion(None, 0.3)(logits, labels)
    log_p = torch.log_softmax(logits, 1)[0]
    # The target is 0.8 on the true class and 0.1 on each other one.
    assert torch.allclose(smoothed, -(0.8 * log_p[0] + 0.1 * log_p[1] + 0.1 * log_p[2]))
    assert smoothed > plain


def test_members_logits_give_the_mean_of_their_losses_with_or_without_weights():
    torch.manual_seed(0)
    members = torch.randn(5, 3, 4)  # (batch, members, classes)
    labels = torch.tensor([0, 3, 1, 1, 2])
    sets = (torch.rand(5, 4) > 0.5).to(torch.uint8)
    weights = torch.tensor([1.0, 0.5, 2.0, 0.0, 1.0])
    class_weights = torch.tensor([1.0, 2.0, 1.0, 3.0])
    for task, target in ((get_task("multiclass"), labels), (get_task("multilabel"), sets)):
        for cw in (None, class_weights):
            each = [task.criterion(cw)(members[:, k], target) for k in range(3)]
            torch.testing.assert_close(task.criterion(cw)(members, target), sum(each) / 3)
            weighted = [task.weighted_loss(members[:, k], target, weights, cw) for k in range(3)]
            torch.testing.assert_close(task.weighted_loss(members, target, weights, cw), sum(weighted) / 3)
    # One answer from the members: their mean probabilities.
    mean = torch.softmax(members, -1).mean(1)
    torch.testing.assert_close(torch.softmax(get_task("multiclass").combine(members), 1), mean)
    torch.testing.assert_close(torch.sigmoid(get_task("multilabel").combine(members)), torch.sigmoid(members).mean(1))


def test_a_single_label_source_keeps_its_weights_when_the_task_is_multilabel(monkeypatch):
    """A source that knows one label per document gets one-hot rows for a multilabel task; its
    sample weights must travel with them."""
    import textclf.data.sources as sources
    from textclf.data.examples import Corpus, Examples
    from textclf.data.sources import DataSource, SourceParams

    weights = np.array([1.0, 0.0, 2.5], dtype=np.float32)

    def load(config, seed, task):
        split = Examples(["a b", "c d", "e f"], np.array([0, 1, 0]), weights)
        return Corpus(["x", "y"], {"train": split, "val": split.subset([0, 1]), "test": split.subset([2])})

    monkeypatch.setattr(sources, "get_source", lambda name: DataSource(name, SourceParams, load, lambda c, s: "fp"))
    corpus = load_corpus(config_from_dict({"task": "multilabel", "data": {"source": "files", "train": "x.csv"}}))
    assert corpus["train"].labels.tolist() == [[1, 0], [0, 1], [1, 0]]
    assert corpus["train"].weights.tolist() == [1.0, 0.0, 2.5] and corpus["test"].weights.tolist() == [2.5]
