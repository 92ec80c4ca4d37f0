"""Wall time of the study's grid search: 24 trials x 3 epochs of the BiGRU on 20 Newsgroups.

    TEXTCLF_DATA=../shared/data python benchmarks/search_grid.py [--jobs 2] [--output DIR] [--write]

Runs ``textclf search --config configs/20newsgroups_bigru_search.yaml --jobs N`` exactly as a user
would (a subprocess, its output streamed), times it, then reads the study: trials finished, the
time each took, and the best points. The reference study ran the same grid in about 6 hours on a
CPU. ``--jobs`` workers are separate processes sharing the machine's cores.

The search folder defaults to runs/benchmarks/search-grid; an existing study there is resumed
(the command's own behaviour), and then the wall time covers only the trials run this time, which
the table says. With ``--write`` the tables replace the "search-grid" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from lib import ROOT
from lib.results import markdown_table, write_section


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/20newsgroups_bigru_search.yaml")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--output", default="runs/benchmarks/search-grid")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override (repeatable)")
    parser.add_argument("--write", action="store_true", help="write the tables into benchmarks/RESULTS.md")
    args = parser.parse_args()

    out = Path(args.output)
    resumed = (out / "study.db").is_file()
    before = {t.number for t in _trials(out)} if resumed else set()
    cmd = [sys.executable, "-m", "textclf", "search", "--config", args.config, "--jobs", str(args.jobs),
           "--output", str(out)] + [part for kv in args.set for part in ("--set", kv)]
    print("$", " ".join(cmd), flush=True)
    started = time.perf_counter()
    code = subprocess.call(cmd, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    wall = time.perf_counter() - started
    if code != 0:
        print(f"textclf search failed (exit {code})", file=sys.stderr)
        return code

    from textclf.config import load_config

    config = load_config(ROOT / args.config, args.set)
    trials = _trials(out)
    this_time = [t for t in trials if t.number not in before and t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    trial_seconds = sum(t.user_attrs.get("seconds", 0.0) for t in this_time)
    epochs = sum(len(t.intermediate_values) for t in this_time)
    workers = {t.user_attrs.get("worker") for t in this_time}
    best = max(complete, key=lambda t: t.value) if complete else None
    summary = [
        {"what": "grid points", "value": str(math.prod(len(v) for v in config.search.space.values()))},
        {"what": "trials complete / pruned (whole study)", "value": f"{len(complete)} / {len(pruned)}"},
        {"what": "trials run by this invocation", "value": f"{len(this_time)} ({epochs} epochs)"
                                                        + (" — study resumed" if resumed else "")},
        {"what": "worker processes (--jobs)", "value": f"{args.jobs} ({len(workers)} took trials)"},
        {"what": "wall time of this invocation", "value": f"{_hms(wall)} ({wall:,.0f} s)"},
        {"what": "sum of trial times (train + validation)", "value": f"{trial_seconds:,.0f} s"},
        {"what": "mean time per epoch per trial", "value": f"{trial_seconds / max(epochs, 1):,.1f} s"},
        {"what": "reference study (CPU, from its write-up)", "value": "about 6 h"},
    ]
    if best is not None:
        point = ", ".join(f"{k.split('.')[-1]} {v:g}" for k, v in best.params.items())
        summary.append({"what": "best trial", "value": f"{point}: val accuracy {best.value:.4f} "
                                                     f"(epoch {best.user_attrs.get('best_epoch')})"})
    table = markdown_table(summary, [("what", "", "s"), ("value", "", "s")])
    rows = [{"trial": str(t.number), **{k.split(".")[-1]: format(v, "g") for k, v in t.params.items()},
             "val_accuracy": t.value, "best_epoch": str(t.user_attrs.get("best_epoch")),
             "seconds": t.user_attrs.get("seconds")}
            for t in sorted(complete, key=lambda t: -t.value)]
    keys = [k.split(".")[-1] for k in config.search.space]
    ranking = markdown_table(rows, [("trial", "trial", "s"), *[(k, k, "s") for k in keys],
                                    ("val_accuracy", "val accuracy", ".4f"), ("best_epoch", "best epoch", "s"),
                                    ("seconds", "seconds", ",.0f")])
    print("\n" + table + "\n\n" + ranking)
    if args.write:
        body = (f"Search folder: `{out}`; every trial trains {config.search.epochs} epochs and is scored by "
                f"its best epoch's validation accuracy.\n\n{table}\n\nAll finished trials, best first:\n\n{ranking}\n")
        print("wrote", write_section("search-grid", "The study's grid search (24 trials x 3 epochs)", body))
    return 0


def _trials(out: Path) -> list[optuna.trial.FrozenTrial]:
    summaries = optuna.get_all_study_summaries(storage=f"sqlite:///{out / 'study.db'}")
    if not summaries:
        return []
    study = optuna.load_study(study_name=summaries[0].study_name, storage=f"sqlite:///{out / 'study.db'}")
    return study.get_trials(deepcopy=False)


if __name__ == "__main__":
    raise SystemExit(main())
