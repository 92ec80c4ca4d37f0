"""Cross-validated choice: on a small validation split the default candidates are compared on
out-of-fold predictions over train + val (training/cross_validation.py)."""

import csv
import re

import numpy as np
import pandas as pd
import pytest

import textclf
from conftest import sms_selection_config
from textclf.artifact import ModelArtifact
from textclf.config import CANDIDATES, NB_MIN_DOCUMENTS, config_from_dict
from textclf.errors import ConfigError
from textclf.text.encoding import EncodedSplit, subset
from textclf.text.prepare import prepare_data
from textclf.training.cross_validation import best_epoch, fold_plan, out_of_fold_logits, pooled
from textclf.training.recipe import train


def test_the_folds_are_stratified_and_hold_out_every_document_once():
    labels = np.array([0] * 10 + [1] * 20 + [2] * 5)
    plan = fold_plan(labels, 5, seed=0)
    assert len(plan) == 5 and sorted(np.concatenate(plan).tolist()) == list(range(len(labels)))
    assert all(np.bincount(labels[held], minlength=3).tolist() == [2, 4, 1] for held in plan)
    assert [held.tolist() for held in fold_plan(labels, 5, seed=0)] == [held.tolist() for held in plan]
    # As many folds as the smallest class has documents, at most; none when one has a single one.
    assert len(fold_plan(np.array([0] * 3 + [1] * 9), 5, seed=0)) == 3
    assert fold_plan(np.array([0] * 9 + [1]), 5, seed=0) is None


def test_multilabel_folds_spread_each_rare_class_and_hold_out_every_document_once():
    rng = np.random.default_rng(0)
    labels = np.zeros((60, 4), dtype=np.float32)
    labels[:, 0] = 1  # a class on every document
    labels[rng.choice(60, 5, replace=False), 1] = 1  # a rare one: one document in each fold
    labels[7, 2] = 1  # a class of one document: predicted by models that never saw it
    labels[50:, 0] = 0  # ten documents with no class
    plan = fold_plan(labels, 5, seed=0)
    assert len(plan) == 5 and sorted(np.concatenate(plan).tolist()) == list(range(60))
    assert [int(labels[held, 1].sum()) for held in plan] == [1] * 5
    assert sorted(int((labels[held].sum(1) == 0).sum()) for held in plan) == [2] * 5
    assert [held.tolist() for held in fold_plan(labels, 5, seed=0)] == [held.tolist() for held in plan]
    # Fewer folds only when there are fewer documents; a plan needs two at least.
    assert len(fold_plan(labels[:3], 5, seed=0)) == 3 and fold_plan(labels[:1], 5, seed=0) is None
    # Every document in a class of its own: no class fills the folds, plain shuffled folds.
    assert sorted(len(held) for held in fold_plan(np.eye(6, dtype=np.float32), 3, seed=0)) == [2, 2, 2]


def test_subset_keeps_each_documents_ids_label_and_counts_in_the_order_asked():
    split = EncodedSplit(ids=np.arange(10, dtype=np.int32), offsets=np.array([0, 3, 3, 7, 10]),
                         labels=np.array([0, 1, 0, 1]), full_lengths=np.array([3, 0, 4, 5]),
                         unk_counts=np.array([0, 0, 1, 2]), weights=np.array([1, 2, 3, 4], dtype=np.float32))
    part = subset(split, [3, 1, 0])
    assert [part.document(i).tolist() for i in range(3)] == [[7, 8, 9], [], [0, 1, 2]]
    assert part.labels.tolist() == [1, 1, 0] and part.full_lengths.tolist() == [5, 0, 3]
    assert part.unk_counts.tolist() == [2, 0, 0] and part.weights.tolist() == [4, 2, 1]


