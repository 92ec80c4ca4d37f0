"""Tests every registered model must pass (one parametrized suite, as in timm)."""

import pytest
import torch

from textclf.errors import ConfigError
from textclf.models import build_model, list_models
from textclf.models.rnn import PaddedRNN, reverse_padded

VOCAB, CLASSES = 60, 5
SMALL = {"embedding_dim": 12, "hidden_size": 10}


def batch():
    torch.manual_seed(0)
    lengths = torch.tensor([9, 4, 1, 6])
    ids = torch.randint(2, VOCAB, (4, 9))
    ids[torch.arange(9)[None, :] >= lengths[:, None]] = 0
    return ids, lengths


def variants():
    for name in list_models():
        yield pytest.param(name, {}, id=name)
        yield pytest.param(name, {"num_layers": 2, "bidirectional": True}, id=f"{name}-2layer-bi")
        yield pytest.param(name, {"bidirectional": False}, id=f"{name}-uni")


@pytest.mark.parametrize("name,extra", list(variants()))
def test_logits_do_not_depend_on_padding(name, extra):
    torch.manual_seed(1)
    model = build_model(name, {**SMALL, **extra}, VOCAB, CLASSES).eval()
    ids, lengths = batch()
    logits = model(ids, lengths)
    assert logits.shape == (4, CLASSES)
    padded = torch.cat([ids, torch.zeros(4, 23, dtype=ids.dtype)], dim=1)
    torch.testing.assert_close(model(padded, lengths), logits, rtol=0, atol=1e-6)
    # Each document alone, padded only to its own length, gives the same logits as in the batch.
    for row in range(4):
        alone = model(ids[row : row + 1, : lengths[row]], lengths[row : row + 1])
        torch.testing.assert_close(alone, logits[row : row + 1], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", list_models())
def test_every_parameter_gets_a_gradient(name):
    model = build_model(name, SMALL, VOCAB, CLASSES).train()
    ids, lengths = batch()
    torch.nn.functional.cross_entropy(model(ids, lengths), torch.tensor([0, 1, 2, 3])).backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), pname
        assert param.grad.abs().sum() > 0, pname


def test_unknown_model_and_parameter_errors_list_valid_choices():
    with pytest.raises(ConfigError, match="valid names: bigru_attention, lstm"):
        build_model("transformer", {}, VOCAB, CLASSES)
    with pytest.raises(ConfigError, match="did you mean 'hidden_size'"):
        build_model("lstm", {"hiden_size": 3}, VOCAB, CLASSES)


def test_study_model_has_the_study_size():
    model = build_model("bigru_attention", {}, 50000, 20)
    assert sum(p.numel() for p in model.parameters()) == 10_461_973  # "~10.46 M" in the study


def test_attention_is_exactly_zero_on_padding():
    model = build_model("bigru_attention", SMALL, VOCAB, CLASSES).eval()
    ids, lengths = batch()
    _, weights = model(ids, lengths, return_attention=True)
    mask = torch.arange(9)[None, :] < lengths[:, None]
    assert torch.all(weights[~mask] == 0)
    torch.testing.assert_close(weights.sum(1), torch.ones(4))


def test_reverse_padded_reverses_within_length():
    x = torch.arange(8.0).view(2, 4, 1)
    out = reverse_padded(x, torch.tensor([3, 4]))
    assert out.squeeze(-1).tolist() == [[2, 1, 0, 3], [7, 6, 5, 4]]


def test_lstm_final_state_is_the_true_last_step_not_the_padded_one():
    """Compare with PyTorch's own LSTM run on each unpadded sequence."""
    torch.manual_seed(0)
    rnn = PaddedRNN("lstm", 3, 4, bidirectional=True)
    x = torch.randn(2, 6, 3)
    lengths = torch.tensor([6, 2])
    _, last = rnn(x, lengths)
    fwd, bwd = rnn.layers[0]
    for row in range(2):
        seq = x[row : row + 1, : lengths[row]]
        _, (h_f, _) = fwd(seq)
        _, (h_b, _) = bwd(seq.flip(1))
        torch.testing.assert_close(last[row], torch.cat([h_f[0, 0], h_b[0, 0]]))
