"""A default selection's ensemble: a weighted mean of its candidates, chosen on validation.

Once every candidate has trained, the selection's winner may not be the best the candidates can
do together: on 20 Newsgroups subject lines they are level on validation and the winner changes
with the seed, while the mean of their probabilities is better than each. Caruana et al. (2004)
build such a mean greedily: start from the winner and add, with replacement, the candidate whose
calibrated probabilities raise the monitored validation metric of the mean the most; stop when
no candidate raises it. A candidate added twice counts twice. AutoGluon ends its fits the same way.

When the mean has more than one distinct member it is what the run keeps (``train.ensemble``,
on by default; accuracy, micro- or macro-F1 or loss as ``train.monitor`` says; multi-label, each
mean's thresholds are tuned on validation by ``train.threshold`` before it is scored, and the
kept members all carry the mean's thresholds):

1. each member's best checkpoint moves to ``checkpoints/members/<candidate>.ckpt`` with its own
   temperature (``train.calibration``: the one the selection fitted on validation to rank it);
2. ``checkpoints/best.ckpt`` becomes one ensemble file (``artifact.save_ensemble``: the members
   and their weights), which ``textclf evaluate``, ``predict``, ``serve``, the report and
   ``Predictor.load`` take as they take one model;
3. with ``train.refit`` each member trains again on train + val for its own best epochs
   (``refit.refit_run``, its run in ``refit/<candidate>/``) and the file is written again from the
   refit members; ``checkpoints/members/`` is then removed (the ensemble file holds them).
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

from textclf.artifact import ModelArtifact, save_ensemble
from textclf.config import Config
from textclf.evaluation.metrics import cross_entropy
from textclf.evaluation.thresholds import tune_thresholds
from textclf.run_layout import RunLayout
from textclf.task import get_task
from textclf.text.prepare import PreparedData
from textclf.training.side_by_side import logged, side_by_side

__all__ = ["GREEDY_ROUNDS", "Decision", "Member", "greedy_ensemble", "ensemble_score", "f1_scores",
           "level_within_noise", "worth_keeping", "keep_ensemble", "refit_members"]

# At most this many additions (with repeats) after the winner: weights in steps of 1/11 at the
# finest, and a bound on how far a small validation split can be fitted.
GREEDY_ROUNDS = 10


@dataclass(frozen=True)
class Decision:
    """How a multi-label mean becomes labels: ``train.threshold`` (a probability, or tuned on
    validation for the monitored F1) and ``train.allow_empty``, as a single run decides."""

    threshold: Any
    allow_empty: bool

    def thresholds(self, probabilities: np.ndarray, labels: np.ndarray, monitor: str) -> np.ndarray:
        objective = "f1_macro" if monitor == "val_f1_macro" else "f1_micro"
        return tune_thresholds(probabilities, labels, self.threshold, objective, self.allow_empty)

    def decide(self, probabilities: np.ndarray, labels: np.ndarray, monitor: str) -> np.ndarray:
        """(n, C) bool: the labels of ``probabilities`` at the thresholds tuned on them."""
        return get_task("multilabel").decide(probabilities, self.thresholds(probabilities, labels, monitor),
                                             self.allow_empty)


def ensemble_score(probabilities: np.ndarray, labels: np.ndarray, monitor: str,
                   decision: Decision | None = None) -> float:
    """The monitored validation metric of (calibrated) ``probabilities``, larger is better (the
    loss comes back negated). Multi-label (``decision`` given): the thresholds are tuned on these
    probabilities first, as each candidate's were on its own."""
    labels = np.asarray(labels)
    if monitor == "val_loss":
        return -_loss(probabilities, labels, decision is not None)
    if decision is not None:
        if monitor == "val_accuracy":  # (a multi-label record's accuracy is the subset accuracy)
            return float((decision.decide(probabilities, labels, monitor) == labels.astype(bool)).all(1).mean())
        micro, macro = f1_scores(probabilities, labels, monitor, decision)
        return macro if monitor == "val_f1_macro" else micro
    predicted = probabilities.argmax(1)
    if monitor == "val_f1_macro":
        from sklearn.metrics import f1_score

        return float(f1_score(labels, predicted, average="macro", labels=np.arange(probabilities.shape[1]),
                              zero_division=0))
    return float((predicted == labels).mean())  # accuracy (multiclass micro-F1 is accuracy)


def f1_scores(probabilities: np.ndarray, labels: np.ndarray, monitor: str, decision: Decision) -> tuple[float, float]:
    """Multi-label (micro-F1, macro-F1) of ``probabilities`` at the thresholds ``decision`` tunes
    on them for ``monitor``."""
    from sklearn.metrics import f1_score

    truth = np.asarray(labels).astype(bool)
    chosen = decision.decide(probabilities, truth, monitor)
    return tuple(float(f1_score(truth, chosen, average=a, zero_division=0)) for a in ("micro", "macro"))