def test_each_document_is_predicted_by_models_that_did_not_train_on_it(tmp_path, monkeypatch):
    # Every document has a word of its own; half also have a word of their class. A model that
    # had trained on a document gets it right by its own word; one that had not can only go by
    # the class word, so the others are a coin's toss.
    rng = np.random.default_rng(0)
    labels = rng.permutation(["pos", "neg"] * 40)
    texts = [f"own{i}" + (f" {'good' if label == 'pos' else 'bad'}" * (i % 2 == 0)) for i, label in enumerate(labels)]
    pd.DataFrame({"text": texts, "label": labels}).to_csv(tmp_path / "train.csv", index=False)
    config = config_from_dict({
        "name": "oof", "output_dir": str(tmp_path / "runs"),
        "data": {"source": "files", "train": str(tmp_path / "train.csv"), "val_size": 0.25,
                 "cache_dir": str(tmp_path / "cache")},
        "preprocess": {"min_freq": 1}, "model": {"name": "linear", "solver": "svm", "C": 10.0, "buckets": 1000},
        "train": {"device": "cpu"}})
    run = textclf.train(config, run_dir=tmp_path / "run")
    prepared = prepare_data(config)
    plan = fold_plan(pooled(prepared).labels, 5, seed=0)
    saved = []  # (the fold runs write no checkpoint: train(checkpoints=False))
    monkeypatch.setattr(ModelArtifact, "save", lambda self, path, *args: saved.append(path))
    logits = out_of_fold_logits(config, prepared, run.best_checkpoint, 1, train, tmp_path / "folds", plan)[0]
    pool = pooled(prepared)
    own_word_only = np.array(["good" not in t and "bad" not in t for t in _texts(prepared, pool)])
    right = logits.argmax(1) == pool.labels
    assert right[~own_word_only].mean() == 1.0
    assert right[own_word_only].mean() <= 0.7  # (trained on them, it gets every one: the model fits C=10)
    assert sorted(p.name for p in (tmp_path / "folds").iterdir()) == ["1", "2", "3", "4", "5"]
    for k in "12345":
        assert (tmp_path / "folds" / k / "metrics.jsonl").is_file() and (tmp_path / "folds" / k / "train.log").is_file()
        assert not (tmp_path / "folds" / k / "checkpoints").exists()
    assert saved == []


def test_a_fold_run_that_fails_fails_its_candidate_and_not_the_selection(tmp_path):
    """Side by side each fold run is a call of its own (``select._fold``): a training error comes
    back as a value, and the candidate's outcome says it failed in its cross-validation; the
    other fold runs' logits are those of the held-out documents, one row each, at every epoch."""
    import textclf.training.select as select
    from textclf.errors import TrainingError
    from textclf.training.cross_validation import fold_config

    pd.DataFrame({"text": [f"w{i % 7} good" if i % 2 else f"w{i % 5} bad" for i in range(40)],
                  "label": ["pos" if i % 2 else "neg" for i in range(40)]}).to_csv(tmp_path / "train.csv", index=False)
    config = config_from_dict({
        "name": "oof", "output_dir": str(tmp_path / "runs"),
        "data": {"source": "files", "train": str(tmp_path / "train.csv"), "val_size": 0.25,
                 "cache_dir": str(tmp_path / "cache")},
        "model": {"name": "linear", "solver": "svm", "buckets": 1000}, "train": {"device": "cpu"}})
    run = textclf.train(config, run_dir=tmp_path / "run")
    prepared = prepare_data(config)
    plan = fold_plan(pooled(prepared).labels, 4, seed=0)

    def diverges(config, **kwargs):
        raise TrainingError("the loss is nan at epoch 1")

    failed = select._fold("linear", config, prepared, plan[0], 1, diverges, tmp_path / "1")
    fine = select._fold("linear", fold_config(config, run.best_checkpoint), prepared, plan[1], 1, train, tmp_path / "2")
    assert isinstance(failed[0], TrainingError) and fine[0].shape == (1, len(plan[1]), 2)
    assert (fine[0].argmax(2)[0] == pooled(prepared).labels[plan[1]]).all()
    fields, result = select._with_folds(None, {"status": "trained", "seconds": 1.0}, run, [fine, failed])
    assert result is None and fields["status"] == "failed in its cross-validation: the loss is nan at epoch 1"
    assert fields["seconds"] == pytest.approx(1.0 + fine[1] + failed[1])


def _texts(prepared, split) -> list[str]:
    vocab = prepared.vocab
    return [" ".join(vocab.itos_[i] for i in split.document(d)) for d in range(len(split))]


