"""A recurrent encoder over right-padded batches that never reads padding.

Why not ``pack_padded_sequence``: on CPU its backward pass fills a zero tensor the size of the
whole packed batch for every time step (quadratic in the sequence length: a batch of the study's
400-token BiGRU became an order of magnitude slower). Instead this runs cuDNN/MKL-friendly padded
sequences and keeps them exact:

- the forward direction reads each row left to right; outputs at real positions cannot depend on
  the padding that follows them;
- the backward direction reads each row *reversed within its own length* (padding stays at the
  end), so it starts at the row's true last token, and its outputs are reversed back.

Outputs at padded positions are set to zero, and the final state of each direction is taken at
the row's true last step. A row's results are therefore identical however far its batch pads it.

Prediction on a CPU (``forward_ids``, no gradients) takes a faster road to the same GRU outputs:
the first layer's input projection ``W_ih·x + b_ih`` is computed once per distinct word of the
batch (a batch of posts repeats its words many times; PyTorch's GRU projects every position),
and the recurrence runs as a loop of a few fused operations per step, each step gathering its
words' projections. The outputs agree with ``nn.GRU``'s to float rounding (tests/models).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

__all__ = ["PaddedRNN", "reverse_padded", "gru_steps"]


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row of ``x`` (batch, seq_len, dim) within its first ``lengths[b]`` steps."""
    seq_len = x.size(1)
    steps = torch.arange(seq_len, device=x.device)[None, :]  # (1, seq_len)
    lengths = lengths.to(x.device)[:, None]  # (batch, 1)
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)  # (batch, seq_len)
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.size(2)))


class PaddedRNN(nn.Module):
    """Stacked (bi)directional GRU or LSTM: ``(x, lengths) -> (outputs, last)``.

    outputs: (batch, seq_len, directions * hidden), zero at padded positions
    last:    (batch, directions * hidden), each direction's state after its last real step
    """

    def __init__(
        self,
        cell: Literal["gru", "lstm"],
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        rnn_cls = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.directions = 2 if bidirectional else 1
        self.layers = nn.ModuleList()
        for layer in range(num_layers):
            size = input_size if layer == 0 else hidden_size * self.directions
            self.layers.append(
                nn.ModuleList(rnn_cls(size, hidden_size, batch_first=True) for _ in range(self.directions))
            )
        self.dropout = nn.Dropout(dropout)
        self.output_size = hidden_size * self.directions
        self.cell = cell

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._run(x, lengths)

    def reads_ids(self, ids: torch.Tensor) -> bool:
        """Whether ``forward_ids`` applies to ``ids``: a GRU, on a CPU (a GPU runs cuDNN's fused
        kernel far faster than a loop of small ones), without gradients, and not while the
        model is traced or compiled (a loop would be unrolled to the example's length)."""
        return (self.cell == "gru" and ids.device.type == "cpu" and not torch.is_grad_enabled()
                and not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export()
                and not torch.compiler.is_compiling())

    def forward_ids(self, table: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor):
        """``forward(table[ids], lengths)`` where ``reads_ids(ids)``: the first layer's input
        projection once per distinct word, and the step loop of :func:`gru_steps`."""
        distinct, inverse = torch.unique(ids, return_inverse=True)
        return self._run(None, lengths, (table[distinct], inverse))

    def _run(self, x: torch.Tensor | None, lengths: torch.Tensor, words=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``words``: (the distinct words' vectors, each position's row among them), read by the
        first layer instead of ``x``."""
        device = x.device if x is not None else words[1].device
        seq_len = x.size(1) if x is not None else words[1].size(1)
        lengths = lengths.to(device)
        mask = (torch.arange(seq_len, device=device)[None, :] < lengths[:, None]).unsqueeze(-1)
        last_index = (lengths - 1).view(-1, 1, 1)  # (batch, 1, 1)
        for depth, directions in enumerate(self.layers):
            if depth > 0:
                x = self.dropout(x)
            outputs, finals = [], []
            for d, rnn in enumerate(directions):
                if depth == 0 and words is not None:
                    vectors, rows = words
                    rows = rows if d == 0 else reverse_padded(rows.unsqueeze(-1), lengths).squeeze(-1)
                    out = gru_steps(rnn, vectors, rows)
                else:
                    # (batch, seq_len, hidden), in reading order
                    out, _ = rnn(x if d == 0 else reverse_padded(x, lengths))
                # The state after the last real step sits at position length-1 in reading order.
                finals.append(out.gather(1, last_index.expand(-1, 1, out.size(2))).squeeze(1))
                outputs.append(out if d == 0 else reverse_padded(out, lengths))
            x = torch.cat(outputs, dim=2) * mask  # (batch, seq_len, directions * hidden)
        return x, torch.cat(finals, dim=1)


def gru_steps(rnn: nn.GRU, vectors: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """The outputs (batch, seq_len, hidden) of ``rnn`` (one layer, one direction, batch first)
    on the input ``vectors[rows]`` (``rows``: (batch, seq_len)), from a zero state. The input
    projection is computed once per row of ``vectors``; each step gathers its positions' gates
    and applies PyTorch's GRU cell: r, z = σ(W_i·x + b_i + W_h·h + b_h) for the first two thirds,
    n = tanh(W_in·x + b_in + r ⊙ (W_hn·h + b_hn)), h' = n + z ⊙ (h − n)."""
    hidden = rnn.hidden_size
    gates = torch.addmm(rnn.bias_ih_l0, vectors, rnn.weight_ih_l0.t())  # (distinct, 3 * hidden)
    w_hh, b_hh = rnn.weight_hh_l0.t().contiguous(), rnn.bias_hh_l0
    steps = rows.t().contiguous()  # (seq_len, batch): each step's rows, contiguous
    h = vectors.new_zeros(rows.size(0), hidden)
    out = vectors.new_empty(rows.size(1), rows.size(0), hidden)
    for t in range(rows.size(1)):
        x_gates = gates.index_select(0, steps[t])
        h_gates = torch.addmm(b_hh, h, w_hh)
        rz = torch.sigmoid_(x_gates[:, : 2 * hidden] + h_gates[:, : 2 * hidden])
        n = torch.tanh_(torch.addcmul(x_gates[:, 2 * hidden:], rz[:, :hidden], h_gates[:, 2 * hidden:]))
        h = torch.lerp(n, h.to(n.dtype), rz[:, hidden:])  # (under autocast, the gates' lower precision)
        out[t] = h
    return out.transpose(0, 1)
