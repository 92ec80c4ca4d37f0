"""The optimizer of a run, and gradient clipping that also handles sparse gradients.

Embedding tables built with ``sparse=True`` get sparse gradients: only the rows of the batch's
tokens. Dense optimizers would update every row of the table at every step (the study's
embedding alone is 10 M parameters); those tables go to :class:`RowAdam` instead (SparseAdam's
algorithm, state and numbers, stepped row by row: below), and the other parameters to the
configured AdamW/Adam. SparseAdam has no weight decay, so ``train.weight_decay`` applies to the
dense parameters only.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from textclf.config import TrainConfig

__all__ = ["RowAdam", "SplitOptimizer", "make_optimizer", "sparse_parameters", "gradient_values", "clip_gradients"]


def sparse_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Weights of the embedding tables that produce sparse gradients."""
    return [
        m.weight for m in model.modules()
        if isinstance(m, (nn.Embedding, nn.EmbeddingBag)) and m.sparse and m.weight.requires_grad
    ]


# RowAdam updates the rows of a step in pieces of about this many values (512 rows of 128): in a
# micro-benchmark of the update alone, on one thread 256-512 rows of 128 were fastest, on two
# 512-2,048 (below 32,768 values torch runs an operation on one thread).
_PIECE = 65_536


class RowAdam(torch.optim.SparseAdam):
    """``torch.optim.SparseAdam`` with a faster step: the same update, state (``step``,
    ``exp_avg``, ``exp_avg_sq``; checkpoints load either way) and results to float rounding.

    SparseAdam reads the moments of the gradient's rows with ``sparse_mask`` and writes them back
    by adding sparse tensors, each a pass over sparse machinery; gathering the rows once
    (``index_select``), updating them densely and writing them back (``index_copy_``,
    ``scatter_add_``) does the same arithmetic in about half the time: the optimizer was half of
    a bag epoch on 20 Newsgroups (``benchmarks/sparse_adam.py``)."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            eps, lr = group["eps"], float(group["lr"])
            sign = -1.0 if group.get("maximize", False) else 1.0
            for p in group["params"]:
                if p.grad is None:
                    continue
                if not p.grad.is_sparse:
                    raise RuntimeError("RowAdam (SparseAdam) needs sparse gradients; use Adam for dense ones")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                grad = coalesced(p.grad)  # the update is not linear: each row once
                rows, values = grad.indices()[0], grad.values()
                if values.numel() == 0:
                    continue
                if sign < 0:
                    values = -values
                step = state["step"]
                step_size = lr * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
                # In pieces of about _PIECE values: each piece's gathered rows and the temporaries
                # of the arithmetic below stay in the core's cache between the passes over them,
                # where the whole batch's rows (tens of MB for a bag) went through memory at each
                # pass. The same arithmetic element by element, to the bit: the update alone took
                # 0.55-0.6 times as long at 20,000-60,000 rows of 128, the default bag's step on 20
                # Newsgroups 0.83 times (benchmarks/sparse_adam.py; docs/architecture.md).
                piece = max(1, _PIECE // max(1, values[0].numel()))
                for start in range(0, len(rows), piece):
                    self._update(p, state, rows[start:start + piece], values[start:start + piece], beta1, beta2,
                                 eps, step_size)
        return loss

    @staticmethod
    def _update(p: torch.Tensor, state: dict, rows: torch.Tensor, values: torch.Tensor, beta1: float, beta2: float,
                eps: float, step_size: float) -> None:
        exp_avg = state["exp_avg"].index_select(0, rows).lerp_(values, 1 - beta1)
        exp_avg_sq = state["exp_avg_sq"].index_select(0, rows).mul_(beta2).addcmul_(values, values, value=1 - beta2)
        state["exp_avg"].index_copy_(0, rows, exp_avg)
        state["exp_avg_sq"].index_copy_(0, rows, exp_avg_sq)
        # A row's zero entries (dropout zeroes a document's columns, and a row read by one
        # document then has zero gradient there) took torch's sqrt 5-10 x as long as the rest;
        # raised to 1e-30 they take no longer, and the denominator moves by at most 1e-15 beside
        # eps (float rounding). The rows are distinct (coalesced), so the update is a
        # scatter_add_, 2-3 x faster than index_add_ on the CPU.
        update = exp_avg.div_(exp_avg_sq.clamp_min_(1e-30).sqrt_().add_(eps)).mul_(-step_size)
        p.scatter_add_(0, rows.unsqueeze(1).expand_as(update), update)


class SplitOptimizer:
    """Several optimizers stepped as one (same interface as a ``torch.optim.Optimizer`` for the
    loop, the LR finder and checkpoints)."""

    def __init__(self, optimizers: list[torch.optim.Optimizer]):
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict]:
        return [group for opt in self.optimizers for group in opt.param_groups]

    @property
    def state(self) -> dict:
        return {p: st for opt in self.optimizers for p, st in opt.state.items()}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()

    def state_dict(self) -> dict:
        return {"optimizers": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, state: dict) -> None:
        if len(state.get("optimizers", [])) != len(self.optimizers):
            raise ValueError("optimizer state does not match: the model's sparse layers differ")
        for opt, saved in zip(self.optimizers, state["optimizers"]):
            opt.load_state_dict(saved)


def make_optimizer(
    t: TrainConfig, model: nn.Module, lr: float | None = None, weight_decay: float | None = None
) -> torch.optim.Optimizer | SplitOptimizer:
    lr = t.lr if lr is None else lr
    weight_decay = t.weight_decay if weight_decay is None else weight_decay
    cls = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}[t.optimizer]
    sparse = sparse_parameters(model)
    sparse_ids = {id(p) for p in sparse}
    dense = [p for p in model.parameters() if p.requires_grad and id(p) not in sparse_ids]
    if not sparse:
        return cls(dense, lr=lr, weight_decay=weight_decay)
    parts = [cls(dense, lr=lr, weight_decay=weight_decay)] if dense else []
    return SplitOptimizer(parts + [RowAdam(sparse, lr=lr)])


def coalesced(grad: torch.Tensor) -> torch.Tensor:
    """A sparse gradient with each row once (``coalesce``). A table's gradient from
    ``models.base.sparse_bag`` already is, but autograd's accumulation into ``.grad`` drops its
    mark, and ``coalesce`` then sorts it again (a millisecond a table a step): rows that already
    increase strictly are only marked."""
    if grad.is_coalesced():
        return grad
    rows = grad._indices()
    if rows.size(0) == 1 and bool((rows[0, 1:] > rows[0, :-1]).all()):
        return grad._coalesced_(True)
    return grad.coalesce()


def gradient_values(p: torch.Tensor) -> torch.Tensor | None:
    """The gradient's stored values: the tensor itself when dense, the (coalesced) touched rows
    when sparse; None when there is no gradient."""
    if p.grad is None:
        return None
    if p.grad.is_sparse:
        p.grad = coalesced(p.grad)  # duplicate rows summed, so norms are the true ones
        return p.grad._values()
    return p.grad


@torch.no_grad()
def clip_gradients(parameters, max_norm: float | None) -> torch.Tensor:
    """Global L2 norm of all gradients before clipping (``clip_grad_norm_`` for mixed sparse and
    dense gradients); scales them down to ``max_norm`` when given."""
    grads = [g for g in map(gradient_values, parameters) if g is not None]
    if not grads:
        return torch.tensor(0.0)
    if hasattr(torch.nn.utils, "get_total_norm"):  # torch 2.6+: one fused kernel per device on a GPU
        total = torch.nn.utils.get_total_norm(grads, 2.0)  # (a MiniLM has 100 tensors: 100 launches before)
    else:
        total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
    if max_norm is not None and torch.isfinite(total):
        scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
        torch._foreach_mul_(grads, scale.to(grads[0].dtype))
    return total
