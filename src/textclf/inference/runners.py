"""What runs a model over encoded texts: PyTorch weights or an exported ONNX graph.

Both give (n, num_classes) float32 logits in the split's order from length-sorted batches, so
the Predictor, and everything above it, does not care which runtime computes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from textclf.batching import sorted_batches
from textclf.errors import UsageError
from textclf.inference.logits import predict_logits
from textclf.models import TextClassifier
from textclf.precision import compiled, on_device
from textclf.text.encoding import EncodedSplit

__all__ = ["TorchRunner", "OnnxRunner"]


class TorchRunner:
    runtime = "torch"

    def __init__(self, model: TextClassifier, device: torch.device, precision: str = "fp32",
                 compile: bool = False):
        self.model = model
        self.device = device
        self.precision = on_device(device, precision)  # train.precision: autocast in the forward pass
        self.forward = compiled(model, compile)  # train.compile: torch.compile'd, same weights

    def logits(self, split: EncodedSplit, batch_size: int) -> np.ndarray:
        return predict_logits(self.forward, split, batch_size, self.device, self.precision)


class OnnxRunner:
    runtime = "onnx"

    def __init__(self, path: Path, threads: int | None = None, max_batch_tokens: int | None = None):
        # Batches hold at most this many padded tokens, as the PyTorch path's (a transformer's
        # attention memory grows with the square of a document's length).
        self.max_batch_tokens = max_batch_tokens
        try:
            import onnxruntime as ort
        except ImportError:
            raise UsageError(f'{path}: running an ONNX export needs onnxruntime: pip install "textclf[onnx]"') from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.model = None

    def logits(self, split: EncodedSplit, batch_size: int) -> np.ndarray:
        out: np.ndarray | None = None
        for indices, (ids, lengths, _) in sorted_batches(split, batch_size, self.max_batch_tokens):
            logits = self.session.run(None, {"ids": ids.numpy(), "lengths": lengths.numpy()})[0]
            if out is None:
                out = np.empty((len(split), logits.shape[1]), dtype=np.float32)
            out[indices] = logits
        if out is None:
            raise ValueError("cannot predict on an empty split")
        return out
