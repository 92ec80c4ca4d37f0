"""textclf sanity and textclf lr-find on small real data."""

import json

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from textclf.cli import main
from textclf.config import load_config
from textclf.models import registry
from textclf.models.bigru_attention import BiGRUAttention, BiGRUAttentionParams
from textclf.training.lr_finder import lr_range_test
from textclf.training.setup import setup_run


def test_sanity_passes_on_a_healthy_model(mini_config, tmp_path, capsys):
    out = tmp_path / "sanity"
    assert main(["sanity", "--config", str(mini_config), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "vs ln(4) = 1.3863" in printed and "PASSED" in printed
    result = json.loads((out / "sanity.json").read_text())
    assert result["passed"] and result["overfit_accuracy"] == 1.0 and result["overfit_loss"] < 0.01
    assert abs(result["initial_loss"] - result["expected_loss"]) < 0.1
    assert (out / "overfit_curve.png").stat().st_size > 1000
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert "sanity/overfit_loss" in events.Tags()["scalars"]


class _CutGradient(BiGRUAttention):
    """A broken model: the embedding's output is detached, so the embedding never learns."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.embedding.register_forward_hook(lambda module, inputs, output: output.detach())


@pytest.fixture
def cut_model():
    registry.register_model("cut_gradient", BiGRUAttentionParams)(_CutGradient)
    yield "cut_gradient"
    registry._REGISTRY.remove("cut_gradient")


def test_sanity_fails_on_a_model_whose_gradients_are_cut(mini_config, tmp_path, capsys, cut_model):
    code = main(["sanity", "--config", str(mini_config), "--output", str(tmp_path / "s"),
                 "--set", f"model.name={cut_model}", "--steps", "20"])
    err = capsys.readouterr().err
    assert code == 1
    assert "no finite non-zero gradient for embedding.weight" in err


def test_sanity_strict_turns_warnings_into_failures(mini_config, tmp_path, capsys):
    # A zero tolerance makes any gap a warning.
    from textclf.training.sanity import run_sanity

    config = load_config(mini_config)
    result = run_sanity(config, tmp_path / "s", max_steps=1, max_relative_gap=0.0)
    assert result.warnings and "away from ln(4)" in result.warnings[0]
    assert not result.passed  # one step cannot overfit
    assert "could not overfit" in result.failures[0]


def test_lr_find_restores_the_model_bit_for_bit(mini_config, tmp_path):
    config = load_config(mini_config)
    parts = setup_run(config)
    device = parts.device
    before = {k: v.clone() for k, v in parts.model.state_dict().items()}
    lr_before = parts.optimizer.param_groups[0]["lr"]
    rng_before = torch.get_rng_state()
    result = lr_range_test(parts.model, parts.optimizer, parts.criterion, parts.loader, device,
                           min_lr=1e-5, max_lr=10, steps=50)
    for key, value in parts.model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert parts.optimizer.param_groups[0]["lr"] == lr_before and not parts.optimizer.state
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert 1e-5 <= result.suggestion <= 10
    assert result.window[0] <= result.window[1]
    assert "exceeded" in result.stop_reason  # lr 10 blows the loss up


def test_lr_find_command_writes_plot_data_and_tensorboard(mini_config, tmp_path, capsys):
    out = tmp_path / "lr"
    assert main(["lr-find", "--config", str(mini_config), "--output", str(out), "--steps", "40",
                 "--max-lr", "10"]) == 0
    assert "suggested lr" in capsys.readouterr().out
    data = json.loads((out / "lr_find.json").read_text())
    assert len(data["lrs"]) == len(data["smoothed"]) <= 40 and data["rule"]
    assert (out / "lr_find.png").stat().st_size > 1000
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert {"lr_find/loss", "lr_find/smoothed_loss", "lr_find/lr"} <= set(events.Tags()["scalars"])
