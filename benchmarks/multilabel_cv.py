"""Multi-label default selection: choosing on val alone or on cross-validation of train + val, scored on held-out texts.

    TEXTCLF_DATA=../shared/data python benchmarks/multilabel_cv.py [--sets goemotions:1000,goemotions:3000,20news-merged]
        [--draws 3] [--arms val,cv,cv_mixed,val_mixed,cv3] [--held-out 3000] [--write]

Each draw d of a set is a small multi-label data set (train, val) and, from the same pool, texts
that neither holds (the held-out texts, ``--held-out`` at most; val and held-out texts with a
class that the training split lacks are left out): the sets' test files are never read, so what this measures
can decide a default. Sets:

- ``goemotions:N``: N random comments of GoEmotions' training file (seed d), as many of its dev
  file as the published split has for N (seed d), and held-out comments from the rest of the
  training file;
- ``20news-merged``: ``goemotions.py``'s 20news-merged built from 20 Newsgroups bydate's
  *training* posts only (seed d: which groups are rare and how posts are joined), 30 % of its
  documents held out, the rest 85 / 15 train / val.

Arms (each ``configs/goemotions_default.yaml``, no model section, with its data replaced):

- ``val``: ``train.cv_folds: null``: the candidates are compared, and the winner's decision
  threshold tuned, on val alone (the selection before cross-validation covered multi-label);
- ``cv``: the default (``train.cv_folds: auto``): on a validation split of fewer than 1,000
  documents, on out-of-fold predictions over train + val;
- ``val_mixed`` / ``cv_mixed``: the same with ``train.threshold: tune_mixed`` (each class with
  enough positives its own threshold);
- ``cv3``: ``train.cv_folds: 3`` (auto divides train + val into 5 folds below 500 validation
  documents, 3 from there).

Also TF-IDF (1–2-grams, sublinear) + one-vs-rest LinearSVC on train + val (decision > 0), the
peer of ``goemotions.py``. Each row: micro-F1 and macro-F1 on the held-out texts, the winner, and
the training seconds (in-process, one run after another). ``--write`` stores the rows in
benchmarks/multilabel_cv_rows.json (replacing those of the same set, draw and system, so runs add
up) and rebuilds the "multilabel-cv" section of RESULTS.md from all of them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import goemotions  # 20news-merged's documents
from lib import ROOT
from lib.results import markdown_table, write_section
from lib.systems import winner

ROWS = Path(__file__).resolve().parent / "multilabel_cv_rows.json"
ARMS = {"val": {"train.cv_folds": None}, "cv": {},
        "val_mixed": {"train.cv_folds": None, "train.threshold": "tune_mixed"},
        "cv_mixed": {"train.threshold": "tune_mixed"}, "cv3": {"train.cv_folds": 3}}
MERGED_HELD_OUT = 0.3


def goemotions_draw(rows: int, seed: int, held_out: int, folder: Path) -> None:
    """train.csv, dev.csv and held_out.csv of one GoEmotions draw in ``folder``."""
    import pandas as pd

    from textclf.config import DataConfig
    from textclf.data.location import data_location

    root = (data_location(DataConfig())[0] or Path.cwd()) / "goemotions"
    train = pd.read_csv(root / "train.csv", keep_default_na=False)
    dev = pd.read_csv(root / "dev.csv", keep_default_na=False)
    chosen = train.sample(rows, random_state=seed)
    chosen.to_csv(folder / "train.csv", index=False)
    _known(dev.sample(max(1, round(rows * len(dev) / len(train))), random_state=seed), chosen).to_csv(
        folder / "dev.csv", index=False)
    rest = _known(train.drop(chosen.index), chosen)
    rest.sample(min(held_out, len(rest)), random_state=seed).to_csv(folder / "held_out.csv", index=False)


def _known(frame, train):
    """The rows of ``frame`` whose labels all occur in ``train`` (a model cannot be scored on a
    class it never saw: textclf refuses such a file)."""
    seen = {label for labels in train["labels"] for label in labels.split("|")}
    return frame[[set(labels.split("|")) <= seen for labels in frame["labels"]]]


def merged_draw(seed: int, held_out: int, folder: Path) -> None:
    """20news-merged from bydate's training posts (seed ``seed``), split into train, dev and held-out."""
    from textclf.config import load_config
    from textclf.data import load_corpus

    corpus = load_corpus(load_config(ROOT / "configs/20newsgroups_default.yaml", ["data.protocol=bydate"]))
    texts = [t for split in (corpus["train"], corpus["val"]) for t in split.texts]
    labels = np.concatenate([corpus["train"].labels, corpus["val"].labels])
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(corpus.label_names))
    docs = goemotions.merged_documents(texts, labels, corpus.label_names, order, rng).sample(frac=1.0, random_state=seed)
    cut = min(held_out, int(len(docs) * MERGED_HELD_OUT))
    rest = docs[cut:]
    split = int(len(rest) * 0.85)
    _known(docs[:cut], rest[:split]).to_csv(folder / "held_out.csv", index=False)
    rest[:split].to_csv(folder / "train.csv", index=False)
    _known(rest[split:], rest[:split]).to_csv(folder / "dev.csv", index=False)


