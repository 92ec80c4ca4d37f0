"""The default selection: a config with no model section trains every candidate on the same split
and keeps the best on validation as an ordinary run."""

import csv
import re

import pytest

import textclf
from conftest import sms_selection_config
from textclf.config import config_from_dict, load_config
from textclf.config import CANDIDATES, SELECTION_TRAIN
from textclf.training.select import LEADERBOARD_COLUMNS, candidate_config


# The candidates a selection on the fixture's 300 messages trains (linear_nb needs more documents).
TRIED_ON_300 = [c for c in CANDIDATES if c.min_documents is None]


@pytest.fixture
def sms(tmp_path):
    return sms_selection_config(tmp_path, per_class=150, buckets=5000)


def test_candidates_take_their_settings_except_where_the_config_sets_its_own(sms):
    config = config_from_dict({**sms, "model": {"buckets": 777, "dropout": 0.1},
                               "train": {"lr": 0.5}, "preprocess": {"tokenizer": "whitespace"}})
    assert config.model.auto
    by_name = {c.name: candidate_config(config, c) for c in CANDIDATES}
    assert {c.model.name for c in by_name.values()} == {"linear", "bag_of_ngrams"}
    for cand in by_name.values():
        assert not cand.model.auto and cand.model.params()["buckets"] == 777  # the config's own
        assert cand.train.lr == 0.5 and cand.preprocess.tokenizer == "whitespace"
        assert cand.train.epochs == SELECTION_TRAIN["epochs"] and cand.train.early_stopping_patience
        assert cand.train.min_steps is None
    assert by_name["bag"].model.params()["dropout"] == 0.1
    assert "dropout" not in by_name["linear"].model.params()  # the linear model has no such key
    # Without the config's own keys, each candidate's.
    plain = config_from_dict({**sms, "model": {}, "train": {}})
    chars = candidate_config(plain, next(c for c in CANDIDATES if c.name == "bag_chars"))
    assert chars.preprocess.tokenizer == "wordpunct" and chars.train.label_smoothing == 0.1
    assert chars.model.params()["minn"] == 2 and chars.train.lr != 0.5
    # On a multiclass task linear_chars keeps words seen once in training; the others, a
    # multilabel task and a config that sets min_freq itself keep the config's.
    linear_chars = next(c for c in CANDIDATES if c.name == "linear_chars")
    assert candidate_config(plain, linear_chars).preprocess.min_freq == 1
    multilabel = config_from_dict({**sms, "model": {}, "train": {}, "task": "multilabel"})
    assert candidate_config(multilabel, linear_chars).preprocess.min_freq == 2
    assert chars.preprocess.min_freq == candidate_config(plain, CANDIDATES[0]).preprocess.min_freq == 2
    own = config_from_dict({**sms, "model": {}, "train": {}, "preprocess": {"min_freq": 3}})
    assert candidate_config(own, linear_chars).preprocess.min_freq == 3


