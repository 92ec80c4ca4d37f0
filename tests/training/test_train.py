import json

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from textclf.artifact import PACKED_VERSION, ModelArtifact
from textclf.config import load_config
from textclf.errors import UsageError
from textclf.inference import predict_logits
from textclf.training import train
from textclf.training.loss import class_weights
from textclf.training.recipe import LoopState


def test_small_bigru_beats_the_majority_baseline_clearly(trained_run):
    results = json.loads((trained_run / "results.json").read_text())
    test = json.loads((trained_run / "evaluation" / "test" / "metrics.json").read_text())
    majority = test["baselines"]["majority"]["accuracy"]
    assert majority == pytest.approx(0.25)
    assert test["accuracy"] >= majority + 0.3, test["accuracy"]
    assert results["test_accuracy"] == test["accuracy"]
    assert 1 <= results["best_epoch"] <= 4


def test_run_folder_holds_everything(trained_run):
    for name in (
        "config.yaml", "metrics.jsonl", "results.json", "checkpoints/best.ckpt",
        "checkpoints/last.ckpt", "data/statistics.json", "data/class_distribution.png",
        "evaluation/test/metrics.json", "evaluation/test/per_class.csv",
        "evaluation/test/confusion_matrix.csv", "evaluation/test/confusion_matrix.png",
        "evaluation/val/metrics.json", "environment.json",
    ):
        assert (trained_run / name).is_file(), name
    env = json.loads((trained_run / "environment.json").read_text())
    assert env["device"] == "cpu" and env["torch_threads"] >= 1 and "GOMP_SPINCOUNT" in env
    lines = (trained_run / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]
    assert records[-1]["train/loss"] < records[0]["train/loss"]
    # The saved config is the resolved one and loads again as is.
    config = load_config(trained_run / "config.yaml")
    assert config.model.params()["hidden_size"] == 32 and config.model.params()["num_layers"] == 1
    assert not list(trained_run.rglob("*.tmp"))  # no temporary file left behind


