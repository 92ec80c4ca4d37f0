"""The Kaggle notebook's model: embedding → LSTM → dropout → linear, done right.

The notebook classified from the LSTM output at the last *padded* position, so short documents
were summarised by a run over padding. Here the classifier reads each direction's state after the
document's true last token (see ``rnn.PaddedRNN``).
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from textclf.models.base import BuildContext, TextClassifier
from textclf.models.registry import ModelParams, register_model
from textclf.models.rnn import PaddedRNN


class LSTMParams(ModelParams):
    embedding_dim: int = Field(128, ge=1)
    hidden_size: int = Field(64, ge=1)
    num_layers: int = Field(1, ge=1)
    bidirectional: bool = False
    dropout: float = Field(0.3, ge=0, lt=1)


@register_model("lstm", LSTMParams)
class LSTMClassifier(TextClassifier):
    onnx_batch_rows = 8  # onnxruntime's recurrent operators are fastest on small batches (RESULTS.md, onnx-profile-bigru)
    uses_every_parameter = True  # (DDP: no search for unused parameters)
    def __init__(self, params: LSTMParams, context: BuildContext):
        super().__init__()
        self.embedding = nn.Embedding(context.vocab_size, params.embedding_dim, padding_idx=context.pad_id)
        self.lstm = PaddedRNN(
            "lstm",
            params.embedding_dim,
            params.hidden_size,
            num_layers=params.num_layers,
            bidirectional=params.bidirectional,
            dropout=params.dropout,
        )
        self.dropout = nn.Dropout(params.dropout)
        self.fc = nn.Linear(self.lstm.output_size, context.num_classes)

    def classify(self, embedded: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        _, last = self.lstm(embedded, lengths)  # embedded: (batch, seq_len, emb)  # (batch, directions * hidden)
        return self.fc(self.dropout(last))  # (batch, num_classes)