def test_a_config_without_a_model_trains_every_candidate_and_keeps_the_best_on_validation(sms, tmp_path, capsys):
    # (a single winner: the ensemble's own run folder is tests/training/test_selection_ensemble.py's)
    run = textclf.train({**sms, "train": {**sms["train"], "ensemble": False}}, run_dir=tmp_path / "run")
    err = capsys.readouterr().err
    assert "default selection, best first (scores: 5-fold cross-validation of train + val):" in err
    with open(run.layout.leaderboard, newline="") as f:
        rows = list(csv.DictReader(f))
    # (300 messages: a validation tenth of 31, too few to choose on firmly: the candidates are
    # compared out of fold, and the run says so; tests/training/test_cross_validation.py)
    assert "rather than on 31 validation examples alone, the candidates are compared on 5-fold" in err
    assert list(rows[0]) == LEADERBOARD_COLUMNS
    assert [r["candidate"] for r in rows] != [] and {r["candidate"] for r in rows} == {c.name for c in CANDIDATES}
    # (300 messages: linear_nb is tried from NB_MIN_DOCUMENTS training documents, and listed last)
    assert rows[-1]["candidate"] == "linear_nb" and rows[-1]["status"].startswith(
        "skipped: train.budget auto tries it on a training split of at least 1,000 documents, and this one holds 2")
    rows = rows[:-1]
    assert all(0 < float(r["val_f1_macro"]) <= 1 for r in rows)
    assert [int(r["rank"]) for r in rows] == list(range(1, len(CANDIDATES)))
    scores = [float(r["val_score"]) for r in rows[1:]]  # (the winner may be level with a higher score)
    assert scores == sorted(scores, reverse=True)
    assert all(re.match(r"trained; 5-fold cross-validated( at \d epochs?)?; val alone: ", r["status"]) for r in rows)
    # (a model fitted by a solver converges in one pass: one epoch)
    solved = [r for r in rows if re.search(r"solver=(nb)?svm ", r["settings"])]
    assert all(int(r["epochs"]) == (1 if r in solved else 2) for r in rows)
    assert len(solved) == 2
    # (the C that val kept, beside the list tried)
    assert all(re.search(r"C=(0\.1|0\.3|1) \(of \[0\.1,0\.3,1\]\)", r["settings"]) for r in solved)
    # The winner's run is the run folder; its config names its model and retrains it directly.
    winner = rows[0]
    saved = load_config(run.layout.config)
    assert saved.model.name == winner["model"] and not saved.model.auto
    # (its score on val alone is the run's; the leaderboard's is the cross-validation's)
    assert abs(run.results["best_score"] - float(winner["status"].split("val alone: ")[1].split(";")[0])) < 1e-4
    assert textclf.Predictor.load(run.best_checkpoint).predict(["see you at lunch?"]) in (["ham"], ["spam"])
    assert run.test_metrics["accuracy"] > 0.5
    losers = {r["candidate"] for r in rows[1:]}
    assert {p.name for p in run.layout.candidates.iterdir()} == losers
    for name in losers:  # kept for their curves, not their weights
        assert (run.layout.candidates / name / "metrics.jsonl").is_file()
        assert not (run.layout.candidates / name / "checkpoints").exists()
    from textclf.reporting.report import build_report

    markdown, _ = build_report(run.dir, explain_examples=0)
    assert "## Model selection" in markdown.read_text() and rows[0]["settings"] in markdown.read_text()
    again = textclf.train(str(run.layout.config), run_dir=tmp_path / "again")
    assert not again.layout.leaderboard.exists() and load_config(again.layout.config).model == saved.model


