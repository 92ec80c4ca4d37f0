"""Evaluating logits or a checkpoint: metrics, baselines, per-class table, confusion matrix.

Outputs in the evaluation folder: ``metrics.json``, ``per_class.csv``, ``confusion_matrix.csv``
and ``confusion_matrix.png``; with calibration scores, the expected calibration error before and
after temperature scaling and ``reliability.png``; for a multilabel model ``per_class_f1.png`` stands in for the
confusion matrix (C × C cells say little when a document has several classes).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from textclf.config import config_from_dict
from textclf.errors import CheckpointError, UsageError
from textclf.evaluation.baselines import baseline_metrics, multilabel_baselines
from textclf.evaluation.calibration import expected_calibration_error, reliability_bins
from textclf.evaluation.metrics import (
    classification_metrics,
    cross_entropy,
    format_per_class,
    multilabel_metrics,
)
from textclf.files import atomic_path, write_json
from textclf.inference import Predictor
from textclf.reporting.plots import plot_confusion_matrix, plot_per_class_f1, plot_reliability
from textclf.run_layout import RunLayout
from textclf.task import Task

__all__ = [
    "default_eval_dir", "evaluate_checkpoint", "evaluate_encoded", "evaluate_logits", "evaluation_name",
    "format_evaluation",
]


def evaluate_encoded(predictor: Predictor, encoded: list, out_dir: Path, subject: str) -> dict:
    """Every evaluation output of ``predictor`` on labelled texts it has encoded
    (``predictor.encode(texts, labels)``): its scores, decided and calibrated as the Predictor
    does, the training counts and seed of its (first) artifact for the baselines, and a preview
    of each text for ``predictions.csv``."""
    logits, uncalibrated = _scores(predictor, encoded)
    artifact, vocab = predictor.artifact, predictor.pipelines[0].vocab_
    previews = [" ".join(vocab.decode(encoded[0].document(i)[:60].tolist())) for i in range(len(encoded[0]))]
    return evaluate_logits(
        logits, encoded[0].labels, predictor.classes, artifact.train_class_counts, artifact.config.get("seed", 0),
        out_dir, subject=subject, previews=previews, task=predictor.task_, thresholds=predictor.thresholds,
        allow_empty=predictor.allow_empty, uncalibrated=None if predictor.task_.multilabel else uncalibrated,
        temperature=float(np.mean([a.temperature for a in predictor.artifacts])),
    )


def _scores(predictor: Predictor, encoded) -> tuple[np.ndarray, np.ndarray]:
    """(calibrated, uncalibrated) scores of encoded texts; one pass through the model(s) when no
    member is calibrated or there is only one."""
    calibrated = predictor.log_proba_encoded(encoded)
    temperatures = [a.temperature for a in predictor.artifacts]
    if all(t == 1.0 for t in temperatures):
        return calibrated, calibrated
    if len(temperatures) == 1:
        return calibrated, calibrated * np.float32(temperatures[0])
    return calibrated, predictor.log_proba_encoded(encoded, calibrated=False)


def evaluate_logits(
    logits: np.ndarray,
    labels: np.ndarray,
    label_names: list[str],
    train_label_counts: list[int],
    seed: int,
    out_dir: Path,
    subject: str,
    previews: list[str] | None = None,
    task: Task = Task("multiclass"),
    thresholds: np.ndarray | list[float] | None = None,
    allow_empty: bool = False,
    uncalibrated: np.ndarray | None = None,
    temperature: float = 1.0,
) -> dict:
    """Compute and write every evaluation output for ``logits`` against ``labels``.

    ``previews`` (a short text per example) adds ``predictions.csv``: one row per example with
    the true and predicted label and the model's confidence, for error analysis. A multilabel
    ``task`` decides with ``thresholds`` (and ``allow_empty``), as the Predictor does. With
    ``uncalibrated`` (the scores before temperature scaling; ``logits`` are after it), the
    expected calibration error before and after and a reliability diagram are added. ``subject``
    says what was evaluated in the plots' titles (``test, epoch 3``)."""
    if task.multilabel:
        return _evaluate_multilabel(logits, labels, label_names, train_label_counts, out_dir, subject, previews,
                                    task, thresholds, allow_empty)
    metrics = classification_metrics(labels, logits.argmax(axis=1), label_names)
    metrics["loss"] = cross_entropy(logits, labels)
    metrics["num_examples"] = len(labels)
    metrics["baselines"] = baseline_metrics(train_label_counts, labels, label_names, seed)
    out_dir = Path(out_dir)
    if uncalibrated is not None:
        after = task.probabilities(logits)
        before = task.probabilities(uncalibrated)
        # "loss" is that of the calibrated probabilities (what the Predictor gives); the epoch
        # lines and metrics.jsonl show the raw model's, which is loss_uncalibrated here.
        metrics.update(temperature=float(temperature), ece=expected_calibration_error(after, labels),
                       ece_uncalibrated=expected_calibration_error(before, labels),
                       loss_uncalibrated=cross_entropy(uncalibrated, labels))
        curves = {f"uncalibrated (ECE {metrics['ece_uncalibrated']:.4f})": reliability_bins(before, labels),
                  f"temperature {temperature:.3g} (ECE {metrics['ece']:.4f})": reliability_bins(after, labels)}
        plot_reliability(curves, out_dir / "reliability.png", f"Reliability diagram ({subject})")
    write_json(out_dir / "metrics.json", metrics)
    _write_csv(out_dir / "per_class.csv", ["label", "precision", "recall", "f1", "support"],
               [_per_class_cells(r) for r in metrics["per_class"]])
    _write_csv(out_dir / "confusion_matrix.csv", ["true \\ predicted", *label_names],
               [[name, *row] for name, row in zip(label_names, metrics["confusion_matrix"])])
    plot_confusion_matrix(metrics["confusion_matrix"], label_names, out_dir / "confusion_matrix.png",
                          f"Confusion matrix ({subject})")
    if previews is not None:
        probs = task.probabilities(logits)
        predicted = probs.argmax(axis=1)
        _write_csv(out_dir / "predictions.csv", ["index", "true", "predicted", "confidence", "preview"],
                   [[i, label_names[labels[i]], label_names[predicted[i]], f"{probs[i, predicted[i]]:.4f}", preview]
                    for i, preview in enumerate(previews)])
    return metrics


