"""Running a model over an encoded split: logits in the split's own order."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from textclf.batching import sorted_batches
from textclf.precision import autocast
from textclf.text.encoding import EncodedSplit

__all__ = ["predict_logits"]


@torch.inference_mode()
def predict_logits(
    model: nn.Module, split: EncodedSplit, batch_size: int = 256, device: str | torch.device = "cpu",
    precision: str = "fp32",
) -> np.ndarray:
    """(n, num_classes) float32 logits. Batches go by length for speed; rows come back in order.
    ``precision``: the forward pass's arithmetic (``textclf.precision``)."""
    was_training = model.training
    model.eval()
    out: np.ndarray | None = None
    for indices, (ids, lengths, _) in sorted_batches(split, batch_size, getattr(model, "max_batch_tokens", None)):
        with autocast(device, precision):
            logits = model(ids.to(device), lengths.to(device))
        logits = logits.float().cpu().numpy()
        if out is None:
            out = np.empty((len(split), logits.shape[1]), dtype=np.float32)
        out[indices] = logits
    model.train(was_training)
    if out is None:
        raise ValueError("cannot predict on an empty split")
    return out
