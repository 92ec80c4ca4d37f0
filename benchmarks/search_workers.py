"""How should ``textclf search --jobs N`` share a CPU? Training throughput of the study's BiGRU
with the cores in one worker, split between threads of one process, or between processes.

    TEXTCLF_DATA=../shared/data python benchmarks/search_workers.py [--steps 40] [--write]

For the smallest and the largest point of the study's grid (hidden 128 / embedding 150, hidden
192 / embedding 200), each layout trains ``--steps`` batches of 64 documents per worker (after one untimed step) on the
20 Newsgroups random split (after a barrier, so that all workers run at once) and reports the
documents per second of all its workers together:

- one worker: one process, torch threads = cores (what ``--jobs 1`` does);
- threads: one process, one Python thread per core, one torch thread each (what ``--jobs N`` did
  before it used processes; their trials shared one random state, so were not reproducible);
- processes: one process per core, one torch thread each (what ``--jobs N`` does now).
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import threading
import time

import torch

from lib import ROOT
from lib.results import markdown_table, write_section

CONFIG = ROOT / "configs" / "20newsgroups_bigru_search.yaml"
POINTS = [(128, 150), (192, 200)]


def _config(hidden: int, emb: int):
    from textclf.config import load_config
    from textclf.training.search import _with_params

    return _with_params(load_config(CONFIG), {"model.hidden_size": hidden, "model.embedding_dim": emb})


def _train_steps(hidden: int, emb: int, steps: int, threads: int, barrier, prepared=None) -> tuple[int, float]:
    """Build the run's model, optimizer and batches as ``textclf train`` does, wait at the
    barrier, then time ``steps`` optimizer steps; returns (documents, seconds)."""
    from textclf.training.setup import setup_run

    if threads:
        torch.set_num_threads(threads)
    config = _config(hidden, emb)
    parts = setup_run(config, prepared)
    model, optimizer, criterion = parts.model, parts.optimizer, parts.criterion
    model.train()
    parts.loader.set_epoch(1)
    batches = list(itertools.islice(parts.loader, steps + 1))
    started, docs = time.perf_counter(), 0
    for i, (ids, lengths, labels, _) in enumerate(batches):
        if i == 1:  # the first step (allocations, first calls) is not timed
            barrier.wait()
            started, docs = time.perf_counter(), 0
        optimizer.zero_grad(set_to_none=True)
        criterion(model(ids, lengths), labels).backward()
        optimizer.step()
        docs += len(labels) if i else 0
    return docs, time.perf_counter() - started


def _in_processes(n: int, hidden: int, emb: int, steps: int) -> tuple[int, float]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(n) as pool:
        barrier = manager.Barrier(n)
        results = pool.starmap(_train_steps, [(hidden, emb, steps, 1, barrier)] * n)
    return sum(d for d, _ in results), max(s for _, s in results)


def _in_threads(n: int, hidden: int, emb: int, steps: int, prepared) -> tuple[int, float]:
    torch.set_num_threads(1)
    barrier, results = threading.Barrier(n), []
    workers = [threading.Thread(target=lambda: results.append(_train_steps(hidden, emb, steps, 0, barrier, prepared)))
               for _ in range(n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(d for d, _ in results), max(s for _, s in results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="batches per worker")
    parser.add_argument("--write", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = parser.parse_args()
    from textclf.text.prepare import prepare_data

    cores = len(os.sched_getaffinity(0))
    prepared = prepare_data(_config(*POINTS[0]))  # fills the cache the processes read
    rows = []
    for hidden, emb in POINTS:
        one = _train_steps(hidden, emb, args.steps, cores, threading.Barrier(1), prepared)
        layouts = [(f"one worker, {cores} torch threads", one),
                   (f"{cores} threads in one process, 1 torch thread each", _in_threads(cores, hidden, emb, args.steps, prepared)),
                   (f"{cores} processes, 1 torch thread each", _in_processes(cores, hidden, emb, args.steps))]
        base = one[0] / one[1]
        for name, (docs, seconds) in layouts:
            rows.append({"point": f"hidden {hidden}, embedding {emb}", "layout": name, "docs": docs,
                         "seconds": seconds, "rate": docs / seconds, "speedup": docs / seconds / base})
            print(f"{rows[-1]['point']:<28} {name:<45} {docs / seconds:8.1f} docs/s  x{rows[-1]['speedup']:.2f}", flush=True)
    table = markdown_table(rows, [("point", "grid point", "s"), ("layout", "layout", "s"), ("docs", "documents", ","),
                                  ("seconds", "seconds", ".1f"), ("rate", "docs/s", ".1f"), ("speedup", "vs one worker", ".2f")])
    print("\n" + table)
    if args.write:
        body = (f"Training throughput of all workers together, {args.steps} batches of 64 per worker, "
                f"timed after a barrier.\n\n{table}\n")
        print("wrote", write_section("search-workers", "Search workers: one, threads or processes", body))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
