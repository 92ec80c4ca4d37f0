"""Preprocessing speed: tokenize, build the vocabulary and encode all 18,846 documents of 20
Newsgroups, against scikit-learn's CountVectorizer with the same token pattern on the same texts.

    TEXTCLF_DATA=../shared/data python benchmarks/preprocessing.py [--repeat 3] [--write]

- CountVectorizer(token_pattern=r"\\w+", lowercase=True).fit_transform(all texts): its own
  tokenize + vocabulary + count matrix;
- ours, cold: what ``prepare_data`` does after reading the archive (tokenize every split,
  vocabulary from train, encode every split), on the same in-memory texts;
- ours, cached: a second ``prepare_data`` call with the same settings (reads the on-disk cache),
  archive reading included, as a user's second run sees it.

Best of ``--repeat`` runs each.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from lib import ROOT
from lib.results import markdown_table, write_section

from textclf.config import load_config
from textclf.data import SPLITS, load_corpus
from textclf.text.prepare import encode_corpus, prepare_data

CONFIG = ROOT / "configs" / "20newsgroups_bigru.yaml"


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="replace the preprocessing section of RESULTS.md")
    args = parser.parse_args()
    from sklearn.feature_extraction.text import CountVectorizer

    config = load_config(CONFIG)
    corpus = load_corpus(config)
    texts = [t for s in SPLITS for t in corpus[s].texts]
    sk = best_of(args.repeat, lambda: CountVectorizer(token_pattern=r"\w+").fit_transform(texts))
    cold = best_of(args.repeat, lambda: encode_corpus(corpus, config.preprocess))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TEXTCLF_CACHE"] = tmp
        prepare_data(config)  # fills the cache
        cached = best_of(args.repeat, lambda: prepare_data(config))
    rows = [
        {"step": "scikit-learn CountVectorizer.fit_transform", "seconds": sk, "ratio": 1.0},
        {"step": "textclf: tokenize + vocabulary + encode", "seconds": cold, "ratio": cold / sk},
        {"step": "textclf: second run (on-disk cache)", "seconds": cached, "ratio": cached / sk},
    ]
    table = markdown_table(rows, [("step", "step", ""), ("seconds", "seconds", ".2f"), ("ratio", "× CountVectorizer", ".2f")])
    text = f"All {len(texts):,} documents of 20 Newsgroups, best of {args.repeat}.\n\n{table}\n"
    print(text)
    if args.write:
        write_section("preprocessing", "Preprocessing speed", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
