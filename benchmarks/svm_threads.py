"""The linear candidates' solver: liblinear in one call against textclf's SVMs side by side.

    TEXTCLF_DATA=../shared/data python benchmarks/svm_threads.py [--threads 2] [--write]

The default selection's ``linear`` candidates fit liblinear's SVM (``training/solver.py``) on a
sparse matrix of their features. For each set below the matrix is built once, as the candidate
builds it, and then fitted three ways, timed alone:

- the peer: scikit-learn's ``LinearSVC`` in one call (liblinear's own one-vs-rest; for a
  multi-label set one call per label, in turn), as a script would;
- textclf's solver with one thread;
- textclf's solver on ``--threads`` CPUs (torch's thread count: the calls side by side in as many
  forked processes; multiclass: the classes split into one liblinear call per process;
  multi-label: one label per task).

The last column is the largest difference between textclf's coefficients and the peer's (the
same optimisation problems: textclf stops at liblinear's own tolerance, 0.1, the peer at
scikit-learn's 1e-4).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lib import ROOT
from lib.results import markdown_table, write_section

from textclf.config import CANDIDATES, load_config
from textclf.training.select import candidate_config
from textclf.training.setup import setup_run
from textclf.training.solver import feature_matrix, fit_svms

SETS = {  # name: (config, overrides, candidate)
    "20NG bydate, word uni+bigrams": ("20newsgroups_default.yaml", ["data.protocol=bydate"], "linear"),
    "20NG bydate, + character 2-5-grams": ("20newsgroups_default.yaml", ["data.protocol=bydate"], "linear_chars"),
    "GoEmotions (28 labels, multi-label)": ("goemotions_default.yaml", [], "linear"),
}


def _peer(X, labels, multilabel: bool) -> tuple[np.ndarray, float]:
    from sklearn.svm import LinearSVC

    def svm(y):
        return LinearSVC(C=1.0, dual=True, max_iter=5000).fit(X, y)

    started = time.perf_counter()
    if multilabel:
        coef = np.vstack([svm(labels[:, j]).coef_ if labels[:, j].min() < labels[:, j].max()
                          else np.zeros((1, X.shape[1])) for j in range(labels.shape[1])])
    else:
        coef = svm(labels).coef_
    return coef, time.perf_counter() - started


def _ours(X, labels, multilabel: bool, num_classes: int, threads: int) -> tuple[np.ndarray, float]:
    torch.set_num_threads(threads)
    started = time.perf_counter()
    coef, _ = fit_svms(X, labels, multilabel, num_classes, 1.0)
    return coef, time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    rows = []
    for name, (path, overrides, candidate) in SETS.items():
        config = candidate_config(load_config(ROOT / "configs" / path, overrides),
                                  next(c for c in CANDIDATES if c.name == candidate))
        setup = setup_run(config)
        split = setup.prepared.splits["train"]
        X, labels = feature_matrix(setup.model, split), np.asarray(split.labels)
        multilabel = setup.task.multilabel
        peer, peer_s = _peer(X, labels, multilabel)
        _, one_s = _ours(X, labels, multilabel, setup.prepared.num_classes, 1)
        ours, many_s = _ours(X, labels, multilabel, setup.prepared.num_classes, args.threads)
        rows.append({"set": name, "shape": f"{X.shape[0]:,} × {X.shape[1]:,}, {X.nnz / 1e6:.1f} M non-zeros",
                     "peer": peer_s, "one": one_s, "many": many_s, "speedup": peer_s / many_s,
                     "gap": float(np.abs(ours - peer).max())})
        print(rows[-1], flush=True)
    table = markdown_table(rows, [("set", "features", ""), ("shape", "training matrix", ""),
                                  ("peer", "LinearSVC, one call s", ".1f"), ("one", "textclf, 1 thread s", ".1f"),
                                  ("many", f"textclf, {args.threads} processes s", ".1f"),
                                  ("speedup", "speed-up over the peer", ".2f"),
                                  ("gap", "largest coefficient difference", ".1e")])
    text = f"The solver alone (the feature matrix built before timing), C = 1.\n\n{table}"
    print(text)
    if args.write:
        write_section("svm-threads", "The linear candidates' solver: one liblinear call against textclf's calls side by side", text)


if __name__ == "__main__":
    main()
