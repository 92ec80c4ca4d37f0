"""The sparse tables' optimizer: RowAdam is SparseAdam's algorithm, faster, with its state."""

from __future__ import annotations

import copy

import torch
from torch import nn

from textclf.training.optimizer import RowAdam, coalesced


def _embedding_steps(optimizer_class, steps: int = 6, lr: float = 0.05, **kwargs):
    torch.manual_seed(0)
    table = nn.Embedding(50, 8, sparse=True)
    optimizer = optimizer_class(table.parameters(), lr=lr, **kwargs)
    batches = torch.Generator().manual_seed(1)
    for _ in range(steps):
        # repeated rows and rows some steps skip: the lazy moments and the coalescing both matter;
        ids = torch.randint(0, 20, (4, 7), generator=batches)
        weights = torch.randn(4, 7, 8, generator=batches)
        # zeros as dropout leaves them: rows whose moments stay exactly 0 in some columns
        weights = weights * (torch.rand(4, 7, 8, generator=batches) > 0.3)
        optimizer.zero_grad()
        (table(ids) * weights).sum().backward()
        optimizer.step()
    return table, optimizer


def test_row_adam_takes_sparse_adams_steps():
    ours, ours_opt = _embedding_steps(RowAdam)
    theirs, theirs_opt = _embedding_steps(torch.optim.SparseAdam)
    torch.testing.assert_close(ours.weight, theirs.weight, rtol=1e-5, atol=1e-6)
    assert not torch.equal(ours.weight, _embedding_steps(RowAdam, steps=0)[0].weight)  # it did move
    for key in ("exp_avg", "exp_avg_sq"):
        torch.testing.assert_close(ours_opt.state[ours.weight][key], theirs_opt.state[theirs.weight][key])
    assert ours_opt.state[ours.weight]["step"] == theirs_opt.state[theirs.weight]["step"] == 6
    untouched = torch.arange(20, 50)
    assert torch.equal(ours.weight[untouched], _embedding_steps(RowAdam, steps=0)[0].weight[untouched])


def test_row_adam_in_pieces_takes_the_same_steps_to_the_bit(monkeypatch):
    """A step's rows are updated a piece at a time (a few hundred rows: they stay in the cache);
    in pieces of 3 rows (the last one shorter) the weights and moments are those of one piece."""
    import textclf.training.optimizer as optimizer

    whole, whole_opt = _embedding_steps(RowAdam)
    monkeypatch.setattr(optimizer, "_PIECE", 3 * 8)
    pieces, pieces_opt = _embedding_steps(RowAdam)
    assert torch.equal(whole.weight, pieces.weight)
    for key in ("exp_avg", "exp_avg_sq"):
        assert torch.equal(whole_opt.state[whole.weight][key], pieces_opt.state[pieces.weight][key])


def test_row_adam_maximizes_when_asked():
    ours, _ = _embedding_steps(RowAdam, maximize=True)
    theirs, _ = _embedding_steps(torch.optim.SparseAdam, maximize=True)
    torch.testing.assert_close(ours.weight, theirs.weight, rtol=1e-5, atol=1e-6)


def test_row_adam_resumes_from_a_sparse_adam_state():
    """A checkpoint written by a run that used SparseAdam goes on with RowAdam as it would have."""
    theirs, theirs_opt = _embedding_steps(torch.optim.SparseAdam, steps=3)
    ours = nn.Embedding(50, 8, sparse=True)
    ours.load_state_dict(theirs.state_dict())
    ours_opt = RowAdam(ours.parameters(), lr=0.05)
    ours_opt.load_state_dict(copy.deepcopy(theirs_opt.state_dict()))  # (else both share the moments)
    ids = torch.tensor([[1, 2, 2, 30]])
    for table, optimizer in ((ours, ours_opt), (theirs, theirs_opt)):
        optimizer.zero_grad()
        table(ids).sum().backward()
        optimizer.step()
    torch.testing.assert_close(ours.weight, theirs.weight, rtol=1e-5, atol=1e-6)


def test_a_gradient_whose_rows_increase_is_marked_coalesced_and_any_other_is_coalesced():
    values = torch.arange(12.0).reshape(3, 4)
    increasing = torch.sparse_coo_tensor(torch.tensor([[1, 4, 9]]), values, (10, 4), check_invariants=False)
    assert not increasing.is_coalesced()
    marked = coalesced(increasing)
    assert marked.is_coalesced() and marked._indices()[0].tolist() == [1, 4, 9]
    assert torch.equal(marked._values(), values)
    repeated = torch.sparse_coo_tensor(torch.tensor([[4, 1, 4]]), values, (10, 4), check_invariants=False)
    summed = coalesced(repeated)
    assert summed.is_coalesced() and summed._indices()[0].tolist() == [1, 4]
    torch.testing.assert_close(summed.to_dense(), repeated.to_dense())
