"""``textclf report RUN_DIR``: a Markdown and a self-contained HTML report of a run.

The report is assembled from what the run folder holds; each section appears when its artifacts
exist: configuration (config.yaml), data (data/), training curves (metrics.jsonl), test metrics
next to validation and the baselines, per-class table and confusion matrix (evaluation/), the
most-confused class pairs with misclassified examples (evaluation/test/predictions.csv), and
explained test examples (checkpoints/best.ckpt and the data). ``report.md`` links the PNG figures
in the run folder; ``report.html`` embeds them, so it opens anywhere without a network.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import re
from pathlib import Path

import numpy as np

from textclf.errors import TextclfError, UsageError
from textclf.files import write_text
from textclf.reporting.explain import STYLE, explain_ids, explanations_html
from textclf.reporting.plots import plot_training_curves, save_figure, subplots
from textclf.run_layout import RunLayout

__all__ = ["build_report"]


class _Document:
    """Blocks rendered twice: as Markdown and as HTML."""

    def __init__(self, root: Path):
        self.root = root
        self.md: list[str] = []
        self.html: list[str] = []

    def heading(self, text: str, level: int = 2) -> None:
        self.md.append(f"{'#' * level} {text}\n")
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def paragraph(self, text: str) -> None:
        self.md.append(text + "\n")
        self.html.append(f"<p>{html.escape(text)}</p>")

    def code(self, text: str) -> None:
        self.md.append(f"```\n{text.rstrip()}\n```\n")
        self.html.append(f"<pre>{html.escape(text)}</pre>")

    def table(self, header: list[str], rows: list[list]) -> None:
        def cell(v) -> str:
            return f"{v:.4f}" if isinstance(v, float) else str(v)

        md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        md += ["| " + " | ".join(cell(v).replace("|", "\\|") for v in row) + " |" for row in rows]
        self.md.append("\n".join(md) + "\n")
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell(v))}</td>" for v in row) + "</tr>" for row in rows
        )
        self.html.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def image(self, path: Path, caption: str) -> None:
        rel = path.relative_to(self.root).as_posix()
        self.md.append(f"![{caption}]({rel})\n")
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        self.html.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def raw_html(self, fragment: str, markdown: str) -> None:
        self.md.append(markdown + "\n")
        self.html.append(fragment)


_PAGE_STYLE = STYLE + """
body { max-width: 72rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; }
th { background: #f3f3f3; }
pre { background: #f6f6f6; padding: 0.6rem; overflow-x: auto; }
figure { margin: 1rem 0; } figure img { max-width: 100%; }
figcaption { color: #555; font-size: 0.9em; }
"""


def _read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def build_report(run_dir: str | Path, explain_examples: int = 3) -> tuple[Path, Path]:
    run = RunLayout(run_dir)
    if not run.root.is_dir() or not run.is_run():
        raise UsageError(f"{run}: not a run folder (no config.yaml); give a folder made by textclf train")
    doc = _Document(run.root)
    results = _read_json(run.results)
    doc.heading(f"Report: {run.root.name}", 1)
    if results:
        headline = (f"test micro-F1 {results['test_f1_micro']:.4f}" if "test_f1_micro" in results
                    else f"test accuracy {results['test_accuracy']:.2%}")
        doc.paragraph(
            f"Best epoch {results['best_epoch']} of {results['epochs_run']} by {results['monitor']}; "
            f"{headline}, macro-F1 {results['test_f1_macro']:.4f}; "
            f"{results['mean_epoch_seconds']:.1f} s per training epoch."
        )
        if "skipped" in results.get("refit", {}):
            doc.paragraph(f"Refit (train.refit) skipped: {results['refit']['skipped']}.")
        elif "members" in results.get("refit", {}):
            refit = results["refit"]
            doc.paragraph(
                f"Refit (train.refit): once validation had chosen them, each of the ensemble's {len(refit['members'])} "
                f"members was trained again on train + val ({refit['train_examples']:,} examples) for its own best "
                f"epochs, in {refit['seconds']:.1f} s in all; those models are the checkpoint and give the test "
                "results. The validation results are the held-out members', and their temperatures (multi-label: "
                "the mean's thresholds) were fitted on "
                + ("validation" if _cross_validation_folds(run) is None else "the cross-validation's out-of-fold "
                   "predictions") + " (their curves under refit/<candidate>/)."
            )
        elif "refit" in results:
            refit = results["refit"]
            folds = _cross_validation_folds(run)
            fitted = "thresholds" if "test_f1_micro" in results else "temperature"
            chosen, kept = ((f"validation had chosen epoch {results['best_epoch']}",
                             "The validation results, temperature and thresholds are the held-out model's")
                            if folds is None else
                            (f"{folds}-fold cross-validation had chosen its epochs",
                             f"The validation results are the held-out model's, the {fitted} the cross-validation's"))
            doc.paragraph(
                f"Refit (train.refit): once {chosen}, the model was trained "
                f"again on train + val ({refit['train_examples']:,} examples) for {refit['epochs']} epoch"
                f"{'s' * (refit['epochs'] != 1)} in {refit['seconds']:.1f} s; that model is the checkpoint and gives "
                f"the test results. {kept} (its curves under refit/)."
            )
    doc.heading("Configuration")
    doc.code(run.config.read_text(encoding="utf-8"))
    _data_section(doc, run)
    _selection_section(doc, run)
    _diagnostics_section(doc, run)
    _training_section(doc, run, results)
    test = _read_json(run.evaluation("test") / "metrics.json")
    if test and "subset_accuracy" in test:
        _multilabel_results_section(doc, run, test, _read_json(run.evaluation("val") / "metrics.json"))
    elif test:
        _results_section(doc, run, test, _read_json(run.evaluation("val") / "metrics.json"))
        _confusions_section(doc, run, test)
    if run.best_checkpoint.is_file() and explain_examples > 0:
        _explanations_section(doc, run, explain_examples)

    md_path = write_text(run.report_md, "\n".join(doc.md))
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Report: {html.escape(run.root.name)}</title>"
        f"<style>{_PAGE_STYLE}</style></head><body>\n" + "\n".join(doc.html) + "\n</body></html>\n"
    )
    html_path = write_text(run.report_html, page)
    return md_path, html_path


def _data_section(doc: _Document, run: RunLayout) -> None:
    stats = _read_json(run.data_statistics)
    if not stats:
        return
    doc.heading("Data")
    sizes = stats["sizes"]
    doc.table(["split", "documents", "share truncated", "mean tokens", "median tokens", "max tokens",
               "unknown-token rate"],
              [[s, n, f"{stats['lengths'][s]['share_truncated']:.1%}", f"{stats['lengths'][s]['mean']:.1f}",
                f"{stats['lengths'][s]['median']:.0f}", stats["lengths"][s]["max"], f"{stats['unk_rate'][s]:.2%}"]
               for s, n in sizes.items()])
    doc.paragraph(
        f"{stats['num_classes']} classes; vocabulary of {stats['vocab_size']:,} tokens; documents cut "
        f"to {stats['max_seq_len']} tokens. One training batch: ids {tuple(stats['batch_shape']['ids'])}, "
        f"lengths {tuple(stats['batch_shape']['lengths'])}, labels {tuple(stats['batch_shape']['labels'])}."
    )
    for name, caption in (("class_distribution.png", "Class distribution per split"),
                          ("token_lengths.png", "Document lengths in tokens")):
        if (run.data / name).is_file():
            doc.image(run.data / name, caption)
    doc.heading("Examples (as the model reads them, first 40 tokens)", 3)
    doc.table(["label", "tokens"], [[e["label"], e["tokens"]] for e in stats["examples"]])


def _diagnostics_section(doc: _Document, run: RunLayout) -> None:
    """Sanity checks, LR range test and search, when their commands wrote into the run folder
    (``--output RUN_DIR/sanity``, ``RUN_DIR/lr_find``, ``RUN_DIR/search``)."""
    sanity = _read_json(run.sanity / "sanity.json")
    if sanity:
        doc.heading("Sanity checks")
        gap = abs(sanity["initial_loss"] - sanity["expected_loss"])
        doc.table(["check", "result"], [
            ["initial loss vs ln C", f"{sanity['initial_loss']:.4f} vs {sanity['expected_loss']:.4f} (gap {gap:.4f})"],
            ["gradient norm after one backward pass", f"{sanity['gradient_norm']:.4f}"],
            ["parameters without a gradient", ", ".join(sanity["params_without_gradient"]) or "none"],
            ["overfit a small sample", f"loss {sanity['overfit_loss']:.4f}, accuracy "
                                       f"{sanity['overfit_accuracy']:.1%} after {sanity['overfit_steps']} steps"],
            ["verdict", "passed" if sanity["passed"] else "failed: " + "; ".join(sanity["failures"])],
        ])
        if (run.sanity / "overfit_curve.png").is_file():
            doc.image(run.sanity / "overfit_curve.png", "Loss and accuracy while overfitting a small sample")
    lr = _read_json(run.lr_find / "lr_find.json")
    if lr:
        doc.heading("Learning-rate range test")
        doc.paragraph(f"Suggested learning rate {lr['suggestion']:.2e}; stable window {lr['window'][0]:.1e} → "
                      f"{lr['window'][1]:.1e} ({lr['rule']}). Stopped: {lr['stop_reason']}.")
        if (run.lr_find / "lr_find.png").is_file():
            doc.image(run.lr_find / "lr_find.png", "Smoothed loss against the learning rate")
    results = run.search / "results.csv"
    if results.is_file():
        with open(results, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if rows:
            doc.heading("Hyperparameter search")
            header = list(rows[0])
            doc.table(header, [[r[h] for h in header] for r in rows])
            figure = _plot_search(rows, run.search / "metric_by_key.png")
            if figure:
                doc.image(figure, "The metric of every finished trial against each searched key")


def _plot_search(rows: list[dict], path: Path) -> Path | None:
    fixed = {"trial", "state", "val_loss", "best_epoch", "seconds"}
    keys = [k for k in rows[0] if k not in fixed]
    metric, searched = keys[-1], keys[:-1]
    if not searched:
        return None
    fig, axes = subplots(1, len(searched), figsize=(4 * len(searched), 3.5), squeeze=False)
    for ax, key in zip(axes[0], searched):
        values = [r[key] for r in rows]
        try:
            xs = [float(v) for v in values]
            numeric = True
        except ValueError:
            xs, numeric = values, False
        ax.scatter(xs, [float(r[metric]) for r in rows])
        if numeric and min(xs) > 0 and max(xs) / min(xs) > 20:
            ax.set_xscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    return save_figure(fig, path)


def _cross_validation_folds(run: RunLayout) -> str | None:
    """How many folds the default selection of ``run`` was cross-validated on (its leaderboard's
    status column), or None: on val alone, or no selection."""
    if not run.leaderboard.is_file():
        return None
    with open(run.leaderboard, newline="", encoding="utf-8") as f:
        return next((m.group(1) for r in csv.DictReader(f)
                     if (m := re.search(r"(\d+)-fold cross-validated", r.get("status", "")))), None)


def _selection_section(doc: _Document, run: RunLayout) -> None:
    """The default selection's leaderboard, when the run's model was chosen on validation."""
    if not run.leaderboard.is_file():
        return
    with open(run.leaderboard, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    doc.heading("Model selection")
    doc.paragraph("The config named no model: each default candidate trained until its validation metric "
                  "stopped improving, and the best on validation is this run (a candidate within the noise of the "
                  "best accuracy counts as level with it, and the lower calibrated validation loss decides; "
                  "the status column says when). The others' curves are under candidates/.")
    folds = _cross_validation_folds(run)
    if folds is not None:
        doc.paragraph(f"The validation split was small enough for a few of its examples to decide the choice "
                      f"(train.cv_folds), so the scores below are {folds}-fold cross-validation's: each candidate "
                      f"trained {folds} more times with the C it chose on val, on all of train + val but one fold, and "
                      "every document was predicted by a model that had not trained on it, after each epoch; the "
                      "epoch count that scored best is the candidate's and what its refit trained (its score on val "
                      "alone is in the status column). The runs are under folds/ of each candidate's folder. The "
                      "model kept carries the temperature (multi-label: the decision thresholds) fitted on those "
                      "out-of-fold predictions, not on val alone.")
    skipped = [r["candidate"] for r in rows if r.get("status", "").startswith("skipped")]
    if skipped:
        doc.paragraph(f"Not trained under train.budget: {', '.join(skipped)} (the status column says why; "
                      "train.budget: null in the config trains every candidate).")
    if rows and rows[0]["candidate"] == "ensemble":
        doc.paragraph(f"The run keeps an ensemble ({rows[0]['settings']}): the weighted mean of those candidates' "
                      "calibrated probabilities (members added greedily, with repeats, while they raised the "
                      "validation score) beat the best candidate alone on validation. checkpoints/best.ckpt holds "
                      "every member; config.yaml (model.candidates) trains them and chooses again.")
    doc.table(["rank", "candidate", "model", "settings", rows[0]["monitor"] if rows else "val score", "val loss",
               "val macro-F1", "epochs", "seconds", "status"],
              [[r["rank"], r["candidate"], r["model"], r["settings"], r["val_score"], r["val_loss"],
                r.get("val_f1_macro", ""), r["epochs"], r["seconds"], r["status"]] for r in rows])


def _training_section(doc: _Document, run: RunLayout, results: dict | None) -> None:
    path = run.metrics
    if not path.is_file():
        return
    history = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not history:
        return
    doc.heading("Training")
    best = results["best_epoch"] if results else int(np.argmax([h["val/accuracy"] for h in history])) + 1
    curves = run.training_curves
    if not curves.is_file():
        plot_training_curves(history, best, curves)
    doc.image(curves, f"Loss, accuracy and macro-F1 per epoch (best epoch {best} dashed)")
    if "val/f1_micro" in history[0]:  # multilabel: accuracy is subset accuracy
        doc.table(["epoch", "train loss", "train subset acc", "val loss", "val subset acc", "val micro-F1",
                   "val macro-F1", "seconds"],
                  [[h["epoch"], h["train/loss"], h["train/accuracy"], h["val/loss"], h["val/accuracy"],
                    h["val/f1_micro"], h["val/f1_macro"], f"{h['epoch_seconds']:.1f}"] for h in history])
        return
    doc.table(["epoch", "train loss", "train acc", "val loss", "val acc", "val macro-F1", "seconds"],
              [[h["epoch"], h["train/loss"], h["train/accuracy"], h["val/loss"], h["val/accuracy"],
                h["val/f1_macro"], f"{h['epoch_seconds']:.1f}"] for h in history])


def _results_section(doc: _Document, run: RunLayout, test: dict, val: dict | None) -> None:
    doc.heading("Results")
    rows = []
    for name, m in (("validation", val), ("test", test)):
        if m:
            rows.append([f"model on {name}", f"{m['accuracy']:.2%}", m["f1_macro"], m["f1_weighted"], m["loss"]])
    for name, b in test["baselines"].items():
        rows.append([f"{name} baseline on test", f"{b['accuracy']:.2%}", b["f1_macro"], b["f1_weighted"], "—"])
    doc.table(["", "accuracy", "macro-F1", "weighted-F1", "loss"], rows)
    doc.heading("Per class (test)", 3)
    doc.table(["class", "precision", "recall", "F1", "support"],
              [[r["label"], r["precision"], r["recall"], r["f1"], r["support"]] for r in test["per_class"]])
    image = run.evaluation("test") / "confusion_matrix.png"
    if image.is_file():
        doc.image(image, "Confusion matrix on test (rows: true class, shading: share of the row)")
    reliability = run.evaluation("test") / "reliability.png"
    if "ece" in test and reliability.is_file():
        doc.heading("Calibration (test)", 3)
        doc.paragraph(f"Expected calibration error {test['ece_uncalibrated']:.4f} for the raw softmax, "
                      f"{test['ece']:.4f} after temperature scaling (T = {test['temperature']:.3g}, fitted on "
                      "validation); the predictions are the same.")
        doc.image(reliability, "Reliability diagram: accuracy against confidence per bin, before and after")


def _multilabel_results_section(doc: _Document, run: RunLayout, test: dict, val: dict | None) -> None:
    doc.heading("Results")
    keys = ("f1_micro", "f1_macro", "f1_samples", "subset_accuracy", "hamming_loss")
    rows = [[f"model on {name}", *(m[k] for k in keys), m["label_cardinality"]["predicted"], m["loss"]]
            for name, m in (("validation", val), ("test", test)) if m]
    for name, b in test["baselines"].items():
        rows.append([f"{name} baseline on test", b["f1_micro"], b["f1_macro"], b["f1_samples"],
                     b["subset_accuracy"], "—", 1.0, "—"])
    doc.table(["", "micro-F1", "macro-F1", "samples-F1", "subset accuracy", "Hamming loss",
               "labels per document", "loss"], rows)
    doc.paragraph(f"Labels per document in test: {test['label_cardinality']['true']:.2f} true, "
                  f"{test['label_cardinality']['predicted']:.2f} predicted.")
    thresholds = test.get("thresholds") or [None] * len(test["per_class"])
    doc.heading("Per class (test)", 3)
    doc.table(["class", "precision", "recall", "F1", "support", "predicted", "threshold"],
              [[r["label"], r["precision"], r["recall"], r["f1"], r["support"], r["predicted"],
                "—" if t is None else t] for r, t in zip(test["per_class"], thresholds)])
    image = run.evaluation("test") / "per_class_f1.png"
    if image.is_file():
        doc.image(image, "F1 (bars), precision and recall of each class on test, best first")


def _confusions_section(doc: _Document, run: RunLayout, test: dict, pairs: int = 5, examples: int = 3) -> None:
    matrix = np.array(test["confusion_matrix"])
    names = [r["label"] for r in test["per_class"]]
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    order = np.dstack(np.unravel_index(np.argsort(-off, axis=None), off.shape))[0]
    top = [(int(i), int(j)) for i, j in order[:pairs] if off[i, j] > 0]
    if not top:
        return
    doc.heading("Most confused classes (test)")
    predictions = run.evaluation("test") / "predictions.csv"
    rows = []
    if predictions.is_file():
        with open(predictions, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    for i, j in top:
        doc.heading(f"{names[i]} → {names[j]}: {off[i, j]} of {matrix[i].sum()} documents", 3)
        wrong = [r for r in rows if r["true"] == names[i] and r["predicted"] == names[j]]
        if wrong:
            doc.table(["#", "confidence", "text (first 60 tokens)"],
                      [[r["index"], r["confidence"], r["preview"]] for r in wrong[:examples]])


def _explanations_section(doc: _Document, run: RunLayout, count: int) -> None:
    """Explain a few test documents: misclassified ones first, then a correct one."""
    from textclf.config import config_from_dict
    from textclf.inference import Predictor
    from textclf.text.prepare import prepare_data

    predictions = run.evaluation("test") / "predictions.csv"
    if not predictions.is_file():
        return
    with open(predictions, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    wrong = [r for r in rows if r["true"] != r["predicted"]]
    right = [r for r in rows if r["true"] == r["predicted"]]
    chosen = wrong[: max(count - 1, 0)] + right[: count - len(wrong[: max(count - 1, 0)])]
    try:
        predictor = Predictor.load(run.best_checkpoint)
        config = config_from_dict(predictor.artifact.config, stored=True)
        if "download" in (config.data.model_extra or {}):
            config.data.download = False  # a report reads what is there; it never downloads
        prepared = prepare_data(config)
    except TextclfError as exc:  # the data moved: report without this section, and say why
        doc.heading("Explained examples")
        doc.paragraph(f"Not available: {exc.problems[0]}")
        return
    split = prepared.splits["test"]
    vocab = predictor.pipelines[0].vocab_
    docs = []
    for r in chosen:
        ids = split.document(int(r["index"])).tolist()
        docs.append((vocab.decode(ids), ids))
    explanations = explain_ids(predictor.models[0], docs, predictor.classes, task=predictor.task_)
    titles = [f"test #{r['index']}, true {r['true']}" for r in chosen]
    doc.heading("Explained examples (test)")
    markdown = "\n".join(
        f"- {t}: predicted **{e.label}** (p = {e.probability:.3f}); top tokens by {e.method}: "
        + ", ".join(f"{tok} ({w:.2f})" for tok, w in e.top_tokens(8))
        for t, e in zip(titles, explanations)
    ) + "\n\nreport.html shows every token highlighted by its weight."
    doc.raw_html(explanations_html(explanations, titles), markdown)
