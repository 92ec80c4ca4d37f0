"""``textclf export --format onnx``: a model artifact as an ONNX graph plus its metadata.

The output folder holds ``model.onnx`` (inputs ``ids`` (batch, length) int64 and ``lengths``
(batch,) int64, output ``logits`` (batch, num_classes); batch and length are dynamic; a TF-IDF
bag takes its features instead, ``features`` and ``weights`` (batch, width), and with character
n-grams ``char_rows`` and ``char_weights``, which ``textclf/graph_inputs.py`` makes of the ids
with the words' n-gram table the folder then holds too (``subwords.npz``): textclf.json's
``export.inputs`` says which) and ``textclf.json`` (the artifact without its weights: classes, task, the text pipeline's tokenizer
settings and vocabulary, the model's name and parameters, the config). ``Predictor.load(folder)``
runs it with onnxruntime. The graph is traced from the model's ``export_module()`` with
PyTorch's TorchScript-based exporter, then checked against the PyTorch model on documents of
several lengths before the folder is put in place; ``quantize="int8"`` then applies
onnxruntime's dynamic int8 quantization to the weights.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from textclf.artifact import EXPORT_GRAPH, EXPORT_METADATA, ModelArtifact
from textclf.errors import CheckpointError, UsageError
from textclf.graph_inputs import graph_feeds, write_subwords
from textclf.text.vocabulary import PAD_ID

__all__ = ["export_onnx", "OPSET"]

OPSET = 17
# Operator types --quantize int8 leaves in float (see export_onnx).
INT8_SKIPPED = frozenset({"Conv"})
# The second axis of each input: a document's positions, its distinct word features, its character n-grams.
_WIDTH = {"ids": "length", "features": "width", "weights": "width", "char_rows": "char_width",
          "char_weights": "char_width"}


def export_onnx(checkpoint: str | Path, output: str | Path, quantize: str | None = None,
                tolerance: float = 1e-4) -> Path:
    """Export ``checkpoint`` into the folder ``output`` (created; refused if it holds anything)."""
    if quantize not in (None, "int8"):
        raise UsageError(f"--quantize {quantize!r}: the only choice is int8")
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UsageError(f"{output}: exists and is not an empty folder; choose a new --output folder")
    if not output.parent.is_dir():
        raise UsageError(f"{output}: the folder {output.parent} does not exist; create it or write elsewhere")
    artifact = ModelArtifact.load(checkpoint)
    model = artifact.build_model("cpu")
    try:  # imported once the inputs are known to be good (onnxruntime writes a cache on import)
        import onnx  # noqa: F401  (the exporter writes through it)
        import onnxruntime as ort
    except ImportError as exc:
        raise UsageError(f'textclf export needs onnx and onnxruntime ({exc.name} is missing): '
                         'pip install "textclf[onnx]"') from None
    module = model.export_module().eval()
    inputs = model.export_inputs()

    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        graph = tmp / EXPORT_GRAPH
        ids, lengths = _sample(artifact, batch=3, length=7, seed=0)
        subwords = model.export_subwords()  # (a bag's n-gram table, which its feeds need beside the graph)
        if subwords is not None:
            write_subwords(tmp, subwords)
        feeds = graph_feeds(inputs, ids.numpy(), lengths.numpy(), subwords)
        # Each input's own second axis: onnxruntime takes two axes of one name for one size.
        axes = {name: {0: "batch", 1: _WIDTH.get(name, f"{name}_width")} if array.ndim == 2 else {0: "batch"}
                for name, array in feeds.items()}
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer notes about constants and RNN batch sizes
            torch.onnx.export(
                module, tuple(torch.from_numpy(a) for a in feeds.values()), str(graph), input_names=list(feeds),
                output_names=["logits"], opset_version=OPSET, dynamo=False,
                dynamic_axes={**axes, "logits": {0: "batch"}},
            )
        if quantize == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic
            from onnxruntime.quantization.registry import IntegerOpsRegistry

            quantized = tmp / "model.int8.onnx"
            # onnxruntime's quantizer logs advice on the root logger ("WARNING:root:Please consider
            # to run pre-processing ..."), which is not the user's concern here.
            logging.disable(logging.WARNING)
            try:
                # Every operator onnxruntime quantizes dynamically except convolutions: its int8
                # convolution (ConvInteger) ran a TextCNN's export at a quarter of the float one's
                # speed (539 against 2,527 documents/s model only, benchmarks/inference_speed.py at
                # 30e90cc), so a TextCNN keeps float convolutions and int8 elsewhere.
                ops = [op for op in IntegerOpsRegistry if op not in INT8_SKIPPED]
                quantize_dynamic(str(graph), str(quantized), weight_type=QuantType.QInt8, op_types_to_quantize=ops)
            finally:
                logging.disable(logging.NOTSET)
            os.replace(quantized, graph)
        session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        if quantize is None:
            _check_parity(model, session, artifact, lambda i, n: graph_feeds(inputs, i, n, subwords), tolerance)
        meta = artifact.metadata()
        meta["export"] = {"format": "onnx", "opset": OPSET, "quantize": quantize,
                          "checkpoint": str(checkpoint), "checkpoint_sha256": artifact.sha256(),
                          # how the runner batches it (read without importing the model classes)
                          "batch_rows": type(model).onnx_batch_rows, "max_batch_tokens": type(model).max_batch_tokens,
                          "inputs": inputs}  # what the graph takes (None: ids and lengths)
        (tmp / EXPORT_METADATA).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        if output.exists():
            output.rmdir()  # empty, checked above
        os.replace(tmp, output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return output


def _sample(artifact: ModelArtifact, batch: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A padded batch of random ids with lengths from ``length`` down to 1."""
    generator = torch.Generator().manual_seed(seed)
    vocab = len(artifact.pipeline["vocab"])
    ids = torch.randint(2, max(vocab, 3), (batch, length), generator=generator)
    lengths = torch.linspace(length, 1, batch).round().long()
    ids[torch.arange(length)[None, :] >= lengths[:, None]] = PAD_ID
    return ids, lengths


def _check_parity(model, session, artifact: ModelArtifact, feeds, tolerance: float) -> None:
    for batch, length in ((1, 1), (4, 13), (9, 64)):
        ids, lengths = _sample(artifact, batch, length, seed=batch)
        with torch.no_grad():
            expected = model(ids, lengths).numpy()
        got = session.run(None, feeds(ids.numpy(), lengths.numpy()))[0]
        gap = float(np.abs(got - expected).max())
        if not gap <= tolerance:
            raise CheckpointError(
                f"{artifact.where}: the ONNX graph of model '{artifact.model_name}' gives logits "
                f"{gap:.2g} away from PyTorch's (batch {batch}, length {length}); this model cannot "
                "be exported faithfully"
            )
