"""Choosing the linear SVM's C: on one held-out split, or by k-fold cross-validation on the
training split? Judged on the validation split only (the test split is never read).

    TEXTCLF_DATA=../shared/data python benchmarks/solver_cv.py \
        --datasets sms_spam,20news-subjects --repeats 5 [--write]

For each data set (``peers.py``'s, read as its ``default`` system reads them): TF-IDF
(sublinear, word 1–2-grams, as ``peers.py``'s script) of the training split; each rule picks C
from ``--grid`` (ties: the smaller), refits on the whole training split and is scored on the
validation split:

- ``held-out``: fit on a stratified 90 % of the training split, score on the other 10 % (what a
  selection that has one validation split does), ``--repeats`` random draws of that 10 %;
- ``cv``: ``--folds``-fold stratified cross-validation on the training split (``--repeats`` fold
  draws), the mean accuracy over the folds;
- ``C=1``: no choice (LinearSVC's default, the peer).

The table gives each rule's mean validation accuracy over the draws, its standard deviation,
the Cs it picked, and its seconds per draw; ``--write`` puts it in RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from lib.systems import system_config
from lib.results import markdown_table, write_section


def _pick(scores: dict[float, float]) -> float:
    best = max(scores.values())
    return min(c for c, s in scores.items() if s >= best - 1e-12)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="sms_spam,20news-subjects,20news-5small,goemotions-sentiment,"
                        "goemotions-single")
    parser.add_argument("--grid", default="0.1,0.3,1")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = parser.parse_args()

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import StratifiedKFold, train_test_split
    from sklearn.svm import LinearSVC

    from textclf.data import load_corpus

    grid = [float(c) for c in args.grid.split(",")]
    rows = []
    for dataset in args.datasets.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["TEXTCLF_CACHE"] = str(Path(tmp) / "cache")
            config = system_config("default", dataset, Path(tmp), [])
            corpus = load_corpus(config)
        train, val = corpus["train"], corpus["val"]
        y, y_val = np.asarray(train.labels), np.asarray(val.labels)
        vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, max_df=0.5)
        X = vectorizer.fit_transform(train.texts)
        V = vectorizer.transform(val.texts)

        def fit(C, rows=None):
            rows = slice(None) if rows is None else rows
            return LinearSVC(C=C, random_state=0).fit(X[rows], y[rows])

        final = {C: float((fit(C).predict(V) == y_val).mean()) for C in grid}

        def held_out(seed):
            inner, outer = train_test_split(np.arange(len(y)), test_size=0.1, stratify=y, random_state=seed)
            return _pick({C: float((fit(C, inner).predict(X[outer]) == y[outer]).mean()) for C in grid})

        def cross_validated(seed):
            folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=seed).split(X, y))
            return _pick({C: float(np.mean([(fit(C, a).predict(X[b]) == y[b]).mean() for a, b in folds]))
                          for C in grid})

        for rule, choose in (("held-out 10 %", held_out), (f"{args.folds}-fold cv", cross_validated),
                             ("C=1", lambda seed: 1.0)):
            picks, seconds = [], []
            for seed in range(args.repeats):
                started = time.perf_counter()
                picks.append(choose(seed))
                seconds.append(time.perf_counter() - started)
            scores = [final[C] if C in final else float((fit(C).predict(V) == y_val).mean()) for C in picks]
            rows.append({"dataset": dataset, "docs": len(y), "rule": rule, "score": float(np.mean(scores)),
                         "sd": float(np.std(scores)), "seconds": float(np.mean(seconds)),
                         "picked": ", ".join(f"{c:g}×{n}" for c, n in sorted(Counter(picks).items()))})
            print(" | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in rows[-1].values()), flush=True)
    table = markdown_table(rows, [("dataset", "data set", ""), ("docs", "train docs", ","), ("rule", "rule", ""),
                                  ("score", "val accuracy (mean)", ".4f"), ("sd", "± sd", ".4f"),
                                  ("picked", "C picked", ""), ("seconds", "s per draw", ".1f")])
    print(table)
    if args.write:
        write_section("solver-cv", "Choosing the linear SVM's C: one held-out split or cross-validation",
                      f"TF-IDF + LinearSVC features of each training split; C from [{args.grid}] (ties: the smaller), "
                      f"picked on a held-out 10 % of the training split or by {args.folds}-fold cross-validation "
                      f"on it ({args.repeats} draws each), then fitted on the whole training split and scored "
                      "on the validation split (the test split is not read).\n\n" + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
