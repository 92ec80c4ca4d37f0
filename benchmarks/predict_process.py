"""``textclf predict`` as a whole process (checkpoint and ONNX export) against a pickled TF-IDF + LinearSVC script.

    TEXTCLF_DATA=../shared/data python benchmarks/predict_process.py [--copies 3] [--repeats 3]
        [--textclf-src PATH] [--write]

20 Newsgroups bydate: the default (a config with no model section) is trained once on its
training posts, and scikit-learn's TF-IDF (1–2-grams, sublinear tf, min_df 2, max_df 0.5) +
LinearSVC is fitted on the same posts (train + val, as peers.py fits it) and pickled. The test
posts, ``--copies`` times, are written to one CSV. Each side is then timed as a fresh process,
from start to exit, best of ``--repeats`` rounds that run the three in turn: ``python -m textclf predict`` (loading the checkpoint,
reading the CSV, encoding, the model, writing the submission CSV), the same command on the
checkpoint's ONNX export (``textclf export``; a process that never imports torch), and a script
that unpickles the peer, reads the same CSV with pandas, predicts and writes the same CSV. ``--textclf-src`` runs
``textclf predict`` from another checkout's ``src`` folder (e.g. an older commit's worktree), to
compare versions on the same checkpoint and file. The two output files must hold one label per
post; their accuracy is printed.

textclf's modules are compiled to bytecode before the timing, as an install has them
(``lib.timing.installed_bytecode``).
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from lib import ROOT
from lib.datasets import labelled
from lib.results import markdown_table, write_section
from lib.timing import best_of, installed_bytecode

SCRIPT = r'''
import pickle, sys
import pandas as pd
vectorizer, model = pickle.load(open(sys.argv[1], "rb"))
texts = pd.read_csv(sys.argv[2])["text"].fillna("").tolist()
labels = model.predict(vectorizer.transform(texts))
pd.DataFrame({"Id": range(len(texts)), "Category": labels}).to_csv(sys.argv[3], index=False)
'''


def _best_in_rounds(commands: list[tuple[list[str], dict]], repeats: int) -> list[float]:
    """Each (command, environment)'s fewest seconds, timed in ``repeats`` alternating rounds (each
    round runs every command once): the machine's speed drifts by a third from minute to minute
    here, and commands timed in blocks of their own met different speeds."""
    best = [float("inf")] * len(commands)
    for _ in range(repeats):
        for i, (cmd, env) in enumerate(commands):
            seconds = best_of(lambda: subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL), 1)[0]
            best[i] = min(best[i], seconds)
    return best


# A process whose only child is the command: its children's peak resident memory is the command's.
PEAK = ("import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def _peak_mb(cmd: list[str], env: dict) -> float:
    """The command's peak resident memory in MB (one more run, untimed; Linux counts kB)."""
    out = subprocess.run([sys.executable, "-c", PEAK, *cmd], check=True, env=env, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--textclf-src", help="run textclf predict from this src folder")
    parser.add_argument("--write", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = parser.parse_args()

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    from textclf.config import load_config
    from textclf.data import load_corpus
    from textclf.run_layout import RunLayout
    from textclf.training import train

    config = load_config(ROOT / "configs/20newsgroups_default.yaml", ["data.protocol=bydate"])
    corpus = load_corpus(config)
    test = corpus["test"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = tmp / "texts.csv"
        pd.DataFrame({"text": list(test.texts) * args.copies}).to_csv(source, index=False)
        print("training the default ...", flush=True)
        result = train(config, run_dir=tmp / "run", progress=False, final_evaluation=False)
        both = labelled(corpus)
        vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, max_df=0.5)
        model = LinearSVC().fit(vectorizer.fit_transform(both.texts), both.labels)
        with open(tmp / "peer.pkl", "wb") as f:
            pickle.dump((vectorizer, model), f)

        env = dict(os.environ)
        if args.textclf_src:
            env["PYTHONPATH"] = str(Path(args.textclf_src).resolve())
        installed_bytecode(args.textclf_src)
        n = len(test) * args.copies
        truth = np.tile(np.asarray(test.labels), args.copies)
        ours_cmd = [sys.executable, "-m", "textclf", "predict", "--checkpoint", str(RunLayout(result.run_dir).best_checkpoint),
                    "--input", str(source), "--output", str(tmp / "ours.csv"), "--no-progress"]
        names = {name: i for i, name in enumerate(corpus.label_names)}
        subprocess.run([sys.executable, "-m", "textclf", "export", "--checkpoint",
                        str(RunLayout(result.run_dir).best_checkpoint), "--output", str(tmp / "onnx")],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        onnx_cmd = [sys.executable, "-m", "textclf", "predict", "--checkpoint", str(tmp / "onnx"),
                    "--input", str(source), "--output", str(tmp / "onnx.csv"), "--no-progress"]
        script_cmd = [sys.executable, "-c", SCRIPT, str(tmp / "peer.pkl"), str(source), str(tmp / "peer.csv")]
        ours_s, onnx_s, peer_s = _best_in_rounds([(ours_cmd, env), (onnx_cmd, env), (script_cmd, dict(os.environ))],
                                                 args.repeats)
        ours_mb, onnx_mb, peer_mb = _peak_mb(ours_cmd, env), _peak_mb(onnx_cmd, env), _peak_mb(script_cmd, dict(os.environ))
        ours = pd.read_csv(tmp / "ours.csv")["Category"].map(names)
        exported = pd.read_csv(tmp / "onnx.csv")["Category"].map(names)
        peer = pd.read_csv(tmp / "peer.csv")["Category"]
        rows.append({"system": "textclf predict (the default's checkpoint)" +
                     (f", src {args.textclf_src}" if args.textclf_src else ""),
                     "seconds": ours_s, "docs_s": n / ours_s, "mb": ours_mb, "accuracy": 100 * float(np.mean(ours == truth))})
        rows.append({"system": "textclf predict (the same model's ONNX export; no torch imported)",
                     "seconds": onnx_s, "docs_s": n / onnx_s, "mb": onnx_mb, "accuracy": 100 * float(np.mean(exported == truth))})
        rows.append({"system": "pickled TF-IDF + LinearSVC script", "seconds": peer_s, "docs_s": n / peer_s, "mb": peer_mb,
                     "accuracy": 100 * float(np.mean(peer == truth))})
    for row in rows:
        row["ratio"] = row["docs_s"] / rows[-1]["docs_s"]
    table = markdown_table(rows, [("system", "system", ""), ("seconds", "process s (best)", ".2f"),
                                  ("docs_s", "docs/s", ",.0f"), ("ratio", "× the script", ".2f"), ("mb", "peak memory MB", ",.0f"),
                                  ("accuracy", "test accuracy %", ".2f")])
    print(table)
    if args.write:
        write_section("predict-process", "Predicting a file as a whole process",
                      f"20 Newsgroups bydate's test posts ×{args.copies} ({n:,} rows in one CSV), each side a fresh "
                      f"process from start to exit (imports and loading included, textclf's modules compiled to bytecode as an install has them), best of {args.repeats} alternating rounds; peak memory: the resident set's peak in one more run.\n\n"
                      + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
