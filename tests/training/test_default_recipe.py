"""The default recipe's choice from the data: character n-grams, label smoothing and symbols as
tokens when the training texts are short, and enough epochs for small data sets (train.min_steps)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import textclf
from conftest import shared_data, write_config
from textclf.config import (
    DEFAULT_RECIPE,
    SHORT_TEXT_MODEL,
    SHORT_TEXT_PREPROCESS,
    SHORT_TEXT_TOKENS,
    SHORT_TEXT_TRAIN,
    config_from_dict,
    decide_from_data,
    dump_config,
    load_config,
)


def test_only_a_config_without_model_nor_character_keys_leaves_the_choice_to_the_data(tmp_path):
    short = np.full(50, 10)
    for name, text in (("a", "name: a\n"), ("b", "model:\n  dropout: 0.2\n"), ("e", "model:\n")):  # e: empty
        config = load_config(write_config(tmp_path / f"{name}.yaml", text))
        assert config.model.auto and decide_from_data(config, short, quiet=True).model.params()["minn"] == 2
    given = load_config(write_config(tmp_path / "c.yaml", "model:\n  minn: 3\n  maxn: 4\n"))
    decided = decide_from_data(given, short, quiet=True)
    assert given.model.auto and not decided.model.auto and decided.model.params()["minn"] == 3
    assert decided.preprocess == given.preprocess and decided.train == given.train  # nothing else chosen either
    named = load_config(write_config(tmp_path / "d.yaml", "model:\n  name: bag_of_ngrams\n"))
    assert not named.model.auto and decide_from_data(named, short) is named
    assert "auto" not in named.model.params()  # not a key of the model itself


def test_a_config_saved_by_an_earlier_version_still_loads(tmp_path):
    # Run folders written before model.auto took the decision over carry model.chars_if_short.
    saved = dump_config(load_config(write_config(tmp_path / "a.yaml", "model:\n  name: bag_of_ngrams\n")))
    old = saved.replace("  auto: false\n", "  chars_if_short: false\n  auto: false\n")
    assert "chars_if_short" in old
    config = load_config(write_config(tmp_path / "old.yaml", old))
    assert config.model.name == "bag_of_ngrams" and "chars_if_short" not in config.model.params()


def test_short_texts_get_character_ngrams_and_long_ones_do_not(tmp_path, capsys):
    config = load_config(write_config(tmp_path / "a.yaml", "name: a\n"))
    short = decide_from_data(config, np.full(50, SHORT_TEXT_TOKENS))
    assert {k: short.model.params()[k] for k in SHORT_TEXT_MODEL} == SHORT_TEXT_MODEL
    assert not short.model.auto and config.model.auto  # a copy
    assert short.train.label_smoothing == SHORT_TEXT_TRAIN["label_smoothing"] > 0
    assert short.preprocess.tokenizer == SHORT_TEXT_PREPROCESS["tokenizer"] != config.preprocess.tokenizer
    assert f"average {SHORT_TEXT_TOKENS} tokens" in capsys.readouterr().err
    long = decide_from_data(config, np.full(50, SHORT_TEXT_TOKENS + 1))
    assert long.model.params() == config.model.params() and long.model.params()["maxn"] == 0
    assert not long.model.auto and long.train.label_smoothing == 0
    assert long.preprocess == config.preprocess
    # A label smoothing or a tokenizer of the config's own stays, even 0 or the study's.
    own = load_config(write_config(tmp_path / "ls.yaml", "train:\n  label_smoothing: 0\n"
                                   "preprocess:\n  tokenizer: study\n"))
    assert decide_from_data(own, np.full(50, 10)).train.label_smoothing == 0
    assert decide_from_data(own, np.full(50, 10)).preprocess.tokenizer == "study"
    multilabel = load_config(write_config(tmp_path / "ml.yaml", "task: multilabel\n"))
    assert decide_from_data(multilabel, np.full(50, 10)).train.label_smoothing == 0
    # Decided once: the saved config reloads to the same model, and is not decided again.
    reloaded = load_config(write_config(tmp_path / "saved.yaml", dump_config(short)))
    assert reloaded.model == short.model
    assert decide_from_data(reloaded, np.full(5, 10_000)).model == short.model


def test_the_selected_candidate_is_recorded_and_the_model_reloads_as_it_trained(tmp_path):
    frame = pd.read_csv(shared_data("sms_spam.csv"), keep_default_na=False)
    frame.groupby("label").head(150).to_csv(tmp_path / "sms.csv", index=False)
    raw = {"name": "short", "output_dir": str(tmp_path / "runs"),
           "data": {"source": "files", "train": str(tmp_path / "sms.csv"), "cache_dir": str(tmp_path / "cache")},
           "model": {"buckets": 5000, "char_buckets": 5000},
           "train": {"epochs": 1, "device": "cpu", "budget": 1e-3}}
    # The budget leaves the first candidate alone; the character n-gram ones come later.
    first = textclf.train(raw, run_dir=tmp_path / "first")
    assert load_config(first.layout.config).model.params()["minn"] == 0
    # Every candidate trains: whichever wins, its config and its model agree.
    run = textclf.train({**raw, "train": {"epochs": 1, "device": "cpu", "ensemble": False}}, run_dir=tmp_path / "run")
    saved = textclf.load_config(run.layout.config)
    assert not saved.model.auto
    predictor = textclf.Predictor.load(run.best_checkpoint)
    assert predictor.pipelines[0].tokenizer.settings()["name"] == saved.preprocess.tokenizer
    chars = saved.model.params()["minn"] > 0
    assert chars == any(name.startswith("char") for name, _ in predictor.models[0].named_parameters())
    if saved.preprocess.tokenizer == "wordpunct":  # the data were encoded again with it: "!!" is a word
        assert "!" in predictor.pipelines[0].vocab_.itos_ or "!!" in predictor.pipelines[0].vocab_.itos_
    assert predictor.predict(["WINNER!! Call 09061701461 to claim your prize"]) in (["spam"], ["ham"])


def test_data_command_counts_tokens_as_the_default_recipe_will_train(tmp_path, capsys):
    from textclf.cli import main
    from textclf.text.prepare import prepare_data

    frame = pd.read_csv(shared_data("sms_spam.csv"), keep_default_na=False)
    frame.groupby("label").head(150).to_csv(tmp_path / "sms.csv", index=False)
    path = write_config(tmp_path / "short.yaml", f"name: short\ndata:\n  source: files\n  train: {tmp_path / 'sms.csv'}\n"
                                                f"  cache_dir: {tmp_path / 'cache'}\n")
    assert main(["data", "--config", str(path), "--output", str(tmp_path / "d")]) == 0
    stats = json.loads((tmp_path / "d" / "statistics.json").read_text())
    assert stats["tokenizer"] == "wordpunct"
    assert "tokens (wordpunct)" in capsys.readouterr().out
    # The statistics are those of the wordpunct encoding, which keeps symbols the study's drops.
    wordpunct = prepare_data(load_config(path, ["preprocess.tokenizer=wordpunct"]))
    study = prepare_data(load_config(path, ["preprocess.tokenizer=study"]))
    assert stats["vocab_size"] == len(wordpunct.vocab) > len(study.vocab)
    # A config that names its tokenizer keeps it.
    assert main(["data", "--config", str(path), "--set", "preprocess.tokenizer=study",
                 "--output", str(tmp_path / "s")]) == 0
    assert json.loads((tmp_path / "s" / "statistics.json").read_text())["vocab_size"] == len(study.vocab)


def test_under_torchrun_rank_0_caches_the_encoding_the_recipe_trains_on(tmp_path, monkeypatch):
    """Rank 0 prepares the data, as the recipe will encode them, before the barrier; the other
    ranks then read them from the cache and encode nothing (the process group is simulated: rank
    0's shared value reaches the others)."""
    import textclf.text.prepare as prepare
    from textclf.training.distributed import Distributed
    from textclf.training.recipe import _prepare_in_turn

    frame = pd.read_csv(shared_data("sms_spam.csv"), keep_default_na=False)
    frame.groupby("label").head(150).to_csv(tmp_path / "sms.csv", index=False)
    config = load_config(write_config(tmp_path / "short.yaml", f"name: short\ndata:\n  source: files\n"
                                      f"  train: {tmp_path / 'sms.csv'}\n  cache_dir: {tmp_path / 'cache'}\n"))
    monkeypatch.setattr(Distributed, "share", lambda self, value: value)
    writes = []
    write = prepare._write_cache
    monkeypatch.setattr(prepare, "_write_cache", lambda folder, prepared: (writes.append(folder), write(folder, prepared)))
    first = _prepare_in_turn(config, None, Distributed(rank=0, world_size=2))[1]
    assert first.pipeline.tokenizer.settings()["name"] == "wordpunct" and writes
    writes.clear()
    other = _prepare_in_turn(config, None, Distributed(rank=1, world_size=2))[1]
    assert other.pipeline.tokenizer.settings()["name"] == "wordpunct" and not writes
    assert len(other.vocab) == len(first.vocab)
    # When rank 0 failed (it shares its exit code), the others stop with that code, silently.
    monkeypatch.setattr(Distributed, "share", lambda self, value: 4)
    with pytest.raises(SystemExit) as stopped:
        _prepare_in_turn(config, None, Distributed(rank=1, world_size=2))
    assert stopped.value.code == 4


def test_min_steps_raises_the_epochs_of_small_data_sets_only(tmp_path, capsys):
    from textclf.training.setup import setup_run

    frame = pd.read_csv(shared_data("sms_spam.csv"), keep_default_na=False)
    frame.groupby("label").head(100).to_csv(tmp_path / "sms.csv", index=False)  # 140 train: 3 batches of 64
    raw = {"name": "small", "output_dir": str(tmp_path / "runs"),
           "data": {"source": "files", "train": str(tmp_path / "sms.csv"), "cache_dir": str(tmp_path / "cache")},
           "model": {"buckets": 500, "char_buckets": 500}, "train": {"device": "cpu"}}
    config = config_from_dict(raw)
    assert (config.train.epochs, config.train.min_steps) == (DEFAULT_RECIPE["train"]["epochs"], 200)
    setup = setup_run(config)
    steps = len(setup.loader)
    assert setup.config.train.epochs == -(-200 // steps) > 3 and setup.config.train.epochs * steps >= 200
    assert "train.min_steps 200" in capsys.readouterr().err
    assert setup.criterion.loss.label_smoothing == SHORT_TEXT_TRAIN["label_smoothing"]  # the loss trained with
    # A config that sets its epochs gets no minimum from the recipe.
    own = config_from_dict({**raw, "train": {"device": "cpu", "epochs": 2}})
    assert own.train.min_steps is None and setup_run(own).config.train.epochs == 2


def test_on_a_multilabel_task_the_bags_weigh_each_labels_positives_and_the_linear_models_do_not(tmp_path):
    """Balanced class weights (pos_weight) for the bag candidates on a multi-label task only, as
    chosen on validation (benchmarks/multilabel_thresholds.py); a config's own class_weights win."""
    from textclf.config import CANDIDATES
    from textclf.training.select import candidate_config

    def weights(text: str) -> dict[str, str]:
        config = load_config(write_config(tmp_path / "c.yaml", text))
        return {c.name: candidate_config(config, c).train.class_weights for c in CANDIDATES}

    assert weights("task: multilabel\n") == {"linear": "none", "linear_nb": "none", "linear_chars": "none",
                                             "bag": "balanced", "bag_chars": "balanced"}
    assert set(weights("task: multiclass\n").values()) == {"none"}
    assert set(weights("task: multilabel\ntrain:\n  class_weights: inverse\n").values()) == {"inverse"}