def _per_class_cells(r: dict) -> list:
    return [r["label"], f"{r['precision']:.6f}", f"{r['recall']:.6f}", f"{r['f1']:.6f}", r["support"]]


def _write_csv(path: Path, header: list[str], rows) -> None:
    """A CSV file written whole or not at all (a temporary name, then renamed)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _evaluate_multilabel(logits, labels, label_names, train_label_counts, out_dir, subject, previews,
                         task: Task, thresholds, allow_empty: bool) -> dict:
    probabilities = task.probabilities(logits)
    chosen = task.decide(probabilities, thresholds, allow_empty)
    metrics = multilabel_metrics(labels, chosen, label_names)
    metrics["loss"] = task.loss(logits, labels)
    metrics["num_examples"] = len(labels)
    metrics["thresholds"] = None if thresholds is None else [round(float(t), 6) for t in thresholds]
    metrics["baselines"] = multilabel_baselines(train_label_counts, labels, label_names)
    out_dir = Path(out_dir)
    write_json(out_dir / "metrics.json", metrics)
    _write_csv(out_dir / "per_class.csv", ["label", "precision", "recall", "f1", "support", "predicted", "threshold"],
               [[*_per_class_cells(r), r["predicted"], "" if thresholds is None else f"{float(thresholds[i]):.4f}"]
                for i, r in enumerate(metrics["per_class"])])
    plot_per_class_f1(metrics["per_class"], out_dir / "per_class_f1.png", f"Per-class F1 ({subject})")
    if previews is not None:
        def row(i: int, preview: str) -> list:
            picked = np.flatnonzero(chosen[i])
            return [i, "|".join(label_names[j] for j in np.flatnonzero(labels[i])),
                    "|".join(label_names[j] for j in picked), "|".join(f"{probabilities[i, j]:.4f}" for j in picked),
                    preview]

        _write_csv(out_dir / "predictions.csv", ["index", "true", "predicted", "probabilities", "preview"],
                   [row(i, preview) for i, preview in enumerate(previews)])
    return metrics


def format_evaluation(metrics: dict, split: str) -> str:
    if "subset_accuracy" in metrics:
        return _format_multilabel(metrics, split)
    b = metrics["baselines"]
    return "\n".join(
        [
            f"{split}: accuracy {metrics['accuracy']:.2%}  macro-F1 {metrics['f1_macro']:.4f}  "
            f"weighted-F1 {metrics['f1_weighted']:.4f}  loss {metrics['loss']:.4f}  "
            f"({metrics['num_examples']:,} examples)",
            f"baselines: majority class {b['majority']['accuracy']:.2%}  "
            f"uniform random {b['uniform']['accuracy']:.2%}",
            *([f"calibration: loss {metrics['loss_uncalibrated']:.4f} uncalibrated; "
               f"expected calibration error {metrics['ece_uncalibrated']:.4f} uncalibrated, "
               f"{metrics['ece']:.4f} at temperature {metrics['temperature']:.3g}"] if "ece" in metrics else []),
            "",
            format_per_class(metrics),
        ]
    )


def _format_multilabel(metrics: dict, split: str) -> str:
    b, card = metrics["baselines"]["majority"], metrics["label_cardinality"]
    return "\n".join(
        [
            f"{split}: micro-F1 {metrics['f1_micro']:.4f}  macro-F1 {metrics['f1_macro']:.4f}  "
            f"samples-F1 {metrics['f1_samples']:.4f}  subset accuracy {metrics['subset_accuracy']:.2%}  "
            f"Hamming loss {metrics['hamming_loss']:.4f}  loss {metrics['loss']:.4f}  "
            f"({metrics['num_examples']:,} examples)",
            f"labels per document: true {card['true']:.2f}, predicted {card['predicted']:.2f}",
            f"baseline (the most frequent class for every document): micro-F1 {b['f1_micro']:.4f}  "
            f"macro-F1 {b['f1_macro']:.4f}",
            "",
            format_per_class(metrics),
        ]
    )


def default_eval_dir(checkpoint: Path, split: str) -> Path:
    """``<run>/evaluation/<split>`` of the run the checkpoint belongs to."""
    return RunLayout.of_checkpoint(checkpoint).evaluation(split)


def evaluation_name(split: str, input_path: str | Path | None, members: int) -> str:
    """The evaluation folder's name: the split, or ``input-<file stem>`` for a file of the
    user's (never the name of a split, so it cannot overwrite the split's evaluation), with
    ``-ensembleN`` for N > 1 checkpoints."""
    name = f"input-{Path(input_path).stem}" if input_path is not None else split
    return name if members == 1 else f"{name}-ensemble{members}"


def evaluate_checkpoint(
    checkpoint: str | Path | list[str | Path],
    split: str = "test",
    out_dir: str | Path | None = None,
    batch_size: int = 256,
    device: str = "auto",
    input_path: str | Path | None = None,
    encoding: str | None = None,
) -> dict:
    """Evaluate a checkpoint (or an ensemble of several: mean probabilities) on a split of the
    data set it was trained on, or on any labelled file (``input_path``, read with the first
    checkpoint's text and label columns)."""
    from textclf.data import SPLITS, load_corpus

    if split not in SPLITS:
        raise UsageError(f"--split {split!r}: choose one of {', '.join(SPLITS)}")
    checkpoints = [Path(c) for c in (checkpoint if isinstance(checkpoint, list) else [checkpoint])]
    predictor = Predictor.load(checkpoints, device=device, batch_size=batch_size)
    artifact = predictor.artifact
    config = config_from_dict(artifact.config, source=f"{checkpoints[0]} (stored config)", stored=True)
    if input_path is not None:
        examples = _labelled_file(Path(input_path), config, predictor.classes, encoding)
        shown = Path(input_path).stem
    else:
        _check_same_split(predictor, checkpoints, config)
        corpus = load_corpus(config)
        if list(corpus.label_names) != predictor.classes:
            raise CheckpointError(
                f"{checkpoints[0]}: the data's classes differ from the checkpoint's; "
                "evaluate on the data set the model was trained on"
            )
        if len(predictor) > 1 and predictor.task_.multilabel:
            refit = sorted({a.where for a in predictor.artifacts if a.config["train"].get("refit")})
            if refit:  # (val is in their training data: thresholds tuned there would be too low)
                print(f"ensemble of {len(predictor)}: decision thresholds are the members' mean ({', '.join(refit)} "
                      "refit on train + val, so val cannot choose them again)", flush=True)
            else:
                _tune_ensemble_thresholds(predictor, corpus["val"], config)
        examples = corpus[split]
        shown = split
        if split in ("train", "val") and config.train.refit:
            print(f"note: {checkpoints[0]} was refit on train + val (train.refit), so its {split} scores are not "
                  "those of unseen data; the run's results.json keeps the held-out model's val scores",
                  file=sys.stderr)
    encoded = predictor.encode(examples.texts, examples.labels)
    out = Path(out_dir) if out_dir else default_eval_dir(checkpoints[0], evaluation_name(split, input_path, len(checkpoints)))
    subject = shown + (f", ensemble of {len(predictor)}" if len(predictor) > 1 else "")
    return evaluate_encoded(predictor, encoded, out, subject)


def _tune_ensemble_thresholds(predictor: Predictor, val, config) -> None:
    """A multilabel ensemble's thresholds, chosen on the validation split for its mean
    probabilities (as each member's were for its own), with the first member's settings: the
    mean of the members' thresholds is not the best cut of the mean probabilities."""
    from textclf.evaluation.thresholds import tune_thresholds

    probabilities = predictor.predict_proba(val.texts)
    t = config.train
    objective = "f1_macro" if t.monitor == "val_f1_macro" else "f1_micro"
    predictor.thresholds = tune_thresholds(probabilities, val.labels, t.threshold, objective, t.allow_empty)
    predictor.allow_empty = t.allow_empty
    print(f"ensemble of {len(predictor)}: decision thresholds tuned on the validation split "
          f"(train.threshold {t.threshold}; the members' mean is what predict and serve use)", flush=True)


def _check_same_split(predictor: Predictor, checkpoints: list[Path], first) -> None:
    """An ensemble is evaluated on its first member's split: every member must have been
    trained on that same split, or documents one member trained on would be scored as unseen."""
    from textclf.data import corpus_fingerprint

    if len(predictor) < 2:
        return
    expected = corpus_fingerprint(first)
    for artifact in predictor.artifacts[1:]:  # (an ensemble file's members name that file)
        path = artifact.where
        config = config_from_dict(artifact.config, source=f"{path} (stored config)", stored=True)
        if corpus_fingerprint(config) != expected:
            theirs, ours = config.data.model_dump(), first.data.model_dump()
            differ = [f"data.{k}" for k in ours if k not in ("cache", "cache_dir") and ours[k] != theirs.get(k)]
            differ += ["seed"] * (config.seed != first.seed) + ["task"] * (config.task != first.task)
            raise CheckpointError(
                f"{path}: trained on another split than {checkpoints[0]} ({', '.join(differ) or 'the data changed'} "
                "differ), so the ensemble's split could hold documents a member trained on; evaluate the "
                "members one by one, or give a labelled file with --input")


def _labelled_file(path: Path, config, label_names: list[str], encoding: str | None = None):
    """Examples of a labelled file, read with the checkpoint's table settings (the files
    source's defaults for a model trained on another source; ``encoding`` replaces its encoding),
    labels numbered as the checkpoint numbers them."""
    from textclf.data.files import number_label_sets, number_labels, read_labelled, table_settings

    table = table_settings(config.data.model_dump())
    if encoding:
        table.encoding = encoding
    texts, labels, _ = read_labelled(path, table, config.task)
    number = number_label_sets if config.task == "multilabel" else number_labels
    return number(texts, labels, label_names, table.unknown_labels, path)
