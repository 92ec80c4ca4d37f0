"""The Python API: textclf.train from a dict, a path or a Config; a Run; the Predictor it gives
predicts exactly what `textclf predict` writes."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import yaml

import textclf
from textclf.cli import main
from textclf.errors import ConfigError

TEXTS = [
    "The goalie made forty saves and the Rangers won in overtime",
    "My graphics card renders polygons with a new shading algorithm",
    "NASA launched the shuttle into orbit to repair the telescope",
    "The talks between Israel and its neighbours stalled again",
    "",
    "puck",
]


def _config(mini_archive, tmp_path) -> dict:
    return {
        "name": "api",
        "output_dir": str(tmp_path / "runs"),
        "data": {"root": str(mini_archive), "test_size": 0.2, "val_size": 0.2},
        "preprocess": {"max_seq_len": 100},
        "model": {"name": "bag_of_ngrams", "embedding_dim": 16, "buckets": 5000},
        "train": {"epochs": 2, "lr": 0.05, "device": "cpu"},
    }


def test_train_from_a_dict_then_the_predictor_agrees_with_the_command(mini_archive, tmp_path):
    raw = _config(mini_archive, tmp_path)
    run = textclf.train(raw, overrides={"train.batch_size": 16}, run_dir=tmp_path / "run")
    assert raw["train"].get("batch_size") is None  # the caller's dict is not changed
    assert run.dir == tmp_path / "run" and run.best_checkpoint.is_file()
    assert run.test_metrics["accuracy"] > 0.4 and len(run.history) == 2
    assert run.results["best_epoch"] in (1, 2)
    assert textclf.load_config(run.layout.config).train.batch_size == 16

    predictor = textclf.Predictor.load(run.best_checkpoint)
    assert predictor.classes == ["comp.graphics", "rec.sport.hockey", "sci.space", "talk.politics.mideast"]
    labels = predictor.predict(TEXTS)
    probs = predictor.predict_proba(TEXTS)
    assert probs.shape == (len(TEXTS), 4) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert labels[:3] == ["rec.sport.hockey", "comp.graphics", "sci.space"]

    source = tmp_path / "texts.csv"
    with open(source, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["text"], *[[t] for t in TEXTS]])
    out = tmp_path / "pred.csv"
    assert main(["predict", "--checkpoint", str(run.best_checkpoint), "--input", str(source),
                 "--output", str(out), "--no-progress"]) == 0
    with open(out, newline="", encoding="utf-8") as f:
        assert [r["Category"] for r in csv.DictReader(f)] == labels

    again = textclf.Run.open(run.dir)
    assert again.test_metrics == run.test_metrics and len(again.history) == 2
    assert run.predictor().predict(TEXTS) == labels


def test_a_path_and_a_config_object_train_the_same_model(mini_archive, tmp_path):
    raw = _config(mini_archive, tmp_path)
    raw["train"]["epochs"] = 1
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    a = textclf.train(path, run_dir=tmp_path / "a")
    b = textclf.train(textclf.load_config(path), run_dir=tmp_path / "b")
    assert a.test_metrics["accuracy"] == b.test_metrics["accuracy"]
    np.testing.assert_array_equal(a.predictor().predict_proba(TEXTS), b.predictor().predict_proba(TEXTS))


def test_a_config_object_that_names_no_model_still_gets_each_candidates_own_settings(tmp_path):
    # A Config carries which keys its file set: the default candidates' settings (character
    # n-grams, wordpunct) apply to every other key, as they do for the YAML path itself.
    from textclf.api import resolve_config
    from textclf.config import CANDIDATES
    from textclf.training.select import candidate_config

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"name": "own", "data": {"source": "files", "train": "t.csv"},
                                    "train": {"lr": 0.01}}))
    for given in (path, textclf.load_config(path)):
        config = resolve_config(given, {"preprocess.lowercase": False})
        assert config.model.auto and config.sets("train.lr") and config.sets("preprocess.lowercase")
        assert not config.sets("model.minn") and not config.sets("preprocess.tokenizer")
        chars = candidate_config(config, next(c for c in CANDIDATES if c.name == "bag_chars"))
        assert (chars.model.minn, chars.preprocess.tokenizer, chars.train.lr) == (2, "wordpunct", 0.01)


def test_every_shipped_config_is_the_same_config_when_given_as_a_config_object():
    from pathlib import Path

    from textclf.api import resolve_config

    paths = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
    assert paths
    for path in paths:
        loaded = textclf.load_config(path)
        assert resolve_config(loaded).model_dump() == loaded.model_dump(), path.name


def test_api_mistakes_are_textclf_errors(mini_archive, tmp_path, trained_run):
    with pytest.raises(ConfigError, match="train.lr"):
        textclf.train(_config(mini_archive, tmp_path), overrides={"train.lr": -1})
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        textclf.train({**_config(mini_archive, tmp_path), "train": {"epoch": 3}})
    assert not (tmp_path / "runs").exists()  # nothing was written
    predictor = textclf.Predictor.load(trained_run / "checkpoints" / "best.ckpt")
    with pytest.raises(textclf.TextclfError, match="not one string"):
        predictor.predict("a single string")
    with pytest.raises(textclf.TextclfError, match="text 1 is a int"):
        predictor.predict(["fine", 3])
    assert predictor.predict([]) == [] and predictor.predict_proba([]).shape == (0, 4)


def test_public_names_are_listed_and_documented():
    for name in textclf.__all__:
        value = getattr(textclf, name)
        if name != "__version__":
            assert value.__doc__, name
