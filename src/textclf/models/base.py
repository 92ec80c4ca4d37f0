"""What every model is given and what it declares.

A model is built from its validated parameters and a :class:`BuildContext` — the one object that
says how many tokens and classes there are, which id pads, the task, and the tokens' strings — and is a
:class:`TextClassifier`: ``forward(ids, lengths) -> logits``, computed as
``classify(embed(ids), ids, lengths)``::

    ids:      (batch, seq_len) int64, right-padded with ``pad_id``
    lengths:  (batch,) int64, the true length of each row (>= 1)
    embed:    ids -> (batch, seq_len, dim) token vectors
    classify: (token vectors, ids, lengths) -> (batch, num_classes) logits

Gradient × input explanations differentiate ``classify`` with respect to ``embed``'s output, so
every model can be explained without hooks. Capabilities are declared as class attributes, never
discovered:

- ``needs_statistics``: ``fit_statistics(batches)`` is called once on a fresh model with the
  training split's ``(ids, lengths)`` batches (TF-IDF weights), and keeps what it learns in
  buffers, so model artifacts carry it;
- ``has_attention``: ``forward(ids, lengths, return_attention=True)`` returns ``(logits,
  weights)`` with one weight per token, which explanations show instead of gradients;
- ``max_batch_tokens``: evaluation batches hold at most this many padded tokens (a transformer's
  attention memory grows with batch × length²); None: only the batch size counts;
- ``onnx_batch_rows``: an ONNX export of the model runs at most this many documents per
  onnxruntime call, whatever the prediction batch size (its graph's intermediate tensors
  outgrow the caches on larger batches: ``inference/runners.py``);
- ``uses_every_parameter``: every training step's loss depends on every trainable parameter
  (no branch leaves one out), so DistributedDataParallel need not search the graph for unused
  ones at each step (``find_unused_parameters=False``: faster, and no per-rank warning);
- ``caches_features``: ``precompute_features(splits, folder, batches, progress=)`` is called once on a
  fresh model with every encoded split, before training (a frozen pretrained encoder computes
  each document's vector once; ``folder`` keeps them for later runs, and the final evaluation's
  model reads them back).

``artifact_params(params)`` gives the parameters a model artifact stores (by default those of the
config; a model may add what rebuilding it without its sources needs).

``solver``: None (the default: the epoch loop trains the model), or the name of a convex solver
that fits it in one pass over the training split instead (``training/solver.py``); such a model
gives each batch as rows of a sparse feature matrix (``sparse_features(ids, lengths)``: row,
column and value tensors, ``feature_columns`` columns in all) and takes the solver's weights
(``set_coefficients(coef, intercept)``), logits being ``features @ coef.T + intercept``.
``SOLVER_SETTING`` names each solver's setting that a list may try on validation (the model
keeps the value chosen, and its artifact stores it).

``regularization()`` gives a penalty to add to the last training batch's loss (an L2 term on
the weights it read), or None (the default).

``export_module()`` gives what ONNX export traces (the model itself unless an operation of its
fast forward has no ONNX form).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Iterable

import torch
from torch import nn

from textclf.precision import before_compile

__all__ = ["BuildContext", "TextClassifier", "lookup", "sparse_bag", "SOLVER_SETTING"]

# Each solver's setting that may be a list: its values tried on validation, the best kept.
SOLVER_SETTING: dict[str, str] = {"svm": "C", "nbsvm": "C", "nb": "alpha"}


@dataclass(frozen=True)
class BuildContext:
    vocab_size: int
    num_classes: int
    pad_id: int = 0
    task: str = "multiclass"
    # The vocabulary's words in id order, special tokens as "" (bag_of_ngrams' character n-grams
    # read them; text.vocabulary.word_strings); empty where the caller has none.
    tokens: tuple[str, ...] = ()
    # A pipeline that gives long documents in windows (``ModelParams.input_windows``): the
    # sub-words of one window, [CLS] … [SEP] included; a document is its windows back to back,
    # each of this length but the last. 0: one window (no splitting).
    window: int = 0


class TextClassifier(nn.Module):
    needs_statistics: ClassVar[bool] = False
    has_attention: ClassVar[bool] = False
    caches_features: ClassVar[bool] = False
    max_batch_tokens: ClassVar[int | None] = None
    onnx_batch_rows: ClassVar[int] = 64
    uses_every_parameter: ClassVar[bool] = False
    solver: str | None = None

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """(batch, seq_len, dim) token vectors; by default the ``embedding`` table's rows."""
        table = self.embedding
        return _eager(table, ids) if table.sparse else table(ids)  # (see lookup)

    def classify(self, embedded: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(ids), ids, lengths)

    def adapt(self, split, take, device: torch.device, precision: str = "fp32", seed: int = 0,
              progress=None) -> None:
        """Before training, after ``fit_statistics``: adapt pretrained parts to the training split
        (an EncodedSplit, labels included; ``take(indices)`` gives its documents as one padded
        batch), e.g. a transformer's contrastive stage; nothing by default."""
        return None

    def regularization(self) -> torch.Tensor | None:
        """A term to add to the loss of the training batch just computed, or None."""
        return None

    def export_module(self) -> nn.Module:
        """A module whose ``forward(ids, lengths)`` gives the same logits and that ONNX can
        trace with dynamic batch and length axes (``textclf export``); by default the model.
        With ``export_inputs``, its forward takes the feeds that ``graph_inputs.graph_feeds``
        makes of those instead."""
        return self

    def export_inputs(self) -> dict[str, Any] | None:
        """What the export's graph is fed instead of the padded ids and lengths, as
        ``textclf/graph_inputs.py`` names it (stored in the export's textclf.json); None: the ids."""
        return None

    def export_subwords(self) -> tuple[Any, Any] | None:
        """The words' character n-gram table (``graph_inputs.subword_table``'s offsets and rows)
        that ``export_inputs``' feeds need, written beside the graph; None by default."""
        return None

    def artifact_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters stored in model artifacts, from those of the config."""
        return params

    def precompute_features(self, splits, folder, batches, progress=None) -> None:
        raise NotImplementedError(f"{type(self).__name__} declares no cached features")

    def fit_statistics(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> None:
        raise NotImplementedError(f"{type(self).__name__} declares no training statistics")


def lookup(table: nn.Embedding, rows: torch.Tensor, padding_idx: int | None = None) -> torch.Tensor:
    """``table``'s ``rows``, with a gradient as sparse as the table's (``padding_idx``'s row gets
    none). A sparse lookup runs outside ``torch.compile``'s graphs (``train.compile``): Inductor
    cannot lower its backward, so the graph breaks there on purpose rather than after a failed
    attempt and a warning at every new shape."""
    if table.sparse:
        return _eager(nn.functional.embedding, rows, table.weight, padding_idx=padding_idx, sparse=True)
    return nn.functional.embedding(rows, table.weight, padding_idx=padding_idx)


def sparse_bag(table: nn.Embedding, rows: torch.Tensor, weights: torch.Tensor, offsets: torch.Tensor | None = None,
               padding_idx: int | None = None) -> torch.Tensor:
    """``embedding_bag``'s weighted sums (mode sum) of a sparse ``table``'s ``rows`` (2-D: a bag a
    row; 1-D: bags from ``offsets``), with a gradient that has one entry per distinct row read,
    already coalesced (``padding_idx``'s row gets none); ``weights`` get no gradient.

    Its backward is the forward's kernel turned round: the positions sorted by row are bags of
    their own, one a distinct row, that sum the documents' gradients with the same weights. It
    replaced autograd's route (a lookup of the distinct rows, ``embedding_bag``'s dense backward,
    the sparse lookup's backward and a coalesce): the same sums in another order (float rounding),
    and a training step of the default's bag on 1,557 news posts about 20 → 17 ms with
    ``optimizer.coalesced`` (``RowAdam``'s own changes had taken it from 25 to 20)."""
    return _eager(_SparseBag.apply, table.weight, rows, weights, offsets, padding_idx)


class _SparseBag(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight, rows, weights, offsets, padding_idx):
        ctx.save_for_backward(rows, weights, offsets)
        ctx.shape, ctx.dtype, ctx.padding_idx = weight.shape, weight.dtype, padding_idx
        return nn.functional.embedding_bag(rows, weight, offsets, mode="sum", per_sample_weights=weights)

    @staticmethod
    def backward(ctx, grad):
        rows, weights, offsets = ctx.saved_tensors
        positions = torch.arange(grad.size(0), device=rows.device)
        if offsets is None:  # (bags, width)
            bags = positions.repeat_interleave(rows.size(1))
        else:
            ends = torch.cat([offsets[1:], offsets.new_tensor([rows.numel()])])
            bags = positions.repeat_interleave(ends - offsets)
        ordered, order = torch.sort(rows.reshape(-1), stable=True)
        first = torch.ones_like(ordered, dtype=torch.bool)
        first[1:] = ordered[1:] != ordered[:-1]
        starts = first.nonzero().squeeze(1)
        values = nn.functional.embedding_bag(bags[order], grad.contiguous(), starts, mode="sum",
                                             per_sample_weights=weights.reshape(-1)[order].to(grad.dtype))
        distinct = ordered[starts]
        if ctx.padding_idx is not None:
            distinct, values = _without_row(distinct, values, ctx.padding_idx)
        table_grad = torch.sparse_coo_tensor(distinct.unsqueeze(0), values.to(ctx.dtype), ctx.shape, is_coalesced=True,
                                             check_invariants=False)
        return table_grad, None, None, None, None


def _without_row(rows: torch.Tensor, values: torch.Tensor, row: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted distinct ``rows`` and their ``values`` without ``row``; the models' padding rows are
    their tables' first or last, so that is a view, not a copy of the values."""
    at = int(torch.searchsorted(rows, row))
    if at == rows.numel() or int(rows[at]) != row:
        return rows, values
    if at in (0, rows.numel() - 1):
        keep = slice(1, None) if at == 0 else slice(None, -1)
        return rows[keep], values[keep]
    return torch.cat([rows[:at], rows[at + 1:]]), torch.cat([values[:at], values[at + 1:]])


def _eager(function, *args, **kwargs):
    return function(*args, **kwargs)


@before_compile
def _sparse_lookups_stay_eager() -> None:
    """Before anything is compiled: ``_eager`` (which ``lookup`` reads at each call) becomes
    opaque to the compiler. Marked then rather than at import, since marking imports the compiler."""
    global _eager
    if not getattr(_eager, "_textclf_eager", False):
        _eager = torch.compiler.disable(_eager)
        _eager._textclf_eager = True