@pytest.mark.parametrize("folds", [None, 3])
def test_a_selection_on_a_small_validation_split_compares_the_candidates_out_of_fold(tmp_path, capsys, folds):
    sms = sms_selection_config(tmp_path, per_class=60, buckets=2000, ensemble=False,
                               **({} if folds is None else {"cv_folds": folds}))
    sms["model"]["candidates"] = ["linear", "linear_chars"]
    run = textclf.train(sms, run_dir=tmp_path / "run")
    err = capsys.readouterr().err
    count = 5 if folds is None else folds  # (auto: 5 on a validation split of 12 messages)
    assert (f"rather than on 12 validation examples alone, the candidates are compared on {count}-fold "
            "cross-validation of train + val (108 examples; train.cv_folds)") in err
    assert f"best first (scores: {count}-fold cross-validation of train + val)" in err
    with open(run.layout.leaderboard, newline="") as f:
        rows = list(csv.DictReader(f))
    assert all(f"; {count}-fold cross-validated; val alone: " in r["status"] for r in rows)
    from textclf.reporting.report import build_report

    markdown, _ = build_report(run.dir, explain_examples=0)
    assert f"the scores below are {count}-fold cross-validation's" in markdown.read_text()
    loser = rows[1]["candidate"]
    assert len(list((run.dir / "folds").iterdir())) == len(list((run.layout.candidates / loser / "folds").iterdir())) == count


def test_a_cross_validated_winner_keeps_the_temperature_fitted_out_of_fold(tmp_path, monkeypatch):
    # 12 validation messages, all right: fitted on them alone the temperature is the search's
    # bound (kept as 1); the winner keeps the one fitted on its out-of-fold logits of all 120.
    import textclf.training.select as select

    fitted = {}
    cross_validated = select._cross_validated

    def spy(job, *args):
        fields, result = cross_validated(job, *args)
        fitted[job.name] = fields["_temperature"]
        return fields, result

    monkeypatch.setattr(select, "_cross_validated", spy)
    sms = sms_selection_config(tmp_path, per_class=60, buckets=2000, ensemble=False, cv_folds=3)
    sms["model"]["candidates"] = ["linear", "linear_chars"]
    run = textclf.train(sms, run_dir=tmp_path / "run")
    with open(run.layout.leaderboard, newline="") as f:
        winner = next(csv.DictReader(f))["candidate"]
    assert run.results["val_accuracy"] == 1.0 and fitted[winner] < 0.5
    assert run.results["temperature"] == pytest.approx(fitted[winner])
    assert ModelArtifact.load(run.layout.best_checkpoint).temperature == pytest.approx(fitted[winner])


