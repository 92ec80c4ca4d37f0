"""What character n-grams of words unseen in training would give, measured on validation only.

    TEXTCLF_DATA=../shared/data python benchmarks/oov_subwords.py \
        --datasets sms_spam,20news-subjects6,20news-lead4 [--write]

textclf's character n-grams belong to vocabulary words (docs/architecture.md, "Character n-grams:
from the vocabulary, not the text"): a word never seen in the training split is ``<unk>`` and
brings none, where fastText cuts an unknown word into its n-grams at prediction time. This asks
what that costs, before building it. The default's ``linear_chars`` candidate trains as the
selection trains it (``min_freq: 1`` on a multiclass task, so every training word is in the
vocabulary either way) twice on each ``peers.py`` data set:

- ``as shipped``: the vocabulary of the training split's words;
- ``open``: the same words, plus every word of the validation split that the training split
  lacks. Such a word never occurs in a training document, so its own weights stay 0 and what it
  adds to a validation document is its character n-grams, as fastText's unknown words add theirs.

The table gives the validation accuracy of each (the C chosen on it, as the selection does; the
test split is not read). It measures an experiment (``TextPipeline.fit_encode`` replaced in this
process), not a feature of textclf.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np

from lib.results import markdown_table, write_section
from lib.systems import system_config


def _open_fit_encode(shipped):
    """``TextPipeline.fit_encode`` (``shipped``) with the validation split's new words in the
    vocabulary (``others[0]`` is val; test's words are not added): its vocabulary's counts get
    each validation word's count where the training split has none."""
    from collections import Counter

    from textclf.text.vocabulary import Vocabulary

    def fit_encode(self, train, *others, labels=None, consume=False):
        val_counts = Counter(token for text in others[0] for token in self.tokenizer(text))
        fit_counts = Vocabulary.fit_counts

        def with_val_words(vocabulary, tokens, counts):
            counts = np.array(counts, dtype=np.int64)
            for i, token in enumerate(tokens):
                if counts[i] == 0 and token in val_counts:
                    counts[i] = max(val_counts[token], vocabulary.min_freq)
            return fit_counts(vocabulary, tokens, counts)

        Vocabulary.fit_counts = with_val_words
        try:
            return shipped(self, train, *others, labels=labels, consume=consume)
        finally:
            Vocabulary.fit_counts = fit_counts

    return fit_encode


def _val_score(dataset: str, open_vocabulary: bool, threads: int) -> tuple[float, float]:
    """(validation accuracy, share of validation tokens unseen in training) of linear_chars."""
    from textclf.config import CANDIDATES
    from textclf.text import pipeline as pipeline_module
    from textclf.text.prepare import prepare_data
    from textclf.training import train
    from textclf.training.select import candidate_config

    candidate = next(c for c in CANDIDATES if c.name == "linear_chars")
    shipped = pipeline_module.TextPipeline.fit_encode
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TEXTCLF_CACHE"] = str(Path(tmp) / "cache")
        config = candidate_config(system_config("default", dataset, Path(tmp), [f"train.num_threads={threads}"]),
                                  candidate)
        if open_vocabulary:
            pipeline_module.TextPipeline.fit_encode = _open_fit_encode(shipped)
        try:
            prepared = prepare_data(config)
        finally:
            pipeline_module.TextPipeline.fit_encode = shipped
        val = prepared.splits["val"]
        unknown = float(val.unk_counts.sum() / max(1, val.full_lengths.sum()))
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            result = train(config, run_dir=Path(tmp) / "run", prepared=prepared, progress=False,
                           final_evaluation=False, resumable=False, refit=False)
        return result.best_score, unknown


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="sms_spam,20news-subjects6,goemotions-polarity,20news-lead4,"
                                              "20news-few,20news-subjects,goemotions-sentiment")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    rows = []
    for dataset in args.datasets.split(","):
        shipped, unknown = _val_score(dataset, False, args.threads)
        opened, _ = _val_score(dataset, True, args.threads)
        rows.append({"dataset": dataset, "unknown": 100 * unknown, "shipped": shipped, "open": opened,
                     "gain": 100 * (opened - shipped)})
        print(f"{dataset}: {shipped:.4f} -> {opened:.4f}", flush=True)
    columns = [("dataset", "data set", ""), ("unknown", "val tokens unseen in training %", ".2f"),
               ("shipped", "val accuracy, as shipped", ".4f"), ("open", "val accuracy, open", ".4f"),
               ("gain", "gain (points)", "+.2f")]
    table = markdown_table(rows, columns)
    print(table)
    if args.write:
        intro = ("The default's `linear_chars` candidate on validation: its vocabulary as shipped (the training "
                 "split's words) and open (plus the validation split's new words, which bring only their "
                 "character n-grams, as fastText's unknown words do). An experiment for a feature not yet "
                 "built; the test split is not read.")
        path = write_section("oov-subwords", "Character n-grams of unseen words: what they would give",
                             intro + "\n\n" + table)
        print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
