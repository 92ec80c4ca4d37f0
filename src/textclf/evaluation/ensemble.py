"""One or more checkpoints classifying raw texts together: the mean of their class probabilities.

Each member keeps its own tokenizer, vocabulary and sequence length (from its checkpoint), so a
bag of n-grams over 3,000 tokens and a BiGRU over 400 can be averaged. Members must have been
trained on the same classes, in the same order. With one member this is just that model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from textclf.errors import CheckpointError
from textclf.evaluation.predict import predict_logits
from textclf.text.encoding import EncodedSplit, assemble, table_ids
from textclf.text.token_table import TokenTable, token_table
from textclf.training.checkpoint import (
    load_checkpoint,
    model_from_checkpoint,
    text_pipeline_from_checkpoint,
)

__all__ = ["Ensemble"]


class Ensemble:
    def __init__(self, checkpoints: list[str | Path], device: str | torch.device = "cpu"):
        if not checkpoints:
            raise CheckpointError("no checkpoint given")
        self.device = device
        self.paths = [Path(c) for c in checkpoints]
        self.payloads = [load_checkpoint(c) for c in self.paths]
        names = list(self.payloads[0]["label_names"])
        for path, payload in zip(self.paths[1:], self.payloads[1:]):
            if list(payload["label_names"]) != names:
                raise CheckpointError(
                    f"{path}: its classes differ from those of {self.paths[0]}; an ensemble needs "
                    "models trained on the same classes"
                )
        self.members = [(model_from_checkpoint(p, device), text_pipeline_from_checkpoint(p)) for p in self.payloads]

    @property
    def payload(self) -> dict:
        """The first member's checkpoint: its config, seed and training label counts stand for all."""
        return self.payloads[0]

    def encode(self, texts: list[str], labels: np.ndarray | None = None) -> list[EncodedSplit]:
        """Each member's encoding of ``texts``; members with the same tokenizer share one
        tokenization (only the vocabulary lookup and truncation are their own)."""
        labels = np.zeros(len(texts), dtype=np.int64) if labels is None else labels
        tables: dict[str, TokenTable] = {}
        out = []
        for _, (tokenize, vocab, max_len) in self.members:
            key = json.dumps(tokenize.settings(), sort_keys=True)
            if key not in tables:
                tables[key] = token_table(texts, tokenize)
            table = tables[key]
            out.append(assemble(table_ids(table, vocab), table.lengths, labels, max_len))
        return out

    def log_proba(self, encoded: list[EncodedSplit], batch_size: int = 256) -> np.ndarray:
        """(n, num_classes) log of the members' mean probabilities (usable wherever logits are);
        a single member's own logits."""
        if len(self.members) == 1:
            return predict_logits(self.members[0][0], encoded[0], batch_size, self.device)
        total = None
        for (model, _), enc in zip(self.members, encoded):
            logits = torch.from_numpy(predict_logits(model, enc, batch_size, self.device))
            probs = torch.softmax(logits.double(), dim=1)
            total = probs if total is None else total + probs
        return torch.log(total / len(self.members)).float().numpy()
