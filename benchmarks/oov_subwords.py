"""What the character n-grams of words unseen in training give the default's candidates, on
validation only.

    TEXTCLF_DATA=../shared/data python benchmarks/oov_subwords.py \
        --datasets sms_spam,20news-subjects6,20news-lead4 [--candidates linear_chars,bag_chars] [--write]

A word that the training split lacks (or has fewer than ``min_freq`` times) is ``<unk>`` to the
vocabulary. With ``model.unknown_chars`` the text pipeline still cuts it into its character
n-grams, as fastText cuts unknown words (``text/unknown_subwords.py``). Each candidate named
(those of ``config/default_recipe.py`` with character n-grams) trains as the selection trains it
on each ``peers.py`` data set, read as the ``default`` system reads it (and on the multi-label
sets of ``goemotions.py``: ``goemotions-multilabel``, ``goemotions-3000``, ``20news-merged``), twice:
with ``unknown_chars`` off and on. The table gives the validation score of each (accuracy, or
micro-F1 for multi-label; the C chosen on it, as the selection does) and the share of validation
tokens that are ``<unk>``. The test split is not read: this is for choosing the candidates'
settings.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from pathlib import Path

from lib import ROOT
from lib.results import markdown_table, write_section
from lib.systems import system_config

# goemotions.py's multi-label sets: configs/goemotions_default.yaml on all of GoEmotions, on 3,000
# of its training comments, or on 20 Newsgroups posts joined into multi-label documents (as
# goemotions.py's --dataset and --train-rows)
MULTILABEL = {"goemotions-multilabel": ("goemotions", None), "goemotions-3000": ("goemotions", 3000),
              "20news-merged": ("20news-merged", None)}


def _base_config(dataset: str, workdir: Path, threads: int):
    """The config the ``default`` system trains on ``dataset``."""
    if dataset not in MULTILABEL:
        return system_config("default", dataset, workdir, [f"train.num_threads={threads}"])
    from goemotions import CONFIGS, data_overrides

    from textclf.config import load_config

    sets = [f"train.num_threads={threads}", *data_overrides(*MULTILABEL[dataset], workdir)]
    return load_config(ROOT / CONFIGS["default"], sets)


def _val_score(dataset: str, candidate_name: str, unknown_chars: bool, threads: int) -> tuple[float, float, float]:
    """(validation score, share of validation tokens outside the vocabulary, seconds of training)."""
    from textclf.config import CANDIDATES, config_from_dict
    from textclf.text.prepare import prepare_data
    from textclf.training import train
    from textclf.training.select import candidate_config

    candidate = next(c for c in CANDIDATES if c.name == candidate_name)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TEXTCLF_CACHE"] = str(Path(tmp) / "cache")
        config = candidate_config(_base_config(dataset, Path(tmp), threads), candidate)
        raw = config.model_dump(mode="json")
        raw["model"]["unknown_chars"] = unknown_chars
        config = config_from_dict(raw, source="oov_subwords")
        prepared = prepare_data(config)
        val = prepared.splits["val"]
        unknown = float(val.unk_counts.sum() / max(1, val.full_lengths.sum()))
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            result = train(config, run_dir=Path(tmp) / "run", prepared=prepared, progress=False,
                           final_evaluation=False, resumable=False, refit=False)
        return result.best_score, unknown, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="sms_spam,20news-subjects6,goemotions-polarity,20news-lead4,"
                                              "20news-few,20news-subjects,goemotions-sentiment,goemotions-single,"
                                              "20news-5small," + ",".join(MULTILABEL))
    parser.add_argument("--candidates", default="linear_chars")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    rows = []
    for dataset in args.datasets.split(","):
        for candidate in args.candidates.split(","):
            off, unknown, off_s = _val_score(dataset, candidate, False, args.threads)
            on, _, on_s = _val_score(dataset, candidate, True, args.threads)
            rows.append({"dataset": dataset, "candidate": candidate, "unknown": 100 * unknown, "off": off, "on": on,
                         "gain": 100 * (on - off), "off_s": off_s, "on_s": on_s})
            print(f"{dataset} {candidate}: {off:.4f} -> {on:.4f}", flush=True)
    columns = [("dataset", "data set", ""), ("candidate", "candidate", ""),
               ("unknown", "val tokens outside the vocabulary %", ".2f"),
               ("off", "val score (accuracy; multi-label: micro-F1), unknown_chars off", ".4f"), ("on", "val score, on", ".4f"),
               ("gain", "gain (points)", "+.2f"), ("off_s", "train s, off", ".1f"), ("on_s", "train s, on", ".1f")]
    table = markdown_table(rows, columns)
    print(table)
    gains = [r["gain"] for r in rows]
    print(f"mean gain {sum(gains) / len(gains):+.2f} points; ahead on {sum(g > 0 for g in gains)}, "
          f"behind on {sum(g < 0 for g in gains)} of {len(gains)}")
    if args.write:
        intro = ("The default's candidates with character n-grams on validation, with `model.unknown_chars` off "
                 "(a word outside the vocabulary is `<unk>`) and on (it brings its character n-grams, cut when "
                 "the text is encoded, as fastText's unknown words do). The test split is not read.")
        path = write_section("oov-subwords", "Character n-grams of unseen words", intro + "\n\n" + table)
        print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
