"""``textclf predict``'s read-ahead: the next chunk read and encoded while the model runs, or not.

    TEXTCLF_DATA=../shared/data python benchmarks/read_ahead.py [--copies 10] [--repeat 3] [--write]

Trains configs/20newsgroups_linear.yaml (the study's random split; one epoch: speed does not
depend on training) and exports it to ONNX, writes the test posts ``--copies`` times to one CSV,
then times ``predict_file`` (reading, encoding, the model, writing the submission; the model
loaded each time) on both runtimes, with the next chunk read and encoded on a thread of its own
(``read_ahead=True``, the default) and in turn (``False``), best of ``--repeat``, in one run.
``--write`` replaces the "read-ahead" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import torch

from lib import ROOT
from lib.results import markdown_table, write_section
from lib.timing import best_of

from textclf.config import load_config
from textclf.data import load_corpus
from textclf.evaluation.predict_file import predict_file
from textclf.inference.onnx_export import export_onnx
from textclf.training import train


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
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
        rows = []
        for runtime, checkpoint in (("PyTorch", best), ("onnxruntime", work / "onnx")):
            row = {"runtime": runtime}
            for key, ahead in (("turn", False), ("ahead", True)):
                def run():
                    return predict_file(checkpoint, source, work / "out.csv", progress=False, read_ahead=ahead)

                run()  # warm up
                row[key] = len(texts) / best_of(run, args.repeat)[0]
            row["gain"] = 100 * (row["ahead"] / row["turn"] - 1)
            rows.append(row)
    table = markdown_table(rows, [("runtime", "runtime", ""), ("turn", "in turn docs/s", ",.0f"),
                                  ("ahead", "read ahead docs/s", ",.0f"), ("gain", "read ahead gain %", "+.1f")])
    text = (f"20 Newsgroups random split's {len(texts) // args.copies:,} test posts ×{args.copies} in one CSV, "
            f"predict_file end to end (model loading included), {args.threads} threads, best of {args.repeat}.\n\n"
            + table)
    print(text)
    if args.write:
        write_section("read-ahead", "Predicting a file: reading ahead of the model", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