def peer(folder: Path) -> dict:
    """``goemotions.py``'s one-vs-rest LinearSVC on train + dev, scored on held_out.csv."""
    from types import SimpleNamespace

    import pandas as pd
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import MultiLabelBinarizer

    fit = pd.concat([pd.read_csv(folder / f, keep_default_na=False) for f in ("train.csv", "dev.csv")])
    test = pd.read_csv(folder / "held_out.csv", keep_default_na=False)
    binarizer = MultiLabelBinarizer().fit([s.split("|") for s in pd.concat([fit, test])["labels"]])
    split = {name: SimpleNamespace(texts=frame["text"].tolist(),
                                   labels=binarizer.transform([s.split("|") for s in frame["labels"]]))
             for name, frame in (("fit", fit), ("test", test))}
    predicted, seconds, _ = goemotions._linear_svc(split["fit"], split["test"], binarizer.classes_)
    truth = split["test"].labels
    return {"micro": f1_score(truth, predicted, average="micro", zero_division=0),
            "macro": f1_score(truth, predicted, average="macro", zero_division=0), "seconds": seconds}


def ours(folder: Path, arm: str, seed: int) -> dict:
    """The default selection on train/dev with ``arm``'s settings, scored on held_out.csv."""
    import textclf

    config = {"name": arm, "task": "multilabel", "seed": seed, "output_dir": str(folder / "runs"),
              "data": {"source": "files", "train": str(folder / "train.csv"), "val": str(folder / "dev.csv"),
                       "test": str(folder / "held_out.csv"), "label_column": "labels",
                       "cache_dir": str(folder / "cache")}}
    started = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        run = textclf.train(config, overrides=ARMS[arm])
    seconds = time.perf_counter() - started
    results = run.results
    return {"micro": results["test_f1_micro"], "macro": results["test_f1_macro"], "seconds": seconds,
            **winner(run.dir)}


def measure(sets: list[str], draws: range, arms: list[str], held_out: int) -> list[dict]:
    rows = []
    for name in sets:
        for d in draws:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                if name == "20news-merged":
                    merged_draw(d, held_out, folder)
                else:
                    goemotions_draw(int(name.partition(":")[2]), d, held_out, folder)
                base = {"set": name, "draw": d, "held_out": held_out,
                        "measured": datetime.date.today().isoformat()}
                rows.append({**base, "system": "one-vs-rest LinearSVC", **peer(folder)})
                print(json.dumps(rows[-1]), flush=True)
                for arm in arms:
                    rows.append({**base, "system": arm, **ours(folder, arm, d)})
                    print(json.dumps(rows[-1]), flush=True)
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """Mean micro/macro-F1 and seconds per set and system, with each arm's difference from ``val``."""
    out = []
    for name in dict.fromkeys(r["set"] for r in rows):
        mine = [r for r in rows if r["set"] == name]
        base = {r["draw"]: r for r in mine if r["system"] == "val"}
        for system in dict.fromkeys(r["system"] for r in mine):
            chosen = [r for r in mine if r["system"] == system]
            row = {"set": name, "system": system, "draws": len(chosen),
                   "micro": np.mean([r["micro"] for r in chosen]), "macro": np.mean([r["macro"] for r in chosen]),
                   "seconds": np.mean([r["seconds"] for r in chosen])}
            paired = [r for r in chosen if r["draw"] in base]
            if paired and system != "val" and system in ARMS:
                for f in ("micro", "macro"):
                    moves = np.array([r[f] - base[r["draw"]][f] for r in paired])
                    row[f"d_{f}"] = moves.mean()
                    row[f"{f}_moves"] = f"{int((moves > 0).sum())} / {int((moves < 0).sum())}"
            row["winners"] = ", ".join(sorted({r["winner"] for r in chosen if r.get("winner")}))
            out.append(row)
    return out


COLUMNS = [("set", "set", ""), ("system", "system", ""), ("draws", "draws", ""),
           ("micro", "held-out micro-F1", ".4f"), ("macro", "held-out macro-F1", ".4f"),
           ("d_micro", "micro − val arm", "+.4f"), ("micro_moves", "draws up / down (micro)", ""),
           ("d_macro", "macro − val arm", "+.4f"), ("macro_moves", "draws up / down (macro)", ""),
           ("seconds", "train s", ".1f"), ("winners", "winners", "")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="goemotions:1000,goemotions:3000,20news-merged")
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--first-draw", type=int, default=0)
    parser.add_argument("--arms", default="val,cv,cv_mixed")
    parser.add_argument("--held-out", type=int, default=3000)
    parser.add_argument("--write", action="store_true", help="replace the multilabel-cv section of RESULTS.md")
    args = parser.parse_args()
    arms = args.arms.split(",")
    if unknown := [a for a in arms if a not in ARMS]:
        parser.error(f"unknown arm(s) {', '.join(unknown)}: choose from {', '.join(ARMS)}")
    rows = measure(args.sets.split(","), range(args.first_draw, args.first_draw + args.draws), arms, args.held_out)
    if args.write:
        key = lambda r: (r["set"], r["draw"], r["system"])  # noqa: E731
        fresh = {key(r) for r in rows}
        stored = json.loads(ROWS.read_text()) if ROWS.exists() else []
        rows = [r for r in stored if key(r) not in fresh] + rows
        tmp = ROWS.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows, indent=1) + "\n")
        tmp.replace(ROWS)
    table = markdown_table(summary(rows), COLUMNS)
    print(table)
    if args.write:
        body = ("Each set's draws are small multi-label data sets with held-out texts from the same pool (the "
                "test files are not read); means over the draws, each arm's difference from the `val` arm on the "
                "same draws. Rows: benchmarks/multilabel_cv_rows.json.\n\n" + table)
        write_section("multilabel-cv", "Multi-label: choosing on val alone or on cross-validation (held-out texts)",
                      body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
