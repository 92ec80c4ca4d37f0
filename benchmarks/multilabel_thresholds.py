"""Multi-label candidates' settings, judged on validation only: threshold tuning and class weights.

    TEXTCLF_DATA=../shared/data python benchmarks/multilabel_thresholds.py \
        [--sets 20news-merged,goemotions:3000] [--write]

The data are ``goemotions.py``'s, read with ``configs/goemotions_default.yaml``: each of
``--sets`` is ``20news-merged``, ``goemotions`` or ``goemotions:N`` (N random training comments,
seed 0). The linear, linear_chars and bag candidates each train as
the selection trains them, with ``train.class_weights`` none and balanced (``pos_weight``). Their
validation probabilities are then cut with each threshold setting (tune_global, tune_mixed,
tune_per_class), cross-fitted: thresholds tuned on one half of the validation split score the
other half, and the other way round, so a setting cannot win by fitting the documents it is
scored on. Each line gives micro-F1 / macro-F1 per setting; ``--write`` puts the tables into RESULTS.md
("multilabel-thresholds"). The test split is never read.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
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
    parser.add_argument("--sets", default="20news-merged,goemotions:3000",
                        help="comma-separated: 20news-merged, goemotions or goemotions:N (N training comments)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="replace the multilabel-thresholds section of RESULTS.md")
    args = parser.parse_args()
    sets = args.sets.split(",")
    for name in sets:
        dataset, _, rows = name.partition(":")
        if dataset not in ("20news-merged", "goemotions") or (rows and (dataset != "goemotions" or not rows.isdigit())):
            parser.error(f"--sets: {name!r} is not 20news-merged, goemotions or goemotions:N")
    parts = ["Validation only (thresholds cross-fitted on its two halves); micro-F1 / macro-F1 of each "
             "threshold setting, each candidate trained as the default selection trains it."]
    for name in sets:
        dataset, _, rows = name.partition(":")
        print(f"{name} ...", file=sys.stderr, flush=True)
        parts.append(f"### {name}\n\n" + _table(dataset, int(rows) if rows else None, args.threads))
        print(parts[-1], flush=True)
    if args.write:
        from lib.results import write_section

        write_section("multilabel-thresholds", "Multi-label: threshold settings and class weights on validation",
                      "\n\n".join(parts))
    return 0


def _table(dataset: str, train_rows: int | None, threads: int) -> str:
    from textclf.config import config_from_dict, load_config
    from textclf.inference import Predictor
    from textclf.run_layout import RunLayout
    from textclf.task import get_task
    from textclf.text.prepare import prepare_data
    from textclf.training import train
    from textclf.config import CANDIDATES
    from textclf.training.select import candidate_config

    lines = ["| candidate | class_weights | best epoch / epochs | " + " | ".join(SETTINGS) + " |",
             "|---|---|--:|" + "--:|" * len(SETTINGS)]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TEXTCLF_CACHE"] = str(Path(tmp) / "cache")
        sets = goemotions.newsgroups_merged(Path(tmp)) if dataset == "20news-merged" else []
        if train_rows:
            sets += goemotions.subsample(train_rows, Path(tmp))
        base = load_config(goemotions.ROOT / goemotions.CONFIGS["default"], [*sets, f"train.num_threads={threads}"])
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
                lines.append(f"| {candidate.name} | {weights} | {result.best_epoch} / {len(result.history)} | "
                             + " | ".join(f"{micro:.4f} / {macro:.4f}" for micro, macro in scores) + " |")
                print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
