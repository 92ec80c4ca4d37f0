"""textclf's scikit-learn estimator under cross_val_score, against TF-IDF + LinearSVC in the same run.

    TEXTCLF_DATA=../shared/data python benchmarks/sklearn_cv.py [--docs 2000] [--folds 3] [--write]

Both are scored by the same ``cross_val_score`` call on the same stratified sample of the shared
SMS spam file (``--docs`` messages, seed 0) and the same folds: the peer is a scikit-learn
``Pipeline`` of ``TfidfVectorizer`` (word 1–2-grams, sublinear tf) and ``LinearSVC``; ours is
``textclf.sklearn.TextClassifier()`` with nothing set (the default selection, holding out 10 % of
each training fold for its validation, then refitting its winner on the whole fold). The table
gives the mean and sd of the folds' accuracy and the seconds of the whole ``cross_val_score``
call; ``--write`` puts it in the "sklearn-cv" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from lib.results import write_section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    import torch
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    from textclf.config import DataConfig
    from textclf.data.location import data_location
    from textclf.sklearn import TextClassifier

    torch.set_num_threads(args.threads)
    root, _ = data_location(DataConfig())
    frame = pd.read_csv(root / "sms_spam.csv", keep_default_na=False)
    if args.docs < len(frame):
        frame, _ = train_test_split(frame, train_size=args.docs, stratify=frame["label"], random_state=0)
    texts, labels = list(frame["text"]), np.asarray(frame["label"])
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    systems = {
        "TF-IDF 1–2-grams + LinearSVC (scikit-learn Pipeline)":
            make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LinearSVC()),
        "textclf.sklearn.TextClassifier() (the default selection)":
            TextClassifier(config={"train": {"num_threads": args.threads}}),
    }
    lines = [f"{args.folds}-fold cross_val_score on {len(texts):,} SMS messages ({(labels == 'spam').mean():.1%} "
             "spam)\n", "| system | accuracy % (mean ± sd of folds) | seconds |", "|---|--:|--:|"]
    print("\n".join(lines))
    for name, estimator in systems.items():
        started = time.perf_counter()
        scores = cross_val_score(estimator, texts, labels, cv=folds)
        seconds = time.perf_counter() - started
        lines.append(f"| {name} | {100 * scores.mean():.2f} ± {100 * scores.std():.2f} | {seconds:.1f} |")
        print(lines[-1], flush=True)
    if args.write:
        write_section("sklearn-cv", "The scikit-learn estimator under cross_val_score", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
