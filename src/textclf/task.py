"""The two tasks: one class per document (multiclass) or a set of classes (multilabel).

Everything that differs between them, and nothing else, is here, so that the rest of the code
asks the task instead of testing its name:

=================  ================================  ======================================
                   multiclass                        multilabel
=================  ================================  ======================================
labels             (n,) int64 class indices          (n, C) uint8 indicator matrix
probabilities      softmax of the logits             sigmoid of each logit
decision           the most likely class             every class whose probability reaches
                                                     its threshold (at least one, unless
                                                     empty sets are allowed)
loss               cross-entropy (class weights)     binary cross-entropy with logits
                                                     (class weights as ``pos_weight``)
a fresh model      loss ln(C)                        loss ln 2 (every logit near 0)
ensemble           mean of probabilities             mean of probabilities
=================  ================================  ======================================

An ensemble's mean probabilities are turned back into scores (log for softmax, logit for
sigmoid) so that they pass wherever logits do: ``probabilities(scores(p)) == p``.

A model made of several members trained side by side (bag_of_ngrams' ``members``) returns, in
training, the (batch, members, C) logits of each: the loss is then the mean of the members'
own losses (each member learns on its own, as the runs of an ensemble do), and
:meth:`Task.combine` turns them into the ensemble's scores wherever one answer is needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:  # (torch is imported where a loss or a tensor is made: predicting from an
    import torch  # ONNX export, and everything else that asks the task, runs without it)

__all__ = ["TASKS", "Task", "get_task", "label_array"]

TASKS = ("multiclass", "multilabel")


def label_array(labels) -> np.ndarray:
    """Labels in their stored form: (n,) int64 indices, or an (n, C) uint8 indicator matrix."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return labels.astype(np.uint8, copy=False)
    return labels.astype(np.int64, copy=False)


