"""``textclf predict``'s read-ahead: the next chunks read and encoded while the model runs, or not.

    TEXTCLF_DATA=../shared/data python benchmarks/read_ahead.py [--copies 10] [--repeat 7] [--write]

Trains configs/20newsgroups_linear.yaml (the study's random split; one epoch: speed does not
depend on training) and exports it to ONNX, writes the test posts ``--copies`` times to one CSV,
then times ``predict_file`` (reading, encoding, the model, writing the submission; the model
loaded each time) on both runtimes three ways, in one run, the ways taking turns in each of
``--repeat`` rounds: in turn (``read_ahead=False``, chunks of 10,000 rows), read ahead on one
thread in chunks of 10,000 (the default before), and read ahead on two
threads in chunks of 5,000 (the default). Each cell: the median and the best of its rounds.
``--write`` replaces the "read-ahead" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import torch

from lib import ROOT
from lib.results import markdown_table, write_section

from textclf.config import load_config
from textclf.data import load_corpus
from textclf.evaluation.predict_file import predict_file
from textclf.inference.onnx_export import export_onnx
from textclf.training import train


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = load_config(ROOT / "configs" / "20newsgroups_linear.yaml", ["train.epochs=1", f"output_dir={work}"])
        run = train(config, run_dir=work / "run", progress=False, final_evaluation=False)
        best = run.run_dir / "checkpoints" / "best.ckpt"
        export_onnx(best, work / "onnx")
        texts = load_corpus(config)["test"].texts * args.copies
        source = work / "texts.csv"
        with open(source, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["text"], *[[t] for t in texts]])
        ways = {"turn": {"read_ahead": False, "chunk_rows": 10000},
                "one": {"encode_threads": 1, "chunk_rows": 10000},
                "two": {"encode_threads": 2, "chunk_rows": 5000}}
        rows = []
        for runtime, checkpoint in (("PyTorch", best), ("onnxruntime", work / "onnx")):
            seconds: dict[str, list[float]] = {way: [] for way in ways}
            for way, settings in ways.items():  # warm up
                predict_file(checkpoint, source, work / "out.csv", progress=False, **settings)
            for _ in range(args.repeat):
                for way, settings in ways.items():
                    started = time.perf_counter()
                    predict_file(checkpoint, source, work / "out.csv", progress=False, **settings)
                    seconds[way].append(time.perf_counter() - started)
            row = {"runtime": runtime}
            for way in ways:
                row[way] = len(texts) / statistics.median(seconds[way])
                row[f"{way}_best"] = len(texts) / min(seconds[way])
            row["gain"] = 100 * (row["two"] / row["one"] - 1)
            rows.append(row)
    table = markdown_table(rows, [
        ("runtime", "runtime", ""), ("turn", "in turn docs/s", ",.0f"), ("turn_best", "(best)", ",.0f"),
        ("one", "read ahead, 1 thread, 10,000 rows docs/s", ",.0f"), ("one_best", "(best)", ",.0f"),
        ("two", "read ahead, 2 threads, 5,000 rows docs/s", ",.0f"), ("two_best", "(best)", ",.0f"),
        ("gain", "2 threads against 1 (medians) %", "+.1f")])
    text = (f"20 Newsgroups random split's {len(texts) // args.copies:,} test posts ×{args.copies} in one CSV, "
            f"predict_file end to end (model loading included), {args.threads} torch threads; the median (and "
            f"the best) of {args.repeat} rounds in which the three ways take turns.\n\n" + table)
    print(text)
    if args.write:
        write_section("read-ahead", "Predicting a file: reading ahead of the model", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