def _loss(probabilities: np.ndarray, labels: np.ndarray, multilabel: bool) -> float:
    """Log-loss of probabilities: cross-entropy, or multi-label the mean binary cross-entropy."""
    if not multilabel:
        return cross_entropy(np.log(np.clip(probabilities, 1e-12, None)), labels)
    p = np.clip(probabilities.astype(np.float64), 1e-12, 1 - 1e-12)
    y = np.asarray(labels, dtype=np.float64)
    return float(-(y * np.log(p) + (1 - y) * np.log1p(-p)).mean())


def greedy_ensemble(probabilities: dict[str, np.ndarray], labels: np.ndarray, start: str, monitor: str,
                    rounds: int = GREEDY_ROUNDS, decision: Decision | None = None) -> dict[str, int]:
    """How many times each candidate enters the mean (``start`` once at least): Caruana's greedy
    forward selection with replacement on the validation ``probabilities`` (calibrated, one
    (n, C) array a candidate). A step is taken only if it raises the score; among equal scores
    the lower log-loss of the mean wins, then the earlier candidate. Multi-label: ``decision``
    (each mean's thresholds tuned before it is scored)."""
    labels = np.asarray(labels)
    counts = Counter({start: 1})
    total = probabilities[start].astype(np.float64)
    best = ensemble_score(total, labels, monitor, decision)
    for _ in range(rounds):
        n = sum(counts.values()) + 1
        trials = []
        for name, p in probabilities.items():
            mean = (total + p) / n
            trials.append((ensemble_score(mean, labels, monitor, decision), -_loss(mean, labels, decision is not None),
                           name))
        score, _, name = max(trials, key=lambda t: (t[0], t[1]))
        if score <= best:
            break
        best, total = score, total + probabilities[name]
        counts[name] += 1
    return dict(counts)


def level_within_noise(best: np.ndarray, other: np.ndarray) -> bool:
    """Whether ``other`` (which validation documents it gets right) is behind ``best`` by at most
    one standard error of the paired difference: the square root of the number of documents on
    which exactly one of the two is right (McNemar's test)."""
    gap = int(best.sum()) - int(other.sum())
    return gap <= math.sqrt(int((best != other).sum()))


def worth_keeping(mean: np.ndarray, labels: np.ndarray, monitor: str, winner_correct: np.ndarray | None,
                  winner_loss: float, decision: Decision | None = None,
                  winner_probabilities: np.ndarray | None = None) -> bool:
    """Whether the greedy ensemble's validation probabilities ``mean`` should replace the winner:
    on accuracy, as candidates are ranked (``select._rank``), a gain within the noise of the
    paired difference is level, and then only a lower calibrated loss keeps the ensemble (a gain
    of one validation document otherwise keeps a mean with a worse loss). Multi-label
    (``decision``), the ensemble must not be below the winner (``winner_probabilities``) on
    micro- or macro-F1, each at the thresholds tuned for the monitored metric: rare labels are
    what a mean tuned for micro-F1 can give up (docs/architecture.md, "The default as a
    selection"). On the other monitors the greedy step's strict gain decides."""
    if decision is not None and winner_probabilities is not None:
        ours, theirs = (f1_scores(p, labels, monitor, decision) for p in (mean, winner_probabilities))
        return all(a >= b for a, b in zip(ours, theirs))
    if monitor not in ("val_accuracy", "val_f1_micro") or winner_correct is None:
        return True
    correct = mean.argmax(1) == np.asarray(labels)
    if not level_within_noise(correct, winner_correct):
        return True
    return -ensemble_score(mean, labels, "val_loss") < winner_loss


@dataclass
class Member:
    """A candidate in the kept ensemble: what refitting it needs."""

    name: str
    count: int
    config: Config
    prepared: PreparedData
    best_epoch: int
    history: list[dict]
    temperature: float | None = None  # fitted on validation (None: train.calibration none)


def _member_path(run: RunLayout, name: str) -> Path:
    return run.checkpoints / "members" / f"{name}.ckpt"


