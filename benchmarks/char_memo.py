"""Character n-grams counted once per document (models/char_memo.py) against counted at every batch.

    TEXTCLF_DATA=../shared/data python benchmarks/char_memo.py [--datasets 20news-5small,20news-subjects6]
        [--candidates bag_chars,linear_chars] [--repeats 2] [--threads 1] [--write]
    TEXTCLF_DATA=../shared/data python benchmarks/char_memo.py --whole [--datasets 20news-5small] [--repeats 2] [--write]

Each data set is one of ``peers.py``'s, read as its ``default`` system reads it. Each candidate
of ``config/default_recipe.py`` named trains as a cross-validated selection trains it: its
held-out run (early stopping on val), then its fold runs over train + val
(``training/cross_validation.py``, as many folds as ``train.cv_folds: auto`` gives the validation
split), in one process with ``--threads`` torch threads (the selection's workers have one each).
It does so with the memo (a fresh one each time) and without it (``MAX_ENTRIES`` 0), in turns,
``--repeats`` times each; the table gives the median seconds of each and their ratio, the val score,
and whether both arms' out-of-fold logits are the same numbers (they must be: the memo gives the
counts the batch would have computed, to the bit). The data are encoded before the clock starts.

``--whole``: the whole default instead (no model section: the selection, its worker processes,
the refit and the test evaluation), each run a process of its own timed from start to end, with
``TEXTCLF_CHAR_MEMO`` unset and 0 in turns; the table gives the median seconds and each arm's test
accuracy (the same in both: same predictions).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lib.results import markdown_table, write_section
from lib.systems import system_config


def run_candidate(config, prepared, folder: Path) -> tuple[float, float, np.ndarray]:
    """Seconds of the held-out run and its fold runs, its best val score, its out-of-fold logits
    (in one ``remembering`` block, as the selection trains a candidate: ``select._train_one``)."""
    from textclf.models.char_memo import remembering
    from textclf.run_layout import RunLayout
    from textclf.training import train
    from textclf.training.cross_validation import auto_folds, fold_plan, out_of_fold_logits, pooled

    plan = fold_plan(pooled(prepared).labels, auto_folds(len(prepared.splits["val"])), config.seed)
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), remembering():
        result = train(config, run_dir=folder, prepared=prepared, progress=False, final_evaluation=False,
                       resumable=False, refit=False)
        logits = out_of_fold_logits(config, prepared, RunLayout(folder).best_checkpoint, len(result.history), train,
                                    RunLayout(folder).folds, plan)
    return time.perf_counter() - started, result.best_score, logits


def whole(dataset: str, folder: Path, memo: bool) -> tuple[float, float]:
    """Seconds of a process that trains the default on ``dataset`` (``--child``), and its test
    accuracy; with the memo or with ``TEXTCLF_CHAR_MEMO=0``."""
    env = {k: v for k, v in os.environ.items() if k != "TEXTCLF_CHAR_MEMO"}
    if not memo:
        env["TEXTCLF_CHAR_MEMO"] = "0"
    started = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--child", dataset, str(folder)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return time.perf_counter() - started, json.loads(out.strip().splitlines()[-1])["accuracy"]


def child(dataset: str, folder: Path) -> None:
    """Train the default on ``dataset`` as ``peers.py`` reads it; print its test accuracy."""
    from textclf.training import train

    os.environ["TEXTCLF_CACHE"] = str(folder / "cache")
    config = system_config("default", dataset, folder)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        result = train(config, run_dir=folder / "run", progress=False)
    print(json.dumps({"accuracy": result.test_metrics["accuracy"]}))


def main_whole(args) -> str:
    rows = []
    for dataset in args.datasets.split(","):
        seconds, accuracy = {True: [], False: []}, {}
        for i in range(args.repeats):
            for memo in (False, True) if i % 2 == 0 else (True, False):
                with tempfile.TemporaryDirectory() as tmp:
                    s, accuracy[memo] = whole(dataset, Path(tmp), memo)
                seconds[memo].append(s)
                print(f"{dataset} {'memo' if memo else 'counted'}: {s:.1f} s, test accuracy {accuracy[memo]:.4f}",
                      flush=True)
        counted, memo = statistics.median(seconds[False]), statistics.median(seconds[True])
        rows.append({"dataset": dataset, "counted": counted, "memo": memo, "ratio": memo / counted,
                     "acc_counted": 100 * accuracy[False], "acc_memo": 100 * accuracy[True]})
    table = markdown_table(rows, [("dataset", "data set", ""), ("counted", "TEXTCLF_CHAR_MEMO=0 s", ".1f"),
                                  ("memo", "memo s", ".1f"), ("ratio", "memo / counted", ".2f"),
                                  ("acc_counted", "test accuracy % (0)", ".2f"),
                                  ("acc_memo", "test accuracy % (memo)", ".2f")])
    return (f"The whole default (no model section), each run a process timed from start to end; median of "
            f"{args.repeats} runs an arm, the arms in turns.\n\n{table}")


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="20news-5small,20news-subjects6")
    parser.add_argument("--candidates", default="bag_chars,linear_chars")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--whole", action="store_true", help="the whole default as a process, memo on and off")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if args.whole:
        text = main_whole(args)
        print(text)
        if args.write:
            write_section("char-memo-whole", "Character n-grams counted once per document: the whole default", text)
        return 0

    import torch

    from textclf.config import CANDIDATES
    from textclf.models import char_memo
    from textclf.text.prepare import prepare_data
    from textclf.training.select import candidate_config

    torch.set_num_threads(args.threads)
    limit = char_memo.entries_limit()
    wanted = args.candidates.split(",")
    rows = []
    for dataset in args.datasets.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["TEXTCLF_CACHE"] = str(Path(tmp) / "cache")
            base = system_config("default", dataset, Path(tmp), [f"train.num_threads={args.threads}"])
            for candidate in (c for c in CANDIDATES if c.name in wanted):
                config = candidate_config(base, candidate)
                prepared = prepare_data(config)
                seconds = {"memo": [], "counted": []}
                logits, score = {}, None
                for i in range(args.repeats):
                    for arm in ("counted", "memo") if i % 2 == 0 else ("memo", "counted"):
                        os.environ["TEXTCLF_CHAR_MEMO"] = str(limit if arm == "memo" else 0)
                        s, score, logits[arm] = run_candidate(config, prepared, Path(tmp) / f"{candidate.name}-{arm}-{i}")
                        seconds[arm].append(s)
                        print(f"{dataset} {candidate.name} {arm}: {s:.1f} s", flush=True)
                os.environ.pop("TEXTCLF_CHAR_MEMO")
                counted, memo = (statistics.median(seconds[a]) for a in ("counted", "memo"))
                rows.append({"dataset": dataset, "candidate": candidate.name,
                             "val": score, "counted": counted, "memo": memo, "ratio": memo / counted,
                             "same": "yes" if np.array_equal(logits["memo"], logits["counted"]) else "NO"})
    table = markdown_table(rows, [("dataset", "data set", ""), ("candidate", "candidate", ""),
                                  ("val", "val score", ".4f"), ("counted", "counted each batch s", ".1f"),
                                  ("memo", "memo s", ".1f"), ("ratio", "memo / counted", ".2f"),
                                  ("same", "same out-of-fold logits", "")])
    text = (f"Each candidate's held-out run and fold runs as a cross-validated selection trains them, in one process "
            f"of {args.threads} torch thread{'s' * (args.threads != 1)}; median of {args.repeats} runs an arm, "
            f"the arms in turns.\n\n{table}")
    print(text)
    if args.write:
        write_section("char-memo", "Character n-grams: counted once per document or at every batch", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