def _per_member(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, members, C) logits and their labels repeated per member, for a loss that reads a
    members dimension: multiclass (batch, C, members) and (batch, members); multilabel
    (batch, members, C) twice."""
    members = logits.size(1)
    if labels.dim() == 1:
        return logits.transpose(1, 2), labels[:, None].expand(-1, members)
    return logits, labels[:, None, :].expand(-1, members, -1)


class _WeightedBCE:
    """Binary cross-entropy with logits on integer indicator targets (cast to float here, so that
    batches carry the same integer labels for both tasks)."""

    def __init__(self, pos_weight: torch.Tensor | None):
        from torch import nn

        self.loss = nn.BCEWithLogitsLoss(pos_weight=pos_weight)

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.loss(logits, labels.to(logits.dtype))


class _MembersMean:
    """``loss`` of (batch, C) logits, or the mean of its members' losses for (batch, members, C)
    (every member and document weighing the same, so the class weights' normalisation is each
    member's own)."""

    def __init__(self, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
        self.loss = loss

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if logits.dim() == 3:
            logits, labels = _per_member(logits, labels)
        return self.loss(logits, labels)


@dataclass(frozen=True)
class Task:
    name: str

    @property
    def multilabel(self) -> bool:
        return self.name == "multilabel"

    # ----------------------------------------------------------------- labels

    def class_counts(self, labels: np.ndarray, num_classes: int) -> np.ndarray:
        """Documents per class (a document with two classes counts for both)."""
        if self.multilabel:
            return np.asarray(labels, dtype=np.int64).sum(axis=0)
        return np.bincount(labels, minlength=num_classes)

    # ----------------------------------------------------------------- scores

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """(n, C) float32 probabilities from logits (or from ensemble scores)."""
        t = np.asarray(scores, dtype=np.float32)
        if self.multilabel:  # the sigmoid, from exp(-|x|): no overflow, and tiny values kept (ranking metrics)
            e = np.exp(-np.abs(t))
            return np.where(t >= 0, 1 / (1 + e), e / (1 + e)).astype(np.float32, copy=False)
        e = np.exp(t - t.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def scores(self, probabilities: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`probabilities` (for an ensemble's mean probabilities), in float64."""
        p = np.asarray(probabilities, dtype=np.float64)
        with np.errstate(divide="ignore"):  # (a probability of 0 is a score of -inf, as torch.log gives)
            if self.multilabel:
                p = np.clip(p, 1e-12, 1 - 1e-12)
                return np.log(p) - np.log1p(-p)
            return np.log(p)

    def loss(self, scores: np.ndarray, labels: np.ndarray) -> float:
        """Mean loss of ``scores`` against ``labels`` (the training loss, unweighted)."""
        import torch
        from torch import nn

        logits = torch.from_numpy(np.asarray(scores)).double()
        if self.multilabel:
            target = torch.from_numpy(np.array(labels)).double()
            return float(nn.functional.binary_cross_entropy_with_logits(logits, target))
        return float(nn.functional.cross_entropy(logits, torch.from_numpy(np.array(labels, dtype=np.int64))))

    def criterion(self, class_weights: torch.Tensor | None, label_smoothing: float = 0.0
                  ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The training loss of a batch's logits and labels (a model's members: their mean)."""
        from torch import nn

        if self.multilabel:
            return _MembersMean(_WeightedBCE(class_weights))
        return _MembersMean(nn.CrossEntropyLoss(weight=class_weights, label_smoothing=label_smoothing))

    def combine(self, member_logits: torch.Tensor) -> torch.Tensor:
        """(batch, C) scores of the members' mean probabilities, from (batch, members, C) logits."""
        import torch

        members = member_logits.size(1)
        if self.multilabel:
            p = torch.sigmoid(member_logits).mean(1).clamp(1e-7, 1 - 1e-7)
            return torch.log(p) - torch.log1p(-p)
        return torch.logsumexp(torch.log_softmax(member_logits, dim=-1), dim=1) - math.log(members)

    def weighted_loss(self, logits: torch.Tensor, labels: torch.Tensor, sample_weights: torch.Tensor,
                      class_weights: torch.Tensor | None, label_smoothing: float = 0.0) -> torch.Tensor:
        """The training loss with a weight per document: sum(w_i · loss_i) / sum(w_i · c_i), where
        for multiclass loss_i is the class-weighted cross-entropy and c_i its class weight (so with
        every w_i = 1 this is the unweighted criterion exactly), and for multilabel loss_i is the
        mean binary cross-entropy over the classes and c_i = 1."""
        import torch
        from torch import nn

        w = sample_weights.to(logits.dtype)
        if logits.dim() == 3:  # members: the mean of their losses, each normalised as one model's
            return torch.stack([self.weighted_loss(logits[:, k], labels, sample_weights, class_weights,
                                                   label_smoothing) for k in range(logits.size(1))]).mean()
        if self.multilabel:
            per_class = nn.functional.binary_cross_entropy_with_logits(
                logits, labels.to(logits.dtype), pos_weight=class_weights, reduction="none")
            return (per_class.mean(dim=1) * w).sum() / w.sum().clamp_min(1e-12)
        per_doc = nn.functional.cross_entropy(logits, labels, weight=class_weights, reduction="none",
                                              label_smoothing=label_smoothing)
        denominator = w if class_weights is None else w * class_weights[labels]
        return (per_doc * w).sum() / denominator.sum().clamp_min(1e-12)

    def initial_loss(self, num_classes: int) -> tuple[float, str]:
        """The loss of a fresh model that predicts nothing in particular, and how it is written."""
        if self.multilabel:
            return math.log(2), "ln(2)"
        return math.log(num_classes), f"ln({num_classes})"

    # ----------------------------------------------------------------- decisions

    def decide(self, probabilities: np.ndarray, thresholds: np.ndarray | list[float] | None = None,
               allow_empty: bool = False) -> np.ndarray:
        """Multiclass: (n,) indices of the most likely class. Multilabel: (n, C) bool, the classes
        at or above their threshold; a row left empty gets its most likely class unless
        ``allow_empty``."""
        probabilities = np.asarray(probabilities)
        if not self.multilabel:
            return probabilities.argmax(axis=1)
        return apply_thresholds(probabilities, 0.5 if thresholds is None else thresholds, allow_empty)

    def correct(self, logits: torch.Tensor, labels: torch.Tensor) -> int:
        """Documents of a training batch predicted exactly (multilabel: at threshold 0.5)."""
        if logits.dim() == 3:
            logits = self.combine(logits)
        if self.multilabel:
            return int(((logits > 0) == labels.bool()).all(dim=1).sum())
        return int((logits.argmax(1) == labels).sum())


def apply_thresholds(probabilities: np.ndarray, thresholds, allow_empty: bool = False) -> np.ndarray:
    chosen = probabilities >= np.asarray(thresholds, dtype=probabilities.dtype)
    if not allow_empty and len(chosen):
        empty = ~chosen.any(axis=1)
        chosen[np.flatnonzero(empty), probabilities[empty].argmax(axis=1)] = True
    return chosen


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; use one of {', '.join(TASKS)}")
    return Task(name)
