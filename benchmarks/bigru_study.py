"""The study's BiGRU+attention reproduced: seeds × {sparse, dense} embedding, mean ± std.

    TEXTCLF_DATA=../shared/data python benchmarks/bigru_study.py
        [--variants sparse,dense] [--seeds 42,43,44] [--threads 2] [--parallel 1] [--set KEY=VALUE ...]
        [--write]
    python benchmarks/bigru_study.py --rebuild   # the RESULTS.md section again, from the stored runs

Each run is ``textclf train --config configs/20newsgroups_bigru.yaml`` (the shipped config, the
study's random split) with ``train.seed`` set (same data split, another initialisation and
batch order) and ``model.sparse_embedding`` true (sparse: SparseAdam on the embedding) or false
(dense: AdamW on everything, what the config sets), in a fresh process; ``--parallel N`` runs N of them at once (give
each ``--threads`` cores of its own; ``--set train.device=cuda`` and other overrides apply to every run,
and are listed with the runs). A run takes about 40 minutes on 2 CPU cores, so a study is
hours of CPU: with ``--write`` every finished run is stored in benchmarks/bigru_study_rows.json
(replacing the same variant, seed and overrides) and the "bigru-study" section of benchmarks/RESULTS.md is
rebuilt from all stored runs, so runs made on different days or machines add up.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lib import ROOT
from lib.results import command, machine, markdown_table, write_section

ROWS = Path(__file__).resolve().parent / "bigru_study_rows.json"
CONFIG = ROOT / "configs" / "20newsgroups_bigru.yaml"
STUDY = 91.14  # the reference study's test accuracy, %
VARIANTS = {"sparse": "true", "dense": "false"}


def child(variant: str, seed: int, threads: int, extra: list[str], out: Path) -> None:
    import textclf

    sets = [f"train.seed={seed}", f"model.sparse_embedding={VARIANTS[variant]}", f"train.num_threads={threads}",
            *extra]
    config = textclf.load_config(CONFIG, sets)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = textclf.train(config, run_dir=Path(tmp) / "run", progress=False)
        train_s = time.perf_counter() - started
        best_epoch = result.results.get("best_epoch")
    test = result.test_metrics
    out.write_text(json.dumps({
        "variant": variant, "seed": seed, "accuracy": 100 * test["accuracy"], "f1_macro": test["f1_macro"],
        "best_epoch": best_epoch, "train_s": train_s, "threads": threads, "sets": " ".join(extra),
        "date": datetime.date.today().isoformat(), "machine": machine(),
    }))


def summary(rows: list[dict]) -> str:
    """Per variant (and overrides): runs, mean ± sample std, min, max; then every run."""
    lines = []
    order = lambda r: (list(VARIANTS).index(r["variant"]), r.get("sets", ""), r["seed"])  # noqa: E731
    runs = sorted(rows, key=order)
    for variant, sets in dict.fromkeys((r["variant"], r.get("sets", "")) for r in runs):
        accs = [r["accuracy"] for r in runs if r["variant"] == variant and r.get("sets", "") == sets]
        mean = statistics.mean(accs)
        lines.append({"variant": variant, "sets": sets, "runs": len(accs), "mean": mean,
                      "std": statistics.stdev(accs) if len(accs) > 1 else None, "min": min(accs), "max": max(accs),
                      "vs": "at or above" if mean >= STUDY else "below"})
    table = markdown_table(lines, [("variant", "embedding", ""), ("sets", "--set", ""), ("runs", "runs", "d"), ("mean", "mean test acc %", ".2f"),
                                   ("std", "std", ".2f"), ("min", "min", ".2f"), ("max", "max", ".2f"),
                                   ("vs", f"mean vs the study's {STUDY}", "")])
    detail = markdown_table(runs, [("variant", "embedding", ""), ("seed", "train.seed", "d"),
                                   ("accuracy", "test acc %", ".2f"), ("f1_macro", "macro-F1", ".4f"),
                                   ("best_epoch", "best epoch", "d"), ("train_s", "train s", ".0f"),
                                   ("threads", "threads", "d"), ("sets", "--set", ""), ("date", "date", ""),
                                   ("machine", "machine", "")])
    commands = "".join(f"- `{c}`\n" for c in sorted({r["command"] for r in rows if r.get("command")}))
    return (f"configs/20newsgroups_bigru.yaml (15 epochs unless a run's --set says otherwise), the study's random split; sparse: "
            f"`model.sparse_embedding=true` (the model's default), dense: `false` (what the config ships since these runs). "
            f"Runs dated before 2026-12-03 with no --set trained at a constant learning rate: the config ships "
            f"`train.scheduler=cosine train.warmup=0.02 train.grad_clip=1.0` since the runs with that --set.\n\n{table}\n\n{detail}\n"
            + (f"\nThe runs were measured with:\n\n{commands}" if commands else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", default="42,43,44")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each run")
    parser.add_argument("--parallel", type=int, default=1, help="runs at once")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--rebuild", action="store_true", help="only rewrite the RESULTS.md section from the stored runs")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "SEED"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.threads, args.set, args.out)
        return 0
    if args.rebuild:
        _store([])
        return 0
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds {args.seeds!r}: a comma-separated list of integers, e.g. 42,43,44")
    pending = [(v, s) for v in variants for s in seeds]
    measured: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        running: list[tuple[subprocess.Popen, Path, str]] = []
        while pending or running:
            while pending and len(running) < max(1, args.parallel):
                variant, seed = pending.pop(0)
                out = Path(tmp) / f"{variant}-{seed}.json"
                cmd = [sys.executable, __file__, "--child", variant, str(seed), "--threads", str(args.threads),
                       "--out", str(out), *(f"--set={s}" for s in args.set)]
                print(f"{variant} seed {seed} ...", file=sys.stderr, flush=True)
                running.append((subprocess.Popen(cmd, cwd=ROOT), out, f"{variant} seed {seed}"))
            time.sleep(5)
            for proc, out, name in [r for r in running if r[0].poll() is not None]:
                running.remove((proc, out, name))
                if proc.returncode != 0 or not out.exists():
                    print(f"{name} failed (exit {proc.returncode})", file=sys.stderr)
                    continue
                row = {**json.loads(out.read_text()), "command": command()}
                measured.append(row)
                print(f"{name}: {row['accuracy']:.2f} % in {row['train_s']:.0f} s", file=sys.stderr, flush=True)
                if args.write:  # after every run: hours of work are never lost to a later failure
                    _store([row])
    print(summary(measured) if measured else "no run finished")
    return 0 if measured else 1


def _store(rows: list[dict]) -> None:
    stored = json.loads(ROWS.read_text()) if ROWS.exists() else []
    key = lambda r: (r["variant"], r["seed"], r.get("sets", ""))  # noqa: E731
    fresh = {key(r) for r in rows}
    stored = [r for r in stored if key(r) not in fresh] + rows
    ROWS.write_text(json.dumps(stored, indent=1) + "\n")
    path = write_section("bigru-study", "The study's BiGRU: seeds × sparse/dense embedding", summary(stored))
    print(f"written to {path}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