@pytest.mark.parametrize("threads", [1, 2])
def test_the_budget_skips_the_candidates_not_started_in_time(sms, tmp_path, capsys, threads):
    train = {**sms["train"], "epochs": 1, "budget": 0.001, "num_threads": threads}
    run = textclf.train({**sms, "train": train}, run_dir=tmp_path / "run")
    with open(run.layout.leaderboard, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["candidate"] == CANDIDATES[0].name and rows[0]["status"] == "trained"
    assert all(r["status"].startswith("skipped: train.budget") for r in rows[1:])
    saved = load_config(run.layout.config)
    assert saved.model.name == CANDIDATES[0].model["name"]
    assert saved.train.budget == 0.001  # the config's, not the seconds that were left for the winner
    from textclf.reporting.report import build_report

    markdown, _ = build_report(run.dir, explain_examples=0)
    skipped = ", ".join(c.name for c in CANDIDATES[1:])
    assert f"Not trained under train.budget: {skipped}" in markdown.read_text()


def test_the_auto_budget_tries_what_the_datas_size_admits_and_a_budget_in_seconds_what_fits():
    """train.budget auto: a candidate is tried when the training split holds at most its
    max_tokens, whatever the machine's speed; a budget in seconds starts one only when its cost
    times the first one's seconds (and the start-up), and a refit, fit on the least busy lane."""
    import time
    from types import SimpleNamespace

    from textclf.config import AUTO_MAX_TOKENS, CANDIDATES, COST_START_SECONDS, NB_MIN_DOCUMENTS, Candidate
    from textclf.training.select import _admit, _admit_by_size, _budget, _budget_text

    # (the linear models of word n-grams are tried on any size; the others up to AUTO_MAX_TOKENS)
    assert AUTO_MAX_TOKENS == 1_500_000
    assert {c.name: (c.max_tokens, c.min_documents) for c in CANDIDATES} == {
        "linear": (None, None), "linear_nb": (None, NB_MIN_DOCUMENTS), "linear_chars": (AUTO_MAX_TOKENS, None),
        "bag": (AUTO_MAX_TOKENS, None), "bag_chars": (AUTO_MAX_TOKENS, None)}
    cands = [Candidate(name, {"name": "bag_of_ngrams"}, cost=cost, max_tokens=most) for name, cost, most in
             (("a", 4.0, None), ("b", 5.0, 1_000), ("c", 10.0, 2_000))]
    jobs = [SimpleNamespace(name=c.name) for c in cands]
    assert _admit_by_size(jobs, cands, 1_000, 10) == (jobs, [])
    admitted, skipped = _admit_by_size(jobs, cands, 1_001, 10)
    assert admitted == [jobs[0], jobs[2]] and [j for j, _ in skipped] == [jobs[1]]
    assert "at most 0.001M tokens, and this one holds 0.00M; train.budget: null" in skipped[0][1]
    assert _admit_by_size(jobs, cands, 10**9, 10)[0] == [jobs[0]]
    # min_documents: from that many training documents on, whatever their tokens
    few = [Candidate("d", {"name": "linear"}, min_documents=1_000), Candidate("e", {"name": "linear"})]
    both = [SimpleNamespace(name=c.name) for c in few]
    assert _admit_by_size(both, few, 10**9, 1_000) == (both, [])
    admitted, skipped = _admit_by_size(both, few, 50, 999)
    assert admitted == [both[1]]
    assert "of at least 1,000 documents, and this one holds 999; train.budget: null" in skipped[0][1]
    assert _budget_text(None, 2_960_000, [], [(jobs[1], "")]).startswith(
        "default selection: train.budget auto: by the data's size, each candidate to convergence; the training "
        "split holds 2.96M tokens: starting no other candidate; skipping")

    now = time.perf_counter()
    assert _budget(None, now) == (None, None)
    limit, ends = _budget(50, now)
    assert limit == 50.0 and ends == pytest.approx(time.time() + 50.0, abs=0.5)
    assert "train.budget 50 s, from the config: starting a" in _budget_text(limit, 1, [jobs[0]], [])
    assert COST_START_SECONDS == 0.9
    # The first took 1.5 s, and 0.9 s of start-up the costs count: a (9.6 s) and b (12 s) on two
    # lanes, then c (24 s) after a would end at 33.6 s and its refit, 24 s, after the 50 s.
    admitted, skipped = _admit(jobs, cands, 1.5, limit, ends, workers=2)
    assert admitted == jobs[:2] and [j for j, _ in skipped] == [jobs[2]]
    assert "train.budget 50 s would not cover it (about 24 s, 10 x the first candidate's 1.5 s and 0.9 s" in skipped[0][1]
    assert _admit(jobs, cands, 0.1, limit, ends, workers=2) == (jobs, [])  # c: 4 + 10, refit 10
    # A slow first (30 s): a alone would take 124 s.
    assert _admit(jobs, cands, 30.0, limit, ends, workers=2)[0] == []
    # No budget (train.budget: null in the file): every candidate.
    assert _admit(jobs, cands, 12.0, None, None, workers=2) == (jobs, [])


def test_a_validation_split_of_a_hundred_examples_or_more_is_enough_to_choose_on_without_a_word():
    from textclf.training.select import _few_to_choose_on

    assert _few_to_choose_on(100) is None and _few_to_choose_on(5_000) is None
    assert "holds only 1 example, so each one is 100.0 points" in _few_to_choose_on(1)


def test_the_leaderboard_lists_the_candidates_not_trained_last():
    from textclf.training.select import _best_first

    rows = [{"candidate": "a", "rank": 1}, {"candidate": "b", "status": "skipped"},
            {"candidate": "c", "rank": 3}, {"candidate": "d", "status": "skipped"}, {"candidate": "e", "rank": 2}]
    _best_first(rows)
    assert [r["candidate"] for r in rows] == ["a", "e", "c", "b", "d"]


def test_train_budget_is_seconds_auto_or_null_and_says_so_when_wrong(sms):
    from textclf.errors import ConfigError

    auto = config_from_dict(sms)
    assert candidate_config(auto, CANDIDATES[0]).train.budget == "auto"  # the selection's default
    unlimited = config_from_dict({**sms, "train": {**sms["train"], "budget": None}})  # null in the file
    assert candidate_config(unlimited, CANDIDATES[0]).train.budget is None
    named = config_from_dict({**sms, "model": {"name": "linear"}, "train": {"budget": "auto"}})
    assert named.train.budget_seconds() is None  # (auto is the selection's: no limit for one model)
    for wrong in (-1, 0, "soon"):
        with pytest.raises(ConfigError, match="train.budget"):
            config_from_dict({**sms, "train": {"budget": wrong}})


def test_a_candidate_cut_short_by_the_budget_is_told_from_one_stopped_early():
    from textclf.training.final import TrainResult
    from textclf.training.select import _cut_short

    train = {"epochs": 10, "early_stopping_patience": 2, "budget": 60}
    config = config_from_dict({"name": "x", "model": {"name": "bag_of_ngrams"}, "train": train})
    history = lambda n: [{"epoch": i + 1} for i in range(n)]  # noqa: E731
    assert _cut_short(TrainResult("r", 3, 0.9, history(3)), config)  # 3 of 10, the last improved
    assert not _cut_short(TrainResult("r", 3, 0.9, history(5)), config)  # 2 epochs without improving
    assert not _cut_short(TrainResult("r", 9, 0.9, history(10)), config)  # every epoch ran
    # No budget: nothing cut it; a solver's one pass is all its training.
    assert not _cut_short(TrainResult("r", 3, 0.9, history(3)), config_from_dict(
        {"name": "x", "model": {"name": "bag_of_ngrams"}, "train": {**train, "budget": None}}))
    assert not _cut_short(TrainResult("r", 1, 0.9, history(1)), config_from_dict(
        {"name": "x", "model": {"name": "linear", "solver": "svm"}, "train": train}))


@pytest.mark.parametrize("where", ["candidate", "fold"])
def test_an_interrupted_selection_says_it_does_not_resume_and_leaves_nothing(sms, tmp_path, where):
    import signal

    from textclf.errors import TrainingInterrupted
    from textclf.training.recipe import train
    from textclf.training.select import select_and_train

    # A real SIGINT after the first epoch of the second candidate, or of the first one's second
    # cross-validation fold.
    run_dir = tmp_path / "run" / "candidates" / (TRIED_ON_300[1].name if where == "candidate" else
                                                 f"{CANDIDATES[0].name}/folds/2")

    def interrupted(config, **kwargs):
        assert kwargs["resumable"] is False  # candidates write no last.ckpt
        if kwargs["run_dir"] == run_dir:
            kwargs["on_epoch"] = lambda record: signal.raise_signal(signal.SIGINT)
        return train(config, **kwargs)

    with pytest.raises(TrainingInterrupted, match="does not resume") as caught:
        select_and_train(config_from_dict(sms), interrupted, run_dir=tmp_path / "run", progress=False)
    said = {"candidate": f"of default candidate {TRIED_ON_300[1].name};",
            "fold": f"of default candidate {CANDIDATES[0].name}'s cross-validation;"}[where]
    assert "--resume" not in str(caught.value) and said in str(caught.value)
    assert not (tmp_path / "run").exists()


def test_a_selection_candidate_writes_only_its_best_checkpoint(sms, tmp_path):
    from textclf.training.recipe import train

    config = candidate_config(config_from_dict(sms), CANDIDATES[0])
    result = train(config, run_dir=tmp_path / "cand", progress=False, final_evaluation=False, resumable=False)
    assert sorted(p.name for p in (result.run_dir / "checkpoints").iterdir()) == ["best.ckpt"]


def test_a_candidate_level_with_the_best_accuracy_wins_on_its_calibrated_loss():
    import numpy as np

    from textclf.training.select import _rank

    right = np.ones(500, dtype=bool)
    best = right.copy()
    best[:10] = False  # 490 right
    close = right.copy()
    close[5:17] = False  # 488 right; the two disagree on 5 + 7 = 12 documents: 2 <= sqrt(12)
    far = right.copy()
    far[:40] = False  # 460 right; 30 behind with 30 disagreements
    rows = [{"candidate": "best", "val_score": 0.98, "val_loss": 0.09, "status": "trained", "_correct": best},
            {"candidate": "close", "val_score": 0.976, "val_loss": 0.07, "status": "trained", "_correct": close},
            {"candidate": "far", "val_score": 0.92, "val_loss": 0.01, "status": "trained", "_correct": far}]
    assert _rank(rows, "val_accuracy") == "close"
    assert [r["rank"] for r in rows] == [2, 1, 3] and "level with best" in rows[1]["status"]
    # Calibrated losses equal to 4 decimals (a tiny val split flattened to ln C) are a tie: the
    # earlier candidate (simplest first) wins, not a difference in the fifth decimal.
    flat = np.zeros(4, dtype=bool)
    tiny = [{"candidate": name, "val_score": 0.25, "val_loss": loss, "status": "trained", "_correct": flat.copy()}
            for name, loss in (("linear", 1.386296), ("bag", 1.386291), ("linear_chars", 1.386294))]
    assert _rank(tiny, "val_accuracy") == "linear" and [r["rank"] for r in tiny] == [1, 2, 3]
    # Without per-document results (multilabel), or on another metric, the score alone decides.
    for row in rows:
        row.pop("_correct"), row.update(status="trained")
    assert _rank(rows, "val_accuracy") == "best"


def test_the_auto_budget_skips_by_size_and_still_refits_the_winner(sms, tmp_path, monkeypatch, capsys):
    """train.budget auto bounds which candidates train by the training split's tokens (here every
    candidate after the first allows fewer than SMS spam holds); the winner is refit on train + val."""
    import dataclasses

    from textclf.training import select

    monkeypatch.setattr(select, "CANDIDATES", [select.CANDIDATES[0], *(dataclasses.replace(c, max_tokens=1_000)
                                                                       for c in select.CANDIDATES[1:])])
    run = textclf.train({**sms, "train": {**sms["train"], "epochs": 1}}, run_dir=tmp_path / "run")
    assert load_config(run.layout.config).train.budget == "auto"
    with open(run.layout.leaderboard, newline="") as f:
        rows = list(csv.DictReader(f))
    assert all(r["status"].startswith("skipped: train.budget auto tries it on a training split of at most 0.001M")
               for r in rows[1:])
    assert "train.budget auto: by the data's size" in capsys.readouterr().err
    assert "skipped" not in run.results["refit"] and run.results["refit"]["train_examples"] > 0

def test_a_candidate_keeps_its_best_epochs_weights_when_later_epochs_do_not_improve(sms, tmp_path, monkeypatch):
    """The in-memory copy of the best epoch's weights (written over at each improvement) holds the
    last improving epoch's, not the last epoch's: epoch 2 of 3, as a 2-epoch resumable run writes
    it (to best.ckpt, at the epoch)."""
    import torch

    from textclf.artifact import ModelArtifact
    from textclf.training.recipe import LoopState, train

    end_epoch = LoopState.end_epoch

    def improves_twice(self, record, *args):  # (epochs 1 and 2 improve, 3 does not)
        end_epoch(self, record, *args)
        return self.epoch_done <= 2

    monkeypatch.setattr(LoopState, "end_epoch", improves_twice)
    bag = next(c for c in CANDIDATES if c.name == "bag")
    weights = {}
    for epochs, resumable in ((3, False), (2, True)):  # (a resumable run writes best.ckpt at each improvement)
        config = candidate_config(config_from_dict(sms), bag)
        config = config.model_copy(update={"train": config.train.model_copy(update={
            "epochs": epochs, "early_stopping_patience": None})})
        result = train(config, run_dir=tmp_path / f"run{epochs}", progress=False, final_evaluation=False,
                       refit=False, resumable=resumable)
        assert len(result.history) == epochs
        weights[epochs] = ModelArtifact.load(result.run_dir / "checkpoints" / "best.ckpt").state_dict
    assert weights[3].keys() == weights[2].keys()
    for key in weights[3]:
        assert torch.equal(weights[3][key], weights[2][key]), key
