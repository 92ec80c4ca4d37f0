"""Multi-label candidates' settings, judged on validation only: threshold tuning and class weights.

    TEXTCLF_DATA=../shared/data python benchmarks/multilabel_thresholds.py --dataset 20news-merged
    TEXTCLF_DATA=../shared/data python benchmarks/multilabel_thresholds.py --dataset goemotions --train-rows 3000

The data are ``goemotions.py``'s (``--dataset``, ``--train-rows``), read with
``configs/goemotions_default.yaml``. The linear, linear_chars and bag candidates each train as
the selection trains them, with ``train.class_weights`` none and balanced (``pos_weight``). Their
validation probabilities are then cut with each threshold setting (tune_global, tune_mixed,
tune_per_class), cross-fitted: thresholds tuned on one half of the validation split score the
other half, and the other way round, so a setting cannot win by fitting the documents it is
scored on. Each line gives micro-F1 / macro-F1 per setting. The test split is never read.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np


import goemotions  # the data sets

SETTINGS = ("tune_global", "tune_mixed", "tune_per_class")


def crossfit(probabilities: np.ndarray, labels: np.ndarray, setting: str) -> tuple[float, float]:
    """(micro-F1, macro-F1) of ``setting``'s thresholds, each half scored with the other's."""
    from sklearn.metrics import f1_score

    from textclf.evaluation.thresholds import tune_thresholds
    from textclf.task import get_task

    task = get_task("multilabel")
    order = np.random.default_rng(0).permutation(len(labels))
    halves, decided = (order[::2], order[1::2]), np.zeros_like(labels)
    for fit, score in ((0, 1), (1, 0)):
        thresholds = tune_thresholds(probabilities[halves[fit]], labels[halves[fit]], setting, "f1_micro", False)
        decided[halves[score]] = task.decide(probabilities[halves[score]], thresholds, False)
    return (f1_score(labels, decided, average="micro", zero_division=0),
            f1_score(labels, decided, average="macro", zero_division=0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["goemotions", "20news-merged"], default="20news-merged")
    parser.add_argument("--train-rows", type=int, help="GoEmotions: this many random training comments (seed 0)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from textclf.config import config_from_dict, load_config
    from textclf.inference import Predictor
    from textclf.run_layout import RunLayout
    from textclf.task import get_task
    from textclf.text.prepare import prepare_data
    from textclf.training import train
    from textclf.config import CANDIDATES
    from textclf.training.select import candidate_config

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TEXTCLF_CACHE"] = str(Path(tmp) / "cache")
        sets = goemotions.newsgroups_merged(Path(tmp)) if args.dataset == "20news-merged" else []
        if args.train_rows:
            sets += goemotions.subsample(args.train_rows, Path(tmp))
        base = load_config(goemotions.ROOT / goemotions.CONFIGS["default"], [*sets, f"train.num_threads={args.threads}"])
        print("| candidate | class_weights | best epoch / epochs | " + " | ".join(SETTINGS) + " |")
        print("|---|---|--:|" + "--:|" * len(SETTINGS))
        for candidate in [c for c in CANDIDATES if c.name in ("linear", "linear_chars", "bag")]:
            for weights in ("none", "balanced"):
                raw = candidate_config(base, candidate).model_dump(mode="json")
                raw["train"]["class_weights"] = weights
                config = config_from_dict(raw)
                prepared = prepare_data(config)
                with contextlib.redirect_stdout(io.StringIO()):
                    result = train(config, run_dir=Path(tmp) / f"{candidate.name}-{weights}", prepared=prepared,
                                   progress=False, final_evaluation=False, resumable=False, refit=False)
                val = prepared.splits["val"]
                predictor = Predictor.load(RunLayout(result.run_dir).best_checkpoint)
                probabilities = get_task("multilabel").probabilities(predictor.log_proba_encoded([val]))
                scores = [crossfit(probabilities, np.asarray(val.labels), s) for s in SETTINGS]
                print(f"| {candidate.name} | {weights} | {result.best_epoch} / {len(result.history)} | "
                      + " | ".join(f"{micro:.4f} / {macro:.4f}" for micro, macro in scores) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
