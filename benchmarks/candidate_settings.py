"""How the default's candidates train under other settings, judged on validation data only.

    TEXTCLF_DATA=../shared/data python benchmarks/candidate_settings.py \
        --datasets sms_spam,20news-subjects --candidates linear,bag \
        --variant bs256:train.batch_size=256,lr_scale=2

Each data set is one of ``peers.py``'s (derived ones included), read as its ``default`` system
reads it. Every candidate of ``config/default_recipe.py`` named by ``--candidates`` trains as the
selection trains it (same split, same early stopping, no last.ckpt), once with its own settings
(the row ``as is``) and once per ``--variant``: ``NAME:KEY=VALUE,...`` where KEY is a config key
(``train.batch_size``) or ``lr_scale`` (the candidate's learning rate times that). The table
gives each run's best validation score, its best epoch of the epochs run, and the seconds of
training (the data are encoded before the clock starts, once per tokenizer, as the selection
does). The last column replays the run's validation history with a patience of 1 epoch (where
the run would have stopped, and the score it would have kept). ``--peer`` adds a row for
``peers.py``'s TF-IDF + LinearSVC script fitted on the same training split and scored on the same
validation split. The test split is never read: this is for choosing the candidates' settings.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import tempfile
import time
from pathlib import Path

import yaml

from lib.peers import linear_svc
from lib.systems import system_config


def _variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, body = text.partition(":")
    if not name or not body:
        raise argparse.ArgumentTypeError(f"{text!r}: write NAME:KEY=VALUE[,KEY=VALUE...]")
    # commas inside [...] belong to a list value: model.C=[0.3,1]
    pairs = dict(item.split("=", 1) for item in re.split(r",(?![^\[]*\])", body))
    return name, pairs


def _apply(config, pairs: dict[str, str]):
    from textclf.config import config_from_dict

    raw = config.model_dump(mode="json")
    for key, value in pairs.items():
        if key == "lr_scale":
            raw["train"]["lr"] = config.train.lr * float(value)
            continue
        section, _, field = key.partition(".")
        raw[section][field] = yaml.safe_load(value)  # 3 -> int, 0.1 -> float, [0.1,1] -> list
    return config_from_dict(raw, source="variant")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="sms_spam,20news-subjects,20news-5small,goemotions-sentiment")
    parser.add_argument("--candidates", default="")
    parser.add_argument("--variant", action="append", type=_variant, default=[])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--peer", action="store_true", help="also score TF-IDF + LinearSVC on the same split")
    args = parser.parse_args()

    import torch

    from textclf.text.prepare import prepare_data
    from textclf.training import train
    from textclf.config import CANDIDATES
    from textclf.training.select import candidate_config

    torch.set_num_threads(args.threads)
    wanted = set(filter(None, args.candidates.split(",")))
    candidates = [c for c in CANDIDATES if not wanted or c.name in wanted]
    variants = [("as is", {}), *args.variant]
    print("| data set | candidate | variant | val score | best epoch / epochs | train s | with patience 1: score, epochs |")
    print("|---|---|---|--:|--:|--:|--:|")
    for dataset in args.datasets.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["TEXTCLF_CACHE"] = str(Path(tmp) / "cache")
            base = system_config("default", dataset, Path(tmp), [f"train.num_threads={args.threads}"])
            if args.peer:
                print(_peer_row(dataset, base), flush=True)
            for candidate in candidates:
                for name, pairs in variants:
                    config = _apply(candidate_config(base, candidate), pairs)
                    prepared = prepare_data(config)
                    started = time.perf_counter()
                    with contextlib.redirect_stdout(io.StringIO()):
                        result = train(config, run_dir=Path(tmp) / f"{candidate.name}-{name}", prepared=prepared,
                                       progress=False, final_evaluation=False, resumable=False, refit=False)
                    seconds = time.perf_counter() - started
                    score, epochs = _patience_one(result.history, config.train.monitor)
                    print(f"| {dataset} | {candidate.name} | {name} | {result.best_score:.4f} | "
                          f"{result.best_epoch} / {len(result.history)} | {seconds:.1f} | {score:.4f}, {epochs} |",
                          flush=True)
    return 0


def _peer_row(dataset: str, config) -> str:
    """The leaderboard row of the LinearSVC script, fitted on the training split, on validation."""
    import numpy as np

    from textclf.data import load_corpus

    corpus = load_corpus(config)
    predicted, train_s, _, _ = linear_svc(corpus["train"], corpus["val"])
    score = float(np.mean(predicted == np.asarray(corpus["val"].labels)))
    return f"| {dataset} | TF-IDF + LinearSVC (the script) | as is | {score:.4f} | — | {train_s:.1f} | — |"


def _patience_one(history: list[dict], monitor: str) -> tuple[float, int]:
    """(best score, epochs run) had training stopped at the first epoch that did not improve."""
    from textclf.training.recipe import MONITOR, monitored

    larger = MONITOR[monitor][1]
    best = None
    for epoch, record in enumerate(history, 1):
        score = monitored(record, monitor)
        if best is not None and not (score > best if larger else score < best):
            return best, epoch
        best = score
    return best, len(history)


if __name__ == "__main__":
    raise SystemExit(main())