def test_tensorboard_reads_the_event_files(trained_run):
    events = EventAccumulator(str(trained_run / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/accuracy", "val/loss", "val/accuracy", "val/f1_macro", "lr"} <= tags
    val_acc = [e.value for e in events.Scalars("val/accuracy")]
    records = [json.loads(x) for x in (trained_run / "metrics.jsonl").read_text().splitlines()]
    np.testing.assert_allclose(val_acc, [r["val/accuracy"] for r in records], rtol=1e-6)


def test_checkpoint_is_self_describing_and_loads_without_unpickling(trained_run):
    path = trained_run / "checkpoints" / "best.ckpt"
    raw = torch.load(path, weights_only=True)  # plain containers and tensors only
    assert raw["format_version"] == PACKED_VERSION and raw["model"]["name"] == "bigru_attention"
    assert raw["task"] == "multiclass" and len(raw["classes"]) == 4
    packed = raw["pipeline"]["vocab_packed"]  # the words as one string and their lengths
    assert packed["text"].startswith("<pad><unk>") and packed["lengths"][:2].tolist() == [5, 5]
    assert raw["pipeline"]["max_length"] == 100
    assert ModelArtifact.load(path).pipeline["vocab"][:2] == ["<pad>", "<unk>"]
    assert "training" not in raw  # best.ckpt holds weights; the optimizer state is in last.ckpt
    _, state = ModelArtifact.load_with_state(trained_run / "checkpoints" / "last.ckpt")
    assert {"epoch_done", "batches_done", "best_score", "stale_epochs", "history"} <= set(state.loop)
    assert state.optimizer and state.rng
    # From the checkpoint alone: the same validation accuracy as recorded at that epoch.
    artifact = ModelArtifact.load(path)
    from textclf.config import config_from_dict
    from textclf.data import load_corpus

    val = load_corpus(config_from_dict(artifact.config))["val"]
    encoded = artifact.text_pipeline().encode(val.texts, val.labels)
    accuracy = (predict_logits(artifact.build_model(), encoded).argmax(1) == encoded.labels).mean()
    assert accuracy == pytest.approx(artifact.metrics["val/accuracy"])


def test_training_is_deterministic_and_refuses_a_used_run_folder(mini_config, tmp_path, trained_run):
    config = load_config(mini_config, ["train.epochs=2"])
    first = train(config, run_dir=tmp_path / "a", progress=False)
    second = train(config, run_dir=tmp_path / "b", progress=False)
    strip = lambda r: {k: v for k, v in r.items() if not k.endswith("seconds")}
    assert [strip(r) for r in first.history] == [strip(r) for r in second.history]
    assert first.test_metrics == second.test_metrics
    with pytest.raises(UsageError, match="already exists"):
        train(config, run_dir=trained_run, progress=False)


def test_early_stopping_and_other_monitors(mini_config, tmp_path):
    config = load_config(
        mini_config,
        ["train.epochs=6", "train.lr=0.00001", "train.monitor=val_loss",
         "train.early_stopping_patience=1", "model.name=lstm", "model.hidden_size=8",
         "model.embedding_dim=8", "train.class_weights=balanced", "train.grad_clip=1.0"],
    )
    result = train(config, run_dir=tmp_path / "r", progress=False)
    losses = [h["val/loss"] for h in result.history]
    # Patience 1: every epoch but the last improved on all before it; a run that stopped
    # early stopped on an epoch that did not improve.
    for i in range(1, len(losses) - 1):
        assert losses[i] < min(losses[:i])
    if len(losses) < 6:
        assert losses[-1] >= min(losses[:-1])
    assert result.best_epoch == int(np.argmin(losses)) + 1


def test_a_run_stops_after_the_epoch_in_which_its_budget_runs_out(mini_config, tmp_path, capsys):
    config = load_config(mini_config, ["train.epochs=4", "train.budget=0.001"])
    result = train(config, run_dir=tmp_path / "r", progress=False)
    assert len(result.history) == 1 and result.best_epoch == 1
    assert (tmp_path / "r" / "checkpoints" / "best.ckpt").is_file()
    assert "train.budget 0.001 s spent: stopping after epoch 1 of 4 (best epoch 1 kept)" in capsys.readouterr().out
    # Enough budget: every epoch runs.
    assert len(train(load_config(mini_config, ["train.epochs=2", "train.budget=3600"]), run_dir=tmp_path / "s",
                     progress=False, final_evaluation=False).history) == 2


def test_a_deadline_stops_a_run_as_its_budget_does(mini_config, tmp_path):
    """What a default selection gives its candidates: the end of its own budget."""
    import time

    result = train(load_config(mini_config, ["train.epochs=3"]), run_dir=tmp_path / "r", progress=False,
                   final_evaluation=False, deadline=time.perf_counter())
    assert len(result.history) == 1


def test_a_tied_accuracy_goes_to_the_epoch_with_the_lower_validation_loss():
    state = LoopState()
    epochs = [(0.90, 0.50), (0.95, 0.40), (0.95, 0.30), (0.95, 0.35), (0.94, 0.20)]
    improved = [state.end_epoch({"epoch": i + 1, "val/accuracy": acc, "val/loss": loss}, "val_accuracy", 9, 2)
                for i, (acc, loss) in enumerate(epochs)]
    assert improved == [True, True, True, False, False] and state.best_epoch == 3
    assert (state.best_score, state.best_loss) == (0.95, 0.30) and state.stale_epochs == 2
    # The loss monitor is not tie-broken by itself, and a state saved without best_loss resumes.
    again = LoopState.from_dict({k: v for k, v in LoopState().__dict__.items() if k != "best_loss"}
                                | {"partial": {}})
    assert again.best_loss is None
    assert again.end_epoch({"epoch": 1, "val/accuracy": 0.5, "val/loss": 1.0}, "val_loss", 9, None)
    assert not again.end_epoch({"epoch": 2, "val/accuracy": 0.6, "val/loss": 1.0}, "val_loss", 9, None)


def test_class_weights():
    names = ["ham", "spam"]
    assert class_weights("none", np.array([3, 1]), names) is None
    torch.testing.assert_close(class_weights("balanced", np.array([30, 10]), names), torch.tensor([4 / 6, 2.0]))
    torch.testing.assert_close(class_weights("inverse", np.array([30, 10]), names), torch.tensor([4 / 3, 4.0]))
    torch.testing.assert_close(class_weights([1.0, 3.0], np.array([3, 1]), names), torch.tensor([1.0, 3.0]))
    torch.testing.assert_close(class_weights({"spam": 5.0}, np.array([3, 1]), names), torch.tensor([1.0, 5.0]))
    from textclf.errors import ConfigError

    with pytest.raises(ConfigError, match="3 weights given but the data has 2 classes"):
        class_weights([1.0, 2.0, 3.0], np.array([3, 1]), names)
    with pytest.raises(ConfigError, match="unknown labels 'eggs'"):
        class_weights({"eggs": 2.0}, np.array([3, 1]), names)


class _Evil:
    """Unpickling this would create a file: a stand-in for code execution."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_malicious_checkpoint_is_refused_and_runs_nothing(tmp_path):
    from textclf.errors import CheckpointError

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"format_version": 1, "payload": _Evil(str(marker))}, path)
    with pytest.raises(CheckpointError, match="refused to load"):
        ModelArtifact.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("nan_at_step, has_checkpoint", [(2, False), (20, True)])
def test_a_diverging_run_stops_with_a_clear_message(mini_config, tmp_path, capsys, monkeypatch,
                                                    nan_at_step, has_checkpoint):
    """The loss becomes NaN at a chosen step (the loss function is wrapped, so the loop's own
    check is what stops the run): in epoch 1, before any checkpoint, or in epoch 2 (15 steps an
    epoch here), after one. Forced, so the test does not depend on the machine's arithmetic."""
    from textclf.cli import main
    from textclf.training import setup as setup_module

    real_setup = setup_module.setup_run

    def setup_with_nan(*args, **kwargs):
        run = real_setup(*args, **kwargs)
        criterion, calls = run.criterion, [0]

        def loss(logits, labels):
            calls[0] += 1
            value = criterion(logits, labels)
            return value * float("nan") if calls[0] == nan_at_step else value

        run.criterion = loss
        return run

    monkeypatch.setattr("textclf.training.recipe.setup_run", setup_with_nan)
    code = main(["train", "--config", str(mini_config), "--run-dir", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 6, err
    epoch = 1 if nan_at_step <= 15 else 2
    assert f"training diverged at epoch {epoch}, step {nan_at_step}: the loss is nan" in err
    assert "lower train.lr" in err and "grad_clip" in err and "Traceback" not in err
    best_path = tmp_path / "r" / "checkpoints" / "best.ckpt"
    assert best_path.is_file() == has_checkpoint
    if has_checkpoint:  # named in the message, and intact
        assert f"the best checkpoint so far (epoch 1) is kept in {best_path}" in err
        best = ModelArtifact.load(best_path)
        assert all(torch.isfinite(v).all() for v in best.state_dict.values())
    else:  # nothing to resume: the folder is removed, so --run-dir can be used again
        assert f"no epoch had finished, so there is no checkpoint and the run folder {tmp_path / 'r'} is removed" in err
        assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("model", [
    {"name": "bag_of_ngrams", "embedding_dim": 16, "buckets": 5000, "tfidf": True},
    {"name": "textcnn", "embedding_dim": 16, "num_filters": 8},
])
def test_other_models_train_resume_and_evaluate_from_their_checkpoint(mini_config, tmp_path, model):
    """The run's whole path for the non-recurrent models: training (SparseAdam for the sparse
    tables), resuming from last.ckpt (the split optimizer's state), and the best checkpoint alone
    giving the recorded validation accuracy (the TF-IDF idf travels in the checkpoint)."""
    import yaml

    from textclf.config import config_from_dict
    from textclf.data import load_corpus
    from textclf.training import resume

    raw = yaml.safe_load(mini_config.read_text())
    raw["model"] = model
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path, ["train.epochs=2", "train.lr=0.01"])
    first = train(config, run_dir=tmp_path / "r", progress=False, final_evaluation=False)
    assert [r["epoch"] for r in first.history] == [1, 2]
    # One more epoch, continuing from the saved state.
    (tmp_path / "r" / "config.yaml").write_text((tmp_path / "r" / "config.yaml").read_text().replace("epochs: 2", "epochs: 3"))
    resumed = resume(tmp_path / "r", progress=False)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]

    best = ModelArtifact.load(tmp_path / "r" / "checkpoints" / "best.ckpt")
    net = best.build_model()
    if model.get("tfidf"):
        assert net.idf.abs().sum() > 0  # fitted on the training split, restored from the file
    val = load_corpus(config_from_dict(best.config))["val"]
    logits = predict_logits(net, best.text_pipeline().encode(val.texts, val.labels))
    accuracy = float((logits.argmax(1) == val.labels).mean())
    assert accuracy == pytest.approx(best.metrics["val/accuracy"])
    assert accuracy > 0.3  # 4 balanced classes: above chance after 2-3 short epochs


def test_train_seed_changes_the_weights_but_not_the_split(mini_config):
    from textclf.training.setup import setup_run

    def first_layer(config):
        parts = setup_run(config)
        prepared = parts.prepared
        return prepared.splits["test"].labels, parts.model.fc.weight.detach().clone(), list(parts.loader.sampler)

    base = load_config(mini_config)
    same = load_config(mini_config, [f"train.seed={base.seed}"])
    other = load_config(mini_config, ["train.seed=1234"])
    labels, weights, order = first_layer(base)
    s_labels, s_weights, s_order = first_layer(same)  # train.seed equal to seed: the same run
    assert np.array_equal(s_labels, labels) and torch.equal(s_weights, weights) and s_order == order
    o_labels, o_weights, o_order = first_layer(other)
    assert np.array_equal(o_labels, labels)  # the same test split
    assert not torch.equal(o_weights, weights) and o_order != order  # another init and batch order


def test_prepared_data_of_the_other_task_are_a_usage_error(mini_config, tmp_path):
    from textclf.config import load_config
    from textclf.errors import UsageError
    from textclf.text.prepare import prepare_data
    from textclf.training.recipe import train

    prepared = prepare_data(load_config(mini_config))
    with pytest.raises(UsageError, match="made for a multiclass task, but the config's task is multilabel"):
        train(load_config(mini_config, ["task=multilabel"]), run_dir=tmp_path / "run", prepared=prepared,
              progress=False)
    assert not (tmp_path / "run").exists()
