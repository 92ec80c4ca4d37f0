"""What runs a model over encoded texts: PyTorch weights or an exported ONNX graph.

Both give (n, num_classes) float32 logits in the split's order from length-sorted batches, so
the Predictor, and everything above it, does not care which runtime computes them.

An export's runner imports no torch (nor does anything a Predictor of exports needs), so that
predicting with an export starts without torch's second of imports.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from textclf.errors import CheckpointError, UsageError
from textclf.graph_inputs import FORMS, graph_feeds, read_subwords
from textclf.text.encoding import EncodedSplit

if TYPE_CHECKING:
    import torch

    from textclf.models import TextClassifier

__all__ = ["TorchRunner", "OnnxRunner", "in_order"]

T = TypeVar("T")
R = TypeVar("R")


class TorchRunner:
    runtime = "torch"

    def __init__(self, model: TextClassifier, device: torch.device, precision: str = "fp32",
                 compile: bool = False):
        from textclf.precision import compiled, on_device

        self.model = model
        self.device = device
        self.precision = on_device(device, precision)  # train.precision: autocast in the forward pass
        self.forward = compiled(model, compile)  # train.compile: torch.compile'd, same weights

    def logits(self, split: EncodedSplit, batch_size: int) -> np.ndarray:
        from textclf.inference.logits import predict_logits

        return predict_logits(self.forward, split, batch_size, self.device, self.precision)


class OnnxRunner:
    """An onnxruntime session that runs ``threads`` batches at once, one thread each, of at
    most ``max_rows`` documents (the model's ``onnx_batch_rows``).

    The bag models' graphs are many small operators (a sort, gathers, element-wise steps) that
    onnxruntime splits poorly between threads; two batches side by side, each on one thread,
    ran the 20 Newsgroups test split faster than one batch at a time on two threads
    (``benchmarks/inference_speed.py``). A session may be run from several threads at once.
    Unlike PyTorch's, the graphs' speed falls with larger batches (a bag's gathered rows, batch ×
    features × classes, outgrow the caches; onnxruntime's GRU operator is fastest on a few
    documents): ``benchmarks/onnx_profile.py`` times both runners by batch size."""

    runtime = "onnx"

    def __init__(self, path: Path, threads: int | None = None, max_batch_tokens: int | None = None,
                 max_rows: int | None = None, inputs: dict | None = None):
        # Batches hold at most this many padded tokens, as the PyTorch path's (a transformer's
        # attention memory grows with the square of a document's length).
        self.max_batch_tokens = max_batch_tokens
        try:
            import onnxruntime as ort
        except ImportError:
            raise UsageError(f'{path}: running an ONNX export needs onnxruntime: pip install "textclf[onnx]"') from None
        if inputs is not None and inputs.get("form") not in FORMS:
            raise CheckpointError(f"{Path(path).parent}: its graph takes {inputs.get('form')!r} inputs, which this "
                                  "version of textclf cannot make; upgrade textclf, or export the checkpoint again "
                                  "with this one")
        self.threads = max(1, threads or cpu_threads())
        self.max_rows = max_rows
        self.inputs = inputs  # what the graph takes (the export's record; None: ids and lengths)
        self.subwords = read_subwords(Path(path).parent) if inputs and inputs.get("chars") else None
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.model = None

    def _run(self, batch) -> tuple[np.ndarray, np.ndarray]:
        indices, (ids, lengths, _) = batch
        return indices, self.session.run(None, graph_feeds(self.inputs, ids, lengths, self.subwords))[0]

    def logits(self, split: EncodedSplit, batch_size: int) -> np.ndarray:
        out: np.ndarray | None = None
        rows = min(batch_size, self.max_rows or batch_size)
        batches = split.by_length(rows, self.max_batch_tokens)
        for indices, logits in in_order(self._run, batches, self.threads if self.threads > 1 else 0):
            if out is None:
                out = np.empty((len(split), logits.shape[1]), dtype=np.float32)
            out[indices] = logits
        if out is None:
            raise ValueError("cannot predict on an empty split")
        return out


def cpu_threads() -> int:
    """How many batches an export runs at once: torch's thread count where torch is loaded (a
    PyTorch member beside it, a server worker's share), else the CPUs this process may use."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.get_num_threads()
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def in_order(function: Callable[[T], R], items: Iterable[T], threads: int, ahead: int | None = None) -> Iterator[R]:
    """``map(function, items)`` on ``threads`` worker threads (0: in the caller's thread),
    results in the items' order, with at most ``ahead`` items (default: two a thread) taken
    from ``items`` and started before the result being read is used (the padded batches or
    chunks of a large file are made as they are needed, not all at once)."""
    items = iter(items)
    first = list(islice(items, ahead or 2 * threads)) if threads else []
    peek = list(islice(items, 1)) if first else []
    items = chain(peek, items)
    if threads == 0 or len(first) + len(peek) < 2:  # (one batch, as a served request's: no thread)
        yield from map(function, first)
        yield from map(function, items)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="textclf") as pool:
        pending = deque(pool.submit(function, item) for item in first)
        while pending:
            result = pending.popleft().result()
            for item in islice(items, 1):
                pending.append(pool.submit(function, item))
            yield result
