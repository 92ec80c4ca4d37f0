"""Cost against corpus size: preprocessing and one training epoch at 10k / 100k / 1M documents,
side by side with scikit-learn's HashingVectorizer on the same documents.

    TEXTCLF_DATA=../shared/data python benchmarks/scale.py [--sizes 10000,100000,1000000] [--write]

The corpora are made here, not downloaded: documents drawn with replacement from the shared
SMS spam collection (5,574 messages) and the 20 Newsgroups posts cut to their first 60 words, each
perturbed so that no two are the same (every word is dropped with probability 0.1, and a random
number token is appended), labelled with their source's class. Written once per size as a CSV
file in a temporary folder.

Every measurement runs in a fresh process, so its peak memory (max RSS) is its own:

- textclf preprocessing: ``prepare_data`` on the CSV (read, tokenize, vocabulary, encode, write
  the memory-mapped cache), as ``textclf train`` does it cold;
- textclf epoch: one epoch of ``bag_of_ngrams`` (hashed uni+bigrams, TF-IDF, dim 32) reading the
  cached, memory-mapped corpus;
- scikit-learn: HashingVectorizer (uni+bigrams, 2^20 features) over the same texts in chunks of
  10,000, each chunk fed to ``SGDClassifier.partial_fit`` (hinge loss): its preprocessing and one
  epoch together, streaming.

``--write`` replaces the "scale" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from lib.results import markdown_table, write_section

COLUMNS = [
    ("documents", "documents", ",d"),
    ("system", "what", ""),
    ("seconds", "wall s", ".1f"),
    ("docs_per_s", "docs/s", ",.0f"),
    ("peak_mb", "peak RSS MB", ",.0f"),
]


def _sources() -> list[tuple[str, str]]:
    data = Path(os.environ.get("TEXTCLF_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    rows = []
    with open(data / "sms_spam.csv", encoding="utf-8", newline="") as f:
        rows += [(r["text"], r["label"]) for r in csv.DictReader(f)]
    with tarfile.open(data / "20news-bydate.tar.gz") as archive:
        for member in archive:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 3:
                text = archive.extractfile(member).read().decode("latin-1")
                rows.append((" ".join(text.split()[:60]), parts[1]))
    return rows


def make_corpus(size: int, path: Path, seed: int = 0) -> None:
    rows = _sources()
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in rng.integers(0, len(rows), size):
            text, label = rows[i]
            words = [w for w in text.split() if rng.random() >= 0.1] + [f"n{rng.integers(1_000_000)}"]
            writer.writerow([" ".join(words), label])


def _config(path: Path, cache: Path):
    from textclf.config import config_from_dict

    return config_from_dict({
        "name": "scale", "output_dir": str(cache.parent / "runs"),
        "data": {"source": "files", "train": str(path), "test_size": 0.05, "val_size": 0.05,
                 "cache_dir": str(cache)},
        "preprocess": {"max_seq_len": 100, "max_size": 200000},
        "model": {"name": "bag_of_ngrams", "embedding_dim": 32, "ngrams": 2, "buckets": 200000, "tfidf": True},
        "train": {"epochs": 1, "batch_size": 64, "device": "cpu", "calibration": "none"},
    })


def child(what: str, path: Path, cache: Path, out: Path) -> None:
    import torch

    torch.set_num_threads(2)
    started = time.perf_counter()
    if what == "preprocess":
        from textclf.text.prepare import prepare_data

        prepared = prepare_data(_config(path, cache))
        count = sum(len(s) for s in prepared.splits.values())
    elif what == "epoch":
        from textclf.training import train

        config = _config(path, cache)
        train(config, run_dir=cache.parent / f"run-{time.time_ns()}", progress=False, final_evaluation=False)
        count = None
    else:  # scikit-learn, streaming
        import pandas as pd
        from sklearn.feature_extraction.text import HashingVectorizer
        from sklearn.linear_model import SGDClassifier

        vectorizer = HashingVectorizer(ngram_range=(1, 2), n_features=2**20, alternate_sign=False)
        classes = sorted(set(pd.read_csv(path, usecols=["label"], dtype=str)["label"]))
        model = SGDClassifier(loss="hinge")
        count = 0
        for chunk in pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=10000):
            model.partial_fit(vectorizer.transform(chunk["text"]), chunk["label"], classes=classes)
            count += len(chunk)
    seconds = time.perf_counter() - started
    out.write_text(json.dumps({"seconds": seconds, "count": count,
                               "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _measure(what: str, path: Path, cache: Path) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = Path(f.name)
    subprocess.run([sys.executable, __file__, "--child", what, str(path), str(cache), str(out)], check=True)
    result = json.loads(out.read_text())
    out.unlink()
    return result


NAMES = {"preprocess": "textclf preprocessing (read, tokenize, vocabulary, encode, cache)",
         "epoch": "textclf one epoch of bag_of_ngrams (memory-mapped cache)",
         "sklearn": "scikit-learn HashingVectorizer + SGDClassifier.partial_fit, one pass"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        what, path, cache, out = args.child
        child(what, Path(path), Path(cache), Path(out))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in [int(s) for s in args.sizes.split(",")]:
            path = Path(tmp) / f"corpus-{size}.csv"
            print(f"making {size:,} documents ...", file=sys.stderr, flush=True)
            make_corpus(size, path)
            cache = Path(tmp) / f"cache-{size}"
            for what in ("preprocess", "epoch", "sklearn"):
                print(f"  {what} ...", file=sys.stderr, flush=True)
                m = _measure(what, path, cache)
                rows.append({"documents": size, "system": NAMES[what], "seconds": m["seconds"],
                             "docs_per_s": size / m["seconds"], "peak_mb": m["peak_mb"]})
                print(f"    {m['seconds']:.1f} s, {m['peak_mb']:,.0f} MB", file=sys.stderr, flush=True)
    table = markdown_table(rows, COLUMNS)
    print(table)
    if args.write:
        write_section("scale", "Scale: preprocessing and one epoch at 10k / 100k / 1M documents",
                      "Documents resampled and perturbed from the shared SMS spam and 20 Newsgroups sets "
                      "(see the script's docstring); each row is a fresh process on 2 threads. The epoch "
                      "row trains on 90 % of the documents (5 % each for validation and test).\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
