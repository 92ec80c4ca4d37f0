"""The whole default against a TF-IDF + LinearSVC script on 20 Newsgroups bydate, both timed as
whole processes, in one run.

    TEXTCLF_DATA=../shared/data python benchmarks/default_time.py [--threads 2] [--repeats 1] [--write]

- **The script** is what a user writes by hand: a fresh ``python`` process that reads the bydate
  archive with ``tarfile`` (posts as latin-1 text, headers kept, as textclf reads them), fits
  scikit-learn's TfidfVectorizer (1–2-grams, sublinear tf, min_df 2, max_df 0.5) + LinearSVC on
  the 11,314 training posts, and prints its test accuracy on the 7,532 test posts.
- **The default** is ``textclf train --config configs/20newsgroups_default.yaml --set
  data.protocol=bydate`` in a fresh process with an empty preprocessing cache: reading the
  archive, tokenizing, the selection (every candidate, early-stopped on val), the winner's refit
  on train + val, and the final evaluation on val and test with its reports and plots.

Both run with ``--threads`` (OMP_NUM_THREADS for the script's BLAS; ``train.num_threads`` for
textclf). Wall seconds are measured around each subprocess, from start to exit; the ratio is the
default's time over the script's in the same run, so the machine's speed cancels out. textclf's
modules are compiled to bytecode first, as an install has them (``lib.timing.installed_bytecode``). ``--write``
regenerates the "default-time" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lib import ROOT
from lib.results import markdown_table, write_section
from lib.systems import winner
from lib.timing import installed_bytecode


# The hand-written script, run as `python -c SCRIPT ARCHIVE`.
SCRIPT = r'''
import sys, tarfile
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

splits = {"train": ([], []), "test": ([], [])}
with tarfile.open(sys.argv[1]) as archive:
    for member in archive:
        parts = member.name.split("/")
        if member.isfile() and len(parts) == 3:
            split = "train" if parts[0].endswith("train") else "test"
            splits[split][0].append(archive.extractfile(member).read().decode("latin-1"))
            splits[split][1].append(parts[1])
vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, max_df=0.5)
model = LinearSVC().fit(vectorizer.fit_transform(splits["train"][0]), splits["train"][1])
predicted = model.predict(vectorizer.transform(splits["test"][0]))
accuracy = sum(p == t for p, t in zip(predicted, splits["test"][1])) / len(predicted)
print(accuracy, len(splits["train"][0]), len(splits["test"][0]))
'''


def _archive() -> Path:
    from textclf.config import DataConfig
    from textclf.data.newsgroups import locate_archive

    return locate_archive(DataConfig())


def _timed(command: list[str], env: dict) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} ... failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    archive = _archive()
    installed_bytecode()
    rows = []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TEXTCLF_CACHE": str(Path(tmp) / "cache")}
            script_s, out = _timed([sys.executable, "-c", SCRIPT, str(archive)], env)
            script_accuracy = float(out.split()[-3])
            run_dir = Path(tmp) / "run"
            ours_s, _ = _timed([sys.executable, "-m", "textclf", "train", "--config",
                                str(ROOT / "configs/20newsgroups_default.yaml"), "--run-dir", str(run_dir),
                                "--no-progress", "--set", "data.protocol=bydate",
                                "--set", f"train.num_threads={args.threads}"], env)
            results = json.loads((run_dir / "results.json").read_text())
            kept = winner(run_dir).get("winner", "?")
            profile = _profile(ours_s, results, run_dir)
        rows.append({"repeat": repeat + 1, "script_s": script_s, "script_accuracy": 100 * script_accuracy,
                     "ours_s": ours_s, "ours_accuracy": 100 * results["test_accuracy"], "winner": kept,
                     "ratio": ours_s / script_s})
        print(f"repeat {repeat + 1}: script {script_s:.1f} s ({100 * script_accuracy:.2f} %), default "
              f"{ours_s:.1f} s ({100 * results['test_accuracy']:.2f} %, {kept}): {ours_s / script_s:.2f}x",
              flush=True)
    table = markdown_table(rows, [("repeat", "repeat", ""), ("script_s", "script s", ".1f"),
                                  ("script_accuracy", "script test acc %", ".2f"), ("ours_s", "default s", ".1f"),
                                  ("ours_accuracy", "default test acc %", ".2f"), ("winner", "winner", ""),
                                  ("ratio", "default / script", ".2f")])
    print(table)
    profile_table = markdown_table(profile, [("phase", "phase of the default's last repeat", ""),
                                             ("seconds", "seconds", ".1f"), ("share", "share %", ".0f"),
                                             ("detail", "detail", "")])
    print(profile_table)
    if args.write:
        write_section("default-time", "The whole default against a TF-IDF + LinearSVC script, as processes",
                      "20 Newsgroups bydate (11,314 training posts, 7,532 test posts), each as a fresh "
                      "process timed from start to exit: the script reads the archive, fits TF-IDF + LinearSVC "
                      "and scores test; the default reads, tokenizes, selects on val, refits its winner on "
                      "train + val and evaluates val and test with its reports.\n\n" + table
                      + "\n\nWhere the default's time goes (its run's results.json `timing` and leaderboard.csv; "
                      "candidates and refits run two at a time, so their seconds add up to more than the "
                      "phase's):\n\n" + profile_table)
    return 0


def _profile(total: float, results: dict, run_dir: Path) -> list[dict]:
    """The default's process seconds by phase: start-up (imports, config: what the run's own
    timing does not cover), reading and tokenizing, the selection (each candidate's seconds), the
    refit (each member's) and the final evaluation."""
    import csv

    timing = results["timing"]
    with open(run_dir / "leaderboard.csv", encoding="utf-8") as f:
        candidates = [r for r in csv.DictReader(f) if r["seconds"]]
    refit = results.get("refit", {})
    members = refit.get("members", {"winner": refit} if "seconds" in refit else {})
    phases = [("start-up: imports, config, process exit", total - sum(timing.values()), ""),
              ("reading and tokenizing", timing["prepare_s"], ""),
              ("selection", timing["selection_s"],
               ", ".join(f"{r['candidate']} {float(r['seconds']):.1f} s" for r in candidates)),
              ("refit on train + val", timing["refit_s"],
               ", ".join(f"{name} {r['seconds']:.1f} s" for name, r in members.items() if "seconds" in r)),
              ("evaluation of val and test, reports", timing["evaluation_s"], "")]
    return [{"phase": name, "seconds": seconds, "share": 100 * seconds / total, "detail": detail}
            for name, seconds, detail in phases]


if __name__ == "__main__":
    sys.exit(main())