def test_cv_folds_null_chooses_on_val_alone_and_a_wrong_value_says_so(tmp_path, capsys):
    sms = sms_selection_config(tmp_path, per_class=60, buckets=2000, ensemble=False, cv_folds=None)
    sms["model"]["candidates"] = ["linear", "linear_chars"]
    run = textclf.train(sms, run_dir=tmp_path / "run")
    assert "the validation split holds only 12 examples, so each one is 8.3 points" in capsys.readouterr().err
    with open(run.layout.leaderboard, newline="") as f:
        rows = list(csv.DictReader(f))
    assert all(r["status"] == "trained" for r in rows)
    # (macro-F1 on val alone: the best epoch's, as its metrics.jsonl has it)
    import json

    records = [json.loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    best = records[int(rows[0]["best_epoch"]) - 1]
    assert float(rows[0]["val_f1_macro"]) == pytest.approx(best["val/f1_macro"], abs=1e-5)
    assert not (run.dir / "folds").exists()
    for wrong in (1, True, "5", 2.5):
        with pytest.raises(ConfigError, match="cv_folds is a whole number of folds of at least 2"):
            config_from_dict({**sms, "train": {**sms["train"], "cv_folds": wrong}})


def test_auto_cross_validates_a_multiclass_validation_split_below_its_size_when_there_is_a_choice(tmp_path):
    from textclf.config import AUTO_MAX_TOKENS
    from textclf.text.prepare import PreparedData
    from textclf.training.cross_validation import FEWER_FOLDS_FROM
    from textclf.training.select import CV_BELOW, _cv_plan, candidate_config

    def prepared(val: int, train_tokens: int = 400, train_documents: int = 400) -> PreparedData:
        def split(n: int, tokens: int) -> EncodedSplit:
            return EncodedSplit(ids=np.zeros(tokens, np.int32), offsets=np.linspace(0, tokens, n + 1).astype(np.int64),
                                labels=np.arange(n) % 2, full_lengths=np.ones(n, np.int64),
                                unk_counts=np.zeros(n, np.int64))
        return PreparedData(["a", "b"], None, {"train": split(train_documents, train_tokens), "val": split(val, val)})

    sms = sms_selection_config(tmp_path, per_class=1, buckets=100)
    def config(**train):  # (the first candidate's, as the selection passes it)
        return candidate_config(config_from_dict({**sms, "train": {**sms["train"], **train}}), CANDIDATES[0])

    assert len(_cv_plan(config(), prepared(99))) == 5 and len(_cv_plan(config(), prepared(FEWER_FOLDS_FROM - 1))) == 5
    # From FEWER_FOLDS_FROM validation examples, 3 folds (a number asks for its own anywhere).
    assert len(_cv_plan(config(), prepared(FEWER_FOLDS_FROM))) == 3 == len(_cv_plan(config(), prepared(CV_BELOW - 1)))
    assert len(_cv_plan(config(cv_folds=5), prepared(CV_BELOW - 1))) == 5
    assert _cv_plan(config(), prepared(CV_BELOW)) is None
    assert len(_cv_plan(config(cv_folds=3), prepared(CV_BELOW * 2))) == 3
    # A budget in seconds does not count the fold runs: val alone, unless folds are asked for.
    assert _cv_plan(config(budget=60), prepared(20)) is None and len(_cv_plan(config(budget=60, cv_folds=5),
                                                                             prepared(20))) == 5
    assert _cv_plan(config(budget="auto"), prepared(20)) is not None
    # Multi-label too (its labels an indicator matrix: folds by each document's rarest class).
    multilabel = prepared(20)
    multilabel.splits = {k: subset(v, np.arange(len(v))) for k, v in multilabel.splits.items()}
    for split in multilabel.splits.values():
        split.labels = np.eye(2, dtype=np.float32)[split.labels]
    assert len(_cv_plan(candidate_config(config_from_dict({**sms, "task": "multilabel"}), CANDIDATES[0]),
                        multilabel)) == 5
    # A training split above the others' size trains the two linear models of words alone under
    # budget auto (linear_nb from NB_MIN_DOCUMENTS documents): still a choice. With fewer documents,
    # or without linear_nb, it trains the first alone (budget null: them all), as does a list of
    # one: nothing to choose between.
    large = prepared(20, train_tokens=AUTO_MAX_TOKENS + 4000, train_documents=NB_MIN_DOCUMENTS)
    assert _cv_plan(config(), large) is not None
    fewer = prepared(20, train_tokens=AUTO_MAX_TOKENS + 4000, train_documents=NB_MIN_DOCUMENTS - 1)
    assert _cv_plan(config(), fewer) is None
    but_nb = [c for c in CANDIDATES if c.name != "linear_nb"]
    assert _cv_plan(config(), large, but_nb) is None and _cv_plan(config(budget=None), large, but_nb) is not None
    linear_chars = next(c for c in CANDIDATES if c.name == "linear_chars")
    assert _cv_plan(config(), prepared(20), CANDIDATES[:1]) is None and _cv_plan(config(), prepared(20),
                                                                                 [CANDIDATES[0], linear_chars])


def test_the_epoch_count_is_the_one_that_scores_best_out_of_fold_ties_to_the_lower_loss():
    labels = np.array([0, 1, 1, 0])
    accuracy = lambda logits, truth: float((logits.argmax(1) == truth).mean())  # noqa: E731
    unsure = np.array([[0.1, 0.0], [0.0, 0.1], [0.0, 0.1], [0.1, 0.0]])  # all right, barely
    wrong = unsure[::-1].copy()
    assert best_epoch(np.stack([wrong, unsure, unsure * 20, wrong]), labels, accuracy) == 3
    assert best_epoch(np.stack([unsure, wrong]), labels, accuracy) == 1


def test_a_candidate_trained_by_epochs_is_refit_for_the_epochs_that_scored_best_out_of_fold(tmp_path, capsys):
    sms = sms_selection_config(tmp_path, per_class=60, buckets=2000, epochs=4, early_stopping_patience=None,
                               cv_folds=5)  # (auto would not: one candidate has nothing to be chosen against)
    sms["model"]["candidates"] = ["bag"]
    run = textclf.train(sms, run_dir=tmp_path / "run")
    with open(run.layout.leaderboard, newline="") as f:
        (row,) = list(csv.DictReader(f))
    chosen = int(re.search(r"5-fold cross-validated at (\d) epochs?; val alone: [0-9.]+ at epoch \d$",
                           row["status"]).group(1))
    assert run.results["refit"]["epochs"] == chosen
    assert f"for {chosen} epoch{'s' * (chosen != 1)}, the 5-fold cross-validation's best" in capsys.readouterr().err
    for fold in (run.dir / "folds").iterdir():  # (each fold ran every epoch its candidate's run did)
        assert len((fold / "metrics.jsonl").read_text().splitlines()) == 4


def test_a_cross_validated_multilabel_winner_decides_at_the_thresholds_tuned_out_of_fold(tmp_path, monkeypatch, capsys):
    # 60 validation comments: the candidates are compared, and the winner's threshold tuned, on
    # out-of-fold probabilities of all 300; the refit keeps that threshold.
    import textclf.training.select as select
    from conftest import goemotions_slices

    tuned, macro = {}, {}
    cross_validated = select._cross_validated

    def spy(job, *args):
        from sklearn.metrics import f1_score

        from textclf.task import get_task

        fields, result = cross_validated(job, *args)
        tuned[job.name] = fields["_thresholds"]
        chosen = get_task("multilabel").decide(fields["_probabilities"], fields["_thresholds"], False)
        macro[job.name] = f1_score(pooled(job.prepared).labels.astype(bool), chosen, average="macro", zero_division=0)
        return fields, result

    monkeypatch.setattr(select, "_cross_validated", spy)
    goemotions_slices(tmp_path, {"train": 240, "dev": 60, "test": 60})
    config = {"name": "ml", "task": "multilabel", "output_dir": str(tmp_path / "runs"),
              "model": {"candidates": ["linear", "linear_chars"], "buckets": 2000, "char_buckets": 2000},
              "data": {"source": "files", "train": str(tmp_path / "train.csv"), "val": str(tmp_path / "dev.csv"),
                       "test": str(tmp_path / "test.csv"), "label_column": "labels", "unknown_labels": "drop",
                       "cache_dir": str(tmp_path / "cache")},
              "train": {"device": "cpu", "num_threads": 1, "ensemble": False}}
    run = textclf.train(config, run_dir=tmp_path / "run")
    err = capsys.readouterr().err
    assert "compared on 5-fold cross-validation of train + val (300 examples" in err
    assert "val metrics stay the held-out run's, the thresholds the cross-validation's" in err
    with open(run.layout.leaderboard, newline="") as f:
        rows = list(csv.DictReader(f))
    assert all("; 5-fold cross-validated; val alone: " in r["status"] for r in rows)
    # Macro-F1 beside the monitored micro-F1, out of fold too, in the file and the printed table.
    assert {r["candidate"]: float(r["val_f1_macro"]) for r in rows} == pytest.approx(macro, abs=1e-5)
    assert "val loss macro-F1 epochs" in err
    winner = rows[0]["candidate"]
    assert set(tuned) == {"linear", "linear_chars"}
    stored = ModelArtifact.load(run.layout.best_checkpoint).thresholds
    assert stored == pytest.approx(tuned[winner].tolist())
    assert len(set(stored)) == 1 and run.results["refit"]["epochs"] == 1  # (tune_global: one threshold)
    from textclf.reporting.report import build_report

    markdown = build_report(run.dir, explain_examples=0)[0].read_text()
    assert "once 5-fold cross-validation had chosen its epochs" in markdown
    assert "The validation results are the held-out model's, the thresholds the cross-validation's" in markdown
    assert "(multi-label: the decision thresholds) fitted on those out-of-fold predictions" in markdown
