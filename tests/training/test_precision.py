"""train.precision and train.compile on the CPU (bf16 autocast, torch.compile with C++ Inductor):
the code paths a GPU runs, so CI covers them. fp16 needs a GPU (benchmarks/gpu.py runs it there)."""

import numpy as np
import pytest
import torch

from textclf.config import load_config
from textclf.errors import ConfigError
from textclf.inference import Predictor, predict_logits
from textclf.training import train


def test_bf16_trains_validates_and_predicts_in_bf16(mini_config, tmp_path):
    fp32 = train(load_config(mini_config, ["train.epochs=1"]), run_dir=tmp_path / "fp32", progress=False)
    bf16 = train(load_config(mini_config, ["train.epochs=1", "train.precision=bf16"]), run_dir=tmp_path / "bf16",
                 progress=False)
    a, b = fp32.history[0], bf16.history[0]
    # Same seed, same batches: the losses differ only by bfloat16's rounding.
    assert a["train/loss"] != b["train/loss"]
    assert b["train/loss"] == pytest.approx(a["train/loss"], rel=0.05)
    predictor = Predictor.load(tmp_path / "bf16" / "checkpoints" / "best.ckpt")
    assert predictor.runners[0].precision == "bf16"
    texts = ["the goalie saved the puck in overtime", "my hard drive controller fails to boot", "god and faith"] * 4
    encoded = predictor.encode(texts)[0]
    model = predictor.models[0]
    in_fp32 = predict_logits(model, encoded)
    in_bf16 = predictor.runners[0].logits(encoded, 256)
    # The predictor computes in bfloat16 (the run's precision): close to float32, not equal.
    assert not np.array_equal(in_fp32, in_bf16)
    np.testing.assert_allclose(in_bf16, in_fp32, atol=0.1)
    assert bf16.test_metrics["accuracy"] > 0.25  # the majority class's share


def test_compile_runs_the_forward_through_inductor(mini_config, tmp_path):
    from torch._dynamo.utils import counters

    counters.clear()
    config = load_config(mini_config, ["train.epochs=1", "train.compile=true"])
    result = train(config, run_dir=tmp_path / "r", progress=False)
    assert counters["stats"]["unique_graphs"] >= 1  # compiled graphs, not an eager fallback
    # The graph breaks only where it is meant to: around the sparse embedding lookup (run eagerly
    # on purpose) and the GRU (Dynamo leaves recurrent layers to their own kernels).
    for reason in counters["graph_break"]:
        assert "torch.compiler.disable" in reason or "RNN, GRU, or LSTM" in reason, reason
    assert result.test_metrics["accuracy"] > 0.25
    predictor = Predictor.load(tmp_path / "r" / "checkpoints" / "best.ckpt")
    assert isinstance(predictor.runners[0].forward, torch._dynamo.eval_frame.OptimizedModule)
    np.testing.assert_allclose(predictor.runners[0].logits(predictor.encode(["a hockey game"])[0], 8),
                               predict_logits(predictor.models[0], predictor.encode(["a hockey game"])[0]),
                               rtol=1e-4, atol=1e-4)


def test_fp16_on_a_cpu_is_refused_before_anything_is_written(mini_config, tmp_path):
    config = load_config(mini_config, ["train.precision=fp16", "train.device=cpu"])
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        train(config, run_dir=tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()
