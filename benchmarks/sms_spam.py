"""SMS spam: our LSTM with and without class weights against TF-IDF + LinearSVC, same test split.

    TEXTCLF_DATA=../shared/data python benchmarks/sms_spam.py [--epochs 15] [--threads N] [--write]

Prints a Markdown table (test macro-F1, spam precision/recall, train time); ``--write`` puts it
into benchmarks/RESULTS.md (section "sms-spam-lstm"). The split is the one configs/sms_spam_lstm.yaml makes (stratified,
seed 42: 70 % train, 10 % val, 20 % test); the SVM trains on train + val (80 %), the usual 80/20.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score, precision_score, recall_score
from sklearn.svm import LinearSVC

from lib import ROOT
from lib.results import write_section

from textclf.config import load_config
from textclf.data import load_corpus
from textclf.training import train

CONFIG = ROOT / "configs" / "sms_spam_lstm.yaml"


def row(name, y_true, y_pred, spam, seconds):
    return {
        "model": name,
        "macro_f1": f1_score(y_true, y_pred, average="macro"),
        "spam_precision": precision_score(y_true, y_pred, pos_label=spam, average="binary"),
        "spam_recall": recall_score(y_true, y_pred, pos_label=spam, average="binary"),
        "accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred))),
        "train_s": seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--write", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    base = load_config(CONFIG, [f"train.epochs={args.epochs}"])
    corpus = load_corpus(base)
    spam = corpus.label_names.index("spam")
    y_test = corpus["test"].labels
    rows = []

    started = time.perf_counter()
    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1)
    x_train = vectorizer.fit_transform(corpus["train"].texts + corpus["val"].texts)
    y_train = np.concatenate([corpus["train"].labels, corpus["val"].labels])
    svm = LinearSVC().fit(x_train, y_train)
    seconds = time.perf_counter() - started
    rows.append(row("TF-IDF 1-2 grams + LinearSVC (scikit-learn)", y_test,
                    svm.predict(vectorizer.transform(corpus["test"].texts)), spam, seconds))

    for label, weights in (("LSTM, no class weights", "none"), ("LSTM, class_weights: inverse", "inverse")):
        # (balanced differs from inverse by a constant factor, which a weighted-mean loss cancels)
        config = load_config(CONFIG, [f"train.epochs={args.epochs}", f"train.class_weights={weights}"])
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            result = train(config, run_dir=Path(tmp) / "run", progress=False)
            seconds = time.perf_counter() - started
        metrics = result.test_metrics
        per = {r["label"]: r for r in metrics["per_class"]}
        rows.append({
            "model": f"textclf {label} (best epoch {result.best_epoch})",
            "macro_f1": metrics["f1_macro"],
            "spam_precision": per["spam"]["precision"],
            "spam_recall": per["spam"]["recall"],
            "accuracy": metrics["accuracy"],
            "train_s": seconds,
        })

    lines = [
        f"Test split of configs/sms_spam_lstm.yaml ({len(y_test)} messages, {int((y_test == spam).sum())} spam), "
        f"{args.epochs} epochs at most, {torch.get_num_threads()} torch threads.",
        "",
        "| model | macro-F1 | spam precision | spam recall | accuracy | train time (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['macro_f1']:.4f} | {r['spam_precision']:.4f} | "
                     f"{r['spam_recall']:.4f} | {r['accuracy']:.4f} | {r['train_s']:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section("sms-spam-lstm", "SMS spam: an LSTM with and without class weights against LinearSVC", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
