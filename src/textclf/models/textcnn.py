"""Kim (2014): embedding → parallel 1-d convolutions of several widths → max over time → linear.

Padding-safe: every convolution is *wide* (``width - 1`` zeros on both sides of the document),
padded positions of the embeddings are zeroed, and a window is kept for the max only if it
overlaps at least one real token (window starts ``0 .. length + width - 2``). A document thus
gets the same logits however far its batch pads it, and documents shorter than the widest
filter still get a full set of features.
"""

from __future__ import annotations

import torch
from pydantic import Field, field_validator
from torch import nn

from textclf.models.base import BuildContext, TextClassifier
from textclf.models.registry import ModelParams, register_model

__all__ = ["TextCNN", "TextCNNParams"]


class TextCNNParams(ModelParams):
    embedding_dim: int = Field(200, ge=1)
    filter_widths: list[int] = [3, 4, 5]
    num_filters: int = Field(100, ge=1)  # per width
    dropout_embed: float = Field(0.1, ge=0, lt=1)
    dropout: float = Field(0.5, ge=0, lt=1)

    @field_validator("filter_widths")
    @classmethod
    def _widths(cls, widths: list[int]) -> list[int]:
        if not widths or any(w < 1 for w in widths):
            raise ValueError("needs one or more filter widths, each >= 1, for example [3, 4, 5]")
        return widths


@register_model("textcnn", TextCNNParams)
class TextCNN(TextClassifier):
    uses_every_parameter = True  # (DDP: no search for unused parameters)
    onnx_batch_rows = 16  # its export ran faster in onnxruntime on 16 documents a call than on 64 (RESULTS.md, onnx-profile-textcnn)
    def __init__(self, params: TextCNNParams, context: BuildContext):
        super().__init__()
        self.embedding = nn.Embedding(context.vocab_size, params.embedding_dim, padding_idx=context.pad_id)
        self.dropout_embed = nn.Dropout(params.dropout_embed)
        self.widths = list(params.filter_widths)
        self.convs = nn.ModuleList(
            nn.Conv1d(params.embedding_dim, params.num_filters, w, padding=w - 1) for w in self.widths
        )
        self.dropout = nn.Dropout(params.dropout)
        self.fc = nn.Linear(params.num_filters * len(self.widths), context.num_classes)

    def classify(self, embedded: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        lengths = lengths.to(ids.device)
        steps = torch.arange(ids.size(1), device=ids.device)
        mask = (steps[None, :] < lengths[:, None]).unsqueeze(-1)  # (batch, seq_len, 1)
        x = self.dropout_embed(embedded) * mask  # (batch, seq_len, emb)
        x = x.transpose(1, 2)  # (batch, emb, seq_len)
        pooled = []
        for width, conv in zip(self.widths, self.convs):
            out = torch.relu(conv(x))  # (batch, filters, seq_len + width - 1)
            starts = torch.arange(out.size(2), device=ids.device)
            keep = starts[None, :] < (lengths + width - 1)[:, None]  # windows touching the text
            out = out.masked_fill(~keep.unsqueeze(1), float("-inf"))
            pooled.append(out.max(dim=2).values)  # (batch, filters)
        return self.fc(self.dropout(torch.cat(pooled, 1)))