def keep_ensemble(run: RunLayout, members: list[Member], checkpoints: dict[str, Path],
                  thresholds: np.ndarray | None = None) -> None:
    """Move each member's best checkpoint (``checkpoints``: by name) under ``checkpoints/members/``
    with its temperature, and write the run's best checkpoint as the ensemble of them.
    Multi-label: every member carries ``thresholds``, those tuned on validation for the mean (the
    Predictor cuts an ensemble's mean at its members' mean thresholds; a refit keeps them)."""
    artifacts = []
    for member in members:
        source = Path(checkpoints[member.name])
        artifact = ModelArtifact.load(source)
        if member.temperature is not None:
            artifact.temperature = member.temperature
        if thresholds is not None:
            artifact.thresholds = [float(t) for t in thresholds]
        path = _member_path(run, member.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        artifacts.append(artifact)
        artifact.save(path)
        source.unlink()
        if source.parent != run.checkpoints:  # (a candidate's own folder keeps no weights)
            shutil.rmtree(source.parent, ignore_errors=True)
    _write(run, members, artifacts)


def _write(run: RunLayout, members: list[Member], artifacts: list[ModelArtifact] | None = None) -> None:
    """The ensemble file from the members' artifacts (read from ``checkpoints/members/`` unless given)."""
    if artifacts is None:
        artifacts = [ModelArtifact.load(_member_path(run, m.name)) for m in members]
    save_ensemble(run.best_checkpoint, artifacts, [float(m.count) for m in members])


# Refits whose held-out runs took less than this many seconds in all run in this process.
SIDE_BY_SIDE_S = 20.0


def refit_members(run: RunLayout, members: list[Member], refit: Callable[..., dict] | None,
                  workers: int = 1, threads: int = 1, progress: bool = True, ends: float | None = None) -> dict | None:
    """With ``refit`` (``refit.refit_run`` with the selection's train function and progress
    bound), train each member again on train + val and write the ensemble file again from them;
    then drop ``checkpoints/members/``. What was done, for results.json (None without refit).
    ``ends``: where ``train.budget`` runs out, as a ``time.time()`` (comparable across processes).

    With ``workers`` > 1 the members train side by side, as the candidates did
    (``training/side_by_side.py``: ``workers`` processes of ``threads`` threads, the dearest
    member first), each one's output in ``refit/<candidate>/train.log``, unless their held-out
    runs took less than ``SIDE_BY_SIDE_S`` in all: then in this process, one after the other (a
    worker spends seconds importing torch before it trains anything)."""
    done = None
    if refit is not None:
        started = time.perf_counter()
        calls = [partial(_refit_member, refit, run, m, ends) for m in members]
        dear = sum(_held_out_seconds(m) for m in members) >= SIDE_BY_SIDE_S
        if workers > 1 and len(members) > 1 and dear:
            print(f"refit: {len(members)} ensemble members in {min(workers, len(members))} processes side by side "
                  "(each one's output: refit/<name>/train.log)", file=sys.stderr, flush=True)
            dearest = sorted(range(len(members)), key=lambda i: -_held_out_seconds(members[i]))
            results = side_by_side([partial(logged, partial(call, progress=False), run.refit / m.name)
                                    for call, m in zip(calls, members)],
                                   [f"refit of {m.name}" for m in members], min(workers, len(members)), threads,
                                   progress, "refit", lambda i, r: f"{members[i].name} {_refit_text(r)}",
                                   "during the ensemble's refit; the held-out members are in checkpoints/members/",
                                   dearest)
        else:
            results = [call(None) for call in calls]
        by_member = {m.name: r for m, r in zip(members, results)}
        _write(run, members)
        refitted = [r for r in by_member.values() if "skipped" not in r]
        done = {"members": by_member, "seconds": time.perf_counter() - started}
        if refitted:
            done.update(epochs=max(r["epochs"] for r in refitted), train_examples=refitted[0]["train_examples"])
        else:
            done["skipped"] = "; ".join(f"{name}: {r['skipped']}" for name, r in by_member.items())
        print(f"refit: {len(refitted)} of {len(members)} ensemble members trained again on train + val",
              file=sys.stderr, flush=True)
    shutil.rmtree(run.checkpoints / "members", ignore_errors=True)
    return done


def _refit_member(refit: Callable[..., dict], run: RunLayout, member: Member, ends: float | None, on_epoch=None,
                  **settings) -> dict:
    return refit(member.config, member.prepared, run, member.best_epoch, history=member.history,
                 ends=None if ends is None else time.perf_counter() + ends - time.time(),
                 checkpoint=_member_path(run, member.name), folder=run.refit / member.name, on_epoch=on_epoch,
                 **settings)


def _held_out_seconds(member: Member) -> float:
    return sum(h.get("epoch_seconds", 0.0) for h in member.history[:member.best_epoch])


def _refit_text(result: dict) -> str:
    if "skipped" in result:
        return f"refit skipped: {result['skipped']}"
    return f"trained again: {result['epochs']} epoch{'s' * (result['epochs'] != 1)}, {result['seconds']:.1f} s"
