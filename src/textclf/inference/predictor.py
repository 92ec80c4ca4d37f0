"""Predictor: one or more trained models classifying raw texts.

    from textclf import Predictor

    predictor = Predictor.load("runs/sms-20261202/checkpoints/best.ckpt")
    predictor.classes                       # ['ham', 'spam']
    predictor.predict(["WIN a prize now"])  # ['spam']
    predictor.predict_proba(texts)          # numpy (n, num_classes), rows sum to 1

Probabilities are calibrated: each member's logits are divided by the temperature fitted on its
validation split (``train.calibration``; 1 when it has none) before the softmax.

A multilabel model (``predictor.task == "multilabel"``) predicts a list of labels per text: the
classes whose probability (a sigmoid per class) reaches the threshold stored in the checkpoint,
and at least the most likely one unless the model was trained with ``train.allow_empty``.

A PyTorch member predicts the way it was validated: at its run's ``train.precision`` (bf16 or fp16
under autocast) and through ``torch.compile`` when its run set ``train.compile``.

``Predictor.load([p1, p2, ...])`` is an ensemble: the mean of the members' probabilities; an
ensemble file (what a default selection keeps when a weighted mean of its candidates won on
validation) loads as its members with their weights, and counts as one entry of the list. Each
member keeps its own text pipeline (tokenizer, vocabulary, maximum length), so a bag of n-grams
over 3,000 tokens and a BiGRU over 400 can be averaged; members with the same tokenizer share one
tokenization. Members must have been trained on the same classes, in the same order.

Every command that turns texts into predictions (evaluate, predict, explain, report, and the
final evaluation of train) goes through this class. It imports neither the training code nor
TensorBoard, matplotlib, Optuna or pandas; a Predictor of ONNX exports does not import torch
either (a PyTorch member imports it when it is loaded), and runs on the CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from textclf.artifact import ModelArtifact, load_members
from textclf.errors import CheckpointError, UsageError
from textclf.inference.runners import OnnxRunner, TorchRunner
from textclf.task import Task, get_task
from textclf.text.encoding import EncodedSplit
from textclf.text.pipeline import TextPipeline

if TYPE_CHECKING:
    import torch

    from textclf.models import TextClassifier

__all__ = ["Predictor"]


class Predictor:
    """Classifies raw texts with one model artifact or the mean of several (``Predictor.load``)."""

    def __init__(
        self,
        artifacts: Sequence[ModelArtifact],
        device: str | torch.device = "cpu",
        batch_size: int = 256,
        weights: Sequence[float] | None = None,
        threads: int | None = None,
    ):
        if not artifacts:
            raise CheckpointError("no checkpoint given")
        if weights is not None and (len(weights) != len(artifacts) or min(weights) <= 0):
            raise UsageError(f"{len(weights)} weights for {len(artifacts)} models: give one positive weight a model")
        if batch_size < 1:
            raise UsageError(f"batch size {batch_size}: give 1 or more")
        if threads is not None and threads < 1:
            raise UsageError(f"threads {threads}: give 1 or more (or None: torch's threads, else the CPUs)")
        classes = list(artifacts[0].classes)
        for artifact in artifacts[1:]:
            if list(artifact.classes) != classes:
                raise CheckpointError(
                    f"{artifact.where}: its classes differ from those of {artifacts[0].where}; an "
                    "ensemble needs models trained on the same classes"
                )
            if artifact.task != artifacts[0].task:
                raise CheckpointError(
                    f"{artifact.where}: a {artifact.task} model cannot join {artifacts[0].where}, a "
                    f"{artifacts[0].task} one, in an ensemble"
                )
        self.task_: Task = get_task(artifacts[0].task)
        # How much each member's probabilities count in the mean (summing to 1; equal by default).
        raw = np.ones(len(artifacts)) if weights is None else np.asarray(weights, dtype=np.float64)
        self.weights: np.ndarray = raw / raw.sum()
        # Multilabel: each class's threshold (the members' weighted mean for an ensemble; 0.5 if none stored).
        self.thresholds: np.ndarray | None = None
        if self.task_.multilabel:
            stored = [(a.thresholds, w) for a, w in zip(artifacts, self.weights) if a.thresholds is not None]
            self.thresholds = (np.average(np.asarray([t for t, _ in stored], dtype=np.float64), axis=0,
                                          weights=[w for _, w in stored]) if stored
                               else np.full(len(classes), 0.5)).astype(np.float32)
        # An ensemble decides with the members' mean thresholds and the first member's rule: a
        # cut of the mean probabilities chosen on validation is better (textclf evaluate tunes
        # one for an ensemble of one split), but prediction has no validation split at hand.
        self.allow_empty = artifacts[0].allow_empty
        if isinstance(device, str) and any(a.onnx_path is None for a in artifacts):
            from textclf.runtime import resolve_device

            device = resolve_device(device)
        self.device = device if not isinstance(device, str) else "cpu"  # (exports only: onnxruntime's CPU)
        self.batch_size = batch_size
        self.threads = threads  # an export's batches at once (None: torch's threads, else the CPUs)
        self.artifacts = list(artifacts)
        self.runners = [self._runner(a) for a in self.artifacts]
        self.pipelines: list[TextPipeline] = [a.text_pipeline() for a in self.artifacts]

    def _runner(self, artifact: ModelArtifact) -> OnnxRunner | TorchRunner:
        if artifact.onnx_path is None:
            return TorchRunner(artifact.build_model(self.device), self.device, artifact.train_setting("precision"),
                               artifact.train_setting("compile"))
        rows, tokens = artifact.onnx_batching()
        return OnnxRunner(artifact.onnx_path, threads=self.threads, max_batch_tokens=tokens, max_rows=rows,
                          inputs=(artifact.export or {}).get("inputs"))

    @classmethod
    def load(
        cls,
        checkpoints: str | Path | Sequence[str | Path],
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 256,
        threads: int | None = None,
    ) -> "Predictor":
        """Load one checkpoint (or a folder written by ``textclf export``, run with onnxruntime),
        or several as an ensemble, each counting equally (an ensemble file's members share its
        count by their weights). ``device``: cpu, cuda or auto (PyTorch checkpoints).
        ``threads``: how many batches an export runs at once, one onnxruntime thread each
        (default: torch's thread count where torch is loaded, else the CPUs)."""
        paths = [checkpoints] if isinstance(checkpoints, (str, Path)) else list(checkpoints)
        artifacts, weights = [], []
        for path in paths:
            members, shares = load_members(path)
            artifacts += members
            weights += [share / len(paths) for share in shares]
        return cls(artifacts, device=device, batch_size=batch_size, weights=weights, threads=threads)

    @property
    def classes(self) -> list[str]:
        return list(self.artifacts[0].classes)

    @property
    def models(self) -> list[TextClassifier]:
        """The PyTorch models (explanations need them; an ONNX export has none)."""
        missing = [r for r in self.runners if r.model is None]
        if missing:
            raise UsageError("this needs the PyTorch checkpoint, not an ONNX export (give the .ckpt file)")
        return [r.model for r in self.runners]

    @property
    def runtime(self) -> str:
        return ",".join(sorted({r.runtime for r in self.runners}))

    @property
    def task(self) -> str:
        """multiclass or multilabel."""
        return self.task_.name

    @property
    def artifact(self) -> ModelArtifact:
        """The first member's artifact: its config and training counts stand for all."""
        return self.artifacts[0]

    def __len__(self) -> int:
        return len(self.runners)

    def __repr__(self) -> str:
        equal = np.allclose(self.weights, self.weights[0])
        members = ", ".join(a.model_name + ("" if equal else f" ({w:.2f})") for a, w in zip(self.artifacts, self.weights))
        return (f"Predictor([{members}], {len(self.classes)} classes, runtime={self.runtime}, "
                f"device={self.device})")

    # ----------------------------------------------------------------- texts → results

    def predict(self, texts: Sequence[str]) -> list[str] | list[list[str]]:
        """The most likely class of each text; for a multilabel model, each text's list of
        classes (in the order of ``classes``)."""
        return self.labels_of(self.predict_proba(texts))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, num_classes) float32 probabilities, columns in the order of ``classes``: rows sum
        to 1, or (multilabel) each class's own probability."""
        texts = _as_texts(texts)
        return self.proba_encoded(self.encode(texts) if texts else None)

    def proba_encoded(self, encoded: list[EncodedSplit] | None) -> np.ndarray:
        """``predict_proba`` of texts already encoded (``encode``); None: no texts."""
        if encoded is None:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return self.task_.probabilities(self.log_proba_encoded(encoded))

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        """Multiclass: (n,) index of each row's class. Multilabel: (n, C) bool of the chosen
        classes (thresholds and the at-least-one rule applied)."""
        return self.task_.decide(probabilities, self.thresholds, self.allow_empty)

    def labels_of(self, probabilities: np.ndarray) -> list[str] | list[list[str]]:
        """The predicted label (or list of labels) of each row of ``probabilities``."""
        classes, chosen = self.classes, self.decide(probabilities)
        if self.task_.multilabel:
            return [[classes[j] for j in np.flatnonzero(row)] for row in chosen]
        return [classes[i] for i in chosen]

    # ----------------------------------------------------------------- encoded texts

    def encode(self, texts: Sequence[str], labels: np.ndarray | None = None) -> list[EncodedSplit]:
        """Each member's encoding of ``texts``; members that tokenize alike share one
        tokenization (only the vocabulary lookup and truncation are their own)."""
        texts = _as_texts(texts)
        tokenized: dict[tuple, tuple] = {}
        out = []
        for pipeline in self.pipelines:
            if pipeline.encodes_fast(len(texts)):
                out.append(pipeline.encode(texts, labels))  # (compiled: sharing would not save)
                continue
            key = pipeline.tokenizer_key()
            if key not in tokenized:
                tokenized[key] = pipeline.tokenize(texts)
            out.append(pipeline.encode_tokens(*tokenized[key], labels))
        return out

    def log_proba_encoded(self, encoded: list[EncodedSplit], calibrated: bool = True) -> np.ndarray:
        """(n, num_classes) scores: with one member, its own logits (divided by its temperature
        when ``calibrated``); with several, the members' weighted mean probabilities as scores (log
        for multiclass, logit for multilabel), usable wherever logits are."""
        if len(encoded) != len(self.runners):  # (one encoding a member: zip would drop the rest)
            raise ValueError(f"{len(encoded)} encoded inputs for {len(self.runners)} models: give one a model "
                             "(Predictor.encode)")
        scaled = [a.temperature if calibrated else 1.0 for a in self.artifacts]
        if len(self.runners) == 1:
            logits = self.runners[0].logits(encoded[0], self.batch_size)
            return logits if scaled[0] == 1.0 else (logits / np.float32(scaled[0])).astype(np.float32)
        total = None
        for runner, enc, temperature, weight in zip(self.runners, encoded, scaled, self.weights):
            logits = runner.logits(enc, self.batch_size) / np.float32(temperature)
            probs = self.task_.probabilities(logits).astype(np.float64) * float(weight)
            total = probs if total is None else total + probs
        return self.task_.scores(total).astype(np.float32)


def _as_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise UsageError("give a list of texts, not one string (wrap it: [text])")
    texts = list(texts)
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise UsageError(f"text {bad} is a {type(texts[bad]).__name__}, not a string")
    return texts
