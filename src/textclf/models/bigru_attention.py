"""The study's model: embedding → bidirectional GRU → attention pooling → linear.

The recurrent layers never read padding in either direction (see ``rnn.PaddedRNN``), and padded
positions are masked out of the attention softmax, so they get a weight of exactly zero. A
document's logits therefore do not depend on how far its batch pads it.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from textclf.models.base import BuildContext, TextClassifier
from textclf.models.registry import ModelParams, register_model
from textclf.models.rnn import PaddedRNN


class BiGRUAttentionParams(ModelParams):
    embedding_dim: int = Field(200, ge=1)
    hidden_size: int = Field(192, ge=1)
    num_layers: int = Field(1, ge=1)
    bidirectional: bool = True
    dropout_embed: float = Field(0.1, ge=0, lt=1)
    dropout_rnn: float = Field(0.0, ge=0, lt=1)  # between stacked GRU layers
    dropout_fc: float = Field(0.5, ge=0, lt=1)
    # Sparse embedding gradients: each step updates only the rows of the batch's tokens (with
    # SparseAdam, which has no weight decay) instead of all 10 M embedding parameters.
    sparse_embedding: bool = True


@register_model("bigru_attention", BiGRUAttentionParams)
class BiGRUAttention(TextClassifier):
    onnx_batch_rows = 8  # onnxruntime's recurrent operators are fastest on small batches (RESULTS.md, onnx-profile-bigru)
    uses_every_parameter = True  # (DDP: no search for unused parameters)
    has_attention = True

    def __init__(self, params: BiGRUAttentionParams, context: BuildContext):
        super().__init__()
        self.embedding = nn.Embedding(
            context.vocab_size, params.embedding_dim, padding_idx=context.pad_id,
            sparse=params.sparse_embedding,
        )
        self.dropout_embed = nn.Dropout(params.dropout_embed)
        self.gru = PaddedRNN(
            "gru",
            params.embedding_dim,
            params.hidden_size,
            num_layers=params.num_layers,
            bidirectional=params.bidirectional,
            dropout=params.dropout_rnn,
        )
        out_dim = self.gru.output_size
        self.attention = nn.Linear(out_dim, 1)
        self.dropout_fc = nn.Dropout(params.dropout_fc)
        self.fc = nn.Linear(out_dim, context.num_classes)

    def forward(
        self, ids: torch.Tensor, lengths: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if self.training or not self.gru.reads_ids(ids):
            return self.classify(self.embed(ids), ids, lengths, return_attention)
        # Prediction (dropout_embed is off): the GRU reads the table's rows once per distinct word.
        out, _ = self.gru.forward_ids(self.embedding.weight, ids, lengths)
        return self._pool(out, ids, lengths, return_attention)

    def classify(
        self, embedded: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x = self.dropout_embed(embedded)  # (batch, seq_len, emb)
        out, _ = self.gru(x, lengths)  # (batch, seq_len, out_dim), zeros at padded positions
        return self._pool(out, ids, lengths, return_attention)

    def _pool(self, out: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor, return_attention: bool):
        """Attention pooling of the GRU's outputs, then the output layer."""
        seq_len = ids.size(1)
        scores = self.attention(out).squeeze(-1)  # (batch, seq_len)
        mask = torch.arange(seq_len, device=ids.device)[None, :] < lengths.to(ids.device)[:, None]
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)  # (batch, seq_len), exactly 0 where masked
        pooled = torch.bmm(weights.unsqueeze(1), out).squeeze(1)  # (batch, out_dim)
        logits = self.fc(self.dropout_fc(pooled))  # (batch, num_classes)
        return (logits, weights) if return_attention else logits
