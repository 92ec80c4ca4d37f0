"""Model artifacts: version 2 round trips, version-1 files (textclf 0.1) load and predict the
same, unknown versions and weights that do not fit are one-line checkpoint errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textclf.artifact import ARTIFACT_VERSION, ENSEMBLE_VERSION, PACKED_VERSION, ModelArtifact
from textclf.cli import main
from textclf.errors import CheckpointError
from textclf.inference import Predictor
from textclf.training.recipe import LoopState

TEXTS = ["the goalie made forty saves", "orbit of the space shuttle", "", "polygon shading"]


def _as_version_1(artifact: ModelArtifact, training: dict | None = None) -> dict:
    """The dict textclf 0.1 wrote (training/checkpoint.py, format 1)."""
    old = {
        "format_version": 1,
        "textclf_version": "0.1.0",
        "config": artifact.config,
        "model": {"name": artifact.model_name, "params": artifact.model_params},
        "vocab": artifact.pipeline["vocab"],
        "label_names": artifact.classes,
        "train_label_counts": artifact.train_class_counts,
        "state_dict": artifact.state_dict,
        "metrics": artifact.metrics,
    }
    if training is not None:
        old["training"] = training
    return old


def test_a_version_1_checkpoint_loads_and_predicts_the_same(trained_run, tmp_path):
    best = trained_run / "checkpoints" / "best.ckpt"
    artifact = ModelArtifact.load(best)
    old = tmp_path / "v1.ckpt"
    torch.save(_as_version_1(artifact), old)
    migrated = ModelArtifact.load(old)
    assert migrated.classes == artifact.classes and migrated.pipeline == artifact.pipeline
    assert migrated.task == "multiclass" and migrated.model_name == "bigru_attention"
    assert migrated.temperature == 1.0 and migrated.thresholds is None  # format 1 had neither
    artifact.temperature = 1.0  # the same model before calibration
    np.testing.assert_array_equal(Predictor.load(old).predict_proba(TEXTS), Predictor([artifact]).predict_proba(TEXTS))


def test_a_version_1_last_checkpoint_keeps_its_training_state(trained_run, tmp_path):
    artifact, state = ModelArtifact.load_with_state(trained_run / "checkpoints" / "last.ckpt")
    flat = {**state.loop, "optimizer": state.optimizer, "rng": state.rng}
    old = tmp_path / "last-v1.ckpt"
    torch.save(_as_version_1(artifact, flat), old)
    _, migrated = ModelArtifact.load_with_state(old)
    # Version 1 knew no best_loss (the tie-break's): the migrated state lacks it, and resumes.
    assert migrated.loop == {k: v for k, v in state.loop.items() if k != "best_loss"}
    assert migrated.optimizer.keys() == state.optimizer.keys()
    assert LoopState.from_dict(migrated.loop).best_loss is None


def test_save_load_round_trip_and_a_newer_version_is_refused(trained_run, tmp_path):
    artifact = ModelArtifact.load(trained_run / "checkpoints" / "best.ckpt")
    copy = ModelArtifact.load(artifact.save(tmp_path / "copy.ckpt"))
    assert copy.to_dict().keys() == artifact.to_dict().keys() and copy.metrics == artifact.metrics
    payload = torch.load(tmp_path / "copy.ckpt", weights_only=True)
    payload["format_version"] = PACKED_VERSION + 1
    torch.save(payload, tmp_path / "newer.ckpt")
    with pytest.raises(CheckpointError) as err:
        ModelArtifact.load(tmp_path / "newer.ckpt")
    (line,) = err.value.problems
    assert f"version {PACKED_VERSION + 1} is not supported" in line and f"versions 1 to {PACKED_VERSION}" in line
    payload["format_version"] = ENSEMBLE_VERSION  # (an ensemble file's number, without an ensemble)
    torch.save(payload, tmp_path / "odd.ckpt")
    with pytest.raises(CheckpointError, match="without its ensemble"):
        ModelArtifact.load(tmp_path / "odd.ckpt")


def test_the_packed_vocabulary_round_trips_any_words_and_a_version_3_file_still_loads(trained_run, tmp_path):
    """Checkpoint files hold the vocabulary as one string and the words' lengths (version 5):
    words with any characters come back as they were, and a file written as version 3 (the list
    of strings) loads to the same artifact."""
    artifact = ModelArtifact.load(trained_run / "checkpoints" / "best.ckpt")
    words = ["<pad>", "<unk>", "naïve", "日本語", "a\nb", "", "🙂x", *artifact.pipeline["vocab"][2:]]
    artifact.pipeline = {**artifact.pipeline, "vocab": words}
    copy = ModelArtifact.load(artifact.save(tmp_path / "odd.ckpt"))
    assert copy.pipeline == artifact.pipeline and copy.format_version == PACKED_VERSION
    torch.save(artifact.to_dict(), tmp_path / "v3.ckpt")  # the list, as version 3 wrote it
    old = ModelArtifact.load(tmp_path / "v3.ckpt")
    assert old.format_version == ARTIFACT_VERSION and old.pipeline == artifact.pipeline
    payload = torch.load(tmp_path / "odd.ckpt", weights_only=True)
    payload["pipeline"]["vocab_packed"]["lengths"][0] += 1
    torch.save(payload, tmp_path / "broken.ckpt")
    with pytest.raises(CheckpointError, match="packed vocabulary does not add up"):
        ModelArtifact.load(tmp_path / "broken.ckpt")


def test_weights_that_do_not_fit_the_model_are_a_checkpoint_error(trained_run, tmp_path, capsys):
    artifact = ModelArtifact.load(trained_run / "checkpoints" / "best.ckpt")
    artifact.model_params = {**artifact.model_params, "hidden_size": 8}
    bad = artifact.save(tmp_path / "bad.ckpt")
    texts = tmp_path / "t.csv"
    texts.write_text("text\nhello\n")
    code = main(["predict", "--checkpoint", str(bad), "--input", str(texts), "--output", str(tmp_path / "o.csv")])
    err = capsys.readouterr().err
    assert code == 5 and "the weights do not fit model 'bigru_attention'" in err and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()


def test_data_settings_come_from_the_saved_config_or_the_defaults(trained_run):
    """How a model's files were read (predict, explain and Dask read new files the same way);
    an artifact whose saved config lacks a key (an older one) gets DataConfig's default."""
    artifact = Predictor.load(trained_run / "checkpoints" / "best.ckpt").artifact
    artifact.config["data"].update(encoding="latin-1", text_column=["title", "body"])
    artifact.config["data"].pop("label_separator", None)
    assert artifact.data_setting("encoding") == "latin-1"
    assert artifact.data_setting("text_column") == ["title", "body"]
    assert artifact.data_setting("label_separator") == "|"
    del artifact.config["data"]
    assert artifact.data_setting("text_column") == "text" and artifact.data_setting("id_column") is None
