"""Where an exported model spends its time in onnxruntime, next to PyTorch on the same batches.

    TEXTCLF_DATA=../shared/data python benchmarks/onnx_profile.py \
        [--config configs/20newsgroups_bag_of_ngrams.yaml] [--set KEY=VALUE ...] \
        [--batch-sizes 32,64,256] [--write [--section NAME]]

Trains the config for ``--epochs`` (speed does not depend on training) and exports it. First,
model-only documents per second of the test split through the two runners the Predictor uses,
at each of ``--batch-sizes``: PyTorch (``TorchRunner``) and onnxruntime (``OnnxRunner``: batches
side by side, one thread each, here with that many documents a call instead of the model's
``onnx_batch_rows``), best of ``--repeat``. Then one pass of batches of ``--batch-size`` (by
length, as the Predictor makes them) through an onnxruntime session with its profiler on
(``enable_profiling``, ``--threads`` threads): the share of the session's node time per ONNX
operator type, largest first, which says what to change in a model's export form
(``export_module()``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from lib import ROOT
from lib.results import markdown_table, write_section
from lib.timing import best_of

from textclf.batching import sorted_batches
from textclf.config import load_config
from textclf.graph_inputs import graph_feeds
from textclf.inference.runners import OnnxRunner, TorchRunner
from textclf.inference.onnx_export import export_onnx
from textclf.text.prepare import prepare_data
from textclf.training import train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "20newsgroups_bag_of_ngrams.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64, help="the profiled pass's batches")
    parser.add_argument("--batch-sizes", default="32,64,256", help="the runners' batch sizes timed")
    parser.add_argument("--repeat", type=int, default=3, help="best of N timings")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top", type=int, default=10, help="operator types in the table")
    parser.add_argument("--write", action="store_true", help="write the tables into benchmarks/RESULTS.md")
    parser.add_argument("--section", default="onnx-profile", help="the RESULTS.md section --write replaces")
    args = parser.parse_args(argv)
    import onnxruntime as ort

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(args.config, [*args.overrides, f"train.epochs={args.epochs}", f"output_dir={tmp}"])
        run = train(config, run_dir=Path(tmp) / "run", progress=False, final_evaluation=False)
        best = run.run_dir / "checkpoints" / "best.ckpt"
        export_onnx(best, Path(tmp) / "onnx")
        test = prepare_data(config).splits["test"]
        batches = [(ids.numpy(), lengths.numpy()) for _, (ids, lengths, _) in sorted_batches(test, args.batch_size)]

        from textclf.artifact import ModelArtifact

        model = ModelArtifact.load(best).build_model()
        # what the graph takes: ids and lengths, or a TF-IDF bag's word features made in numpy
        inputs = json.loads((Path(tmp) / "onnx" / "textclf.json").read_text())["export"].get("inputs")
        runners = {"PyTorch": TorchRunner(model, torch.device("cpu")),
                   "onnxruntime": OnnxRunner(Path(tmp) / "onnx" / "model.onnx", threads=args.threads, inputs=inputs)}
        speeds = []
        for size in [int(b) for b in args.batch_sizes.split(",")]:
            row = {"batch": size}
            for name, runner in runners.items():
                runner.logits(test, size)  # warm up
                row[name] = len(test) / best_of(lambda: runner.logits(test, size), args.repeat)[0]
            speeds.append(row)

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(Path(tmp) / "onnx" / "model.onnx"), options,
                                       providers=["CPUExecutionProvider"])
        subwords = runners["onnxruntime"].subwords  # (a bag's n-gram table, read from beside its graph)
        # what making the feeds costs, beside the graph's node time (one thread, best of --repeat)
        feed_seconds, feeds = best_of(lambda: [graph_feeds(inputs, ids, lengths, subwords) for ids, lengths in batches],
                                      args.repeat)
        for feed in feeds:
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    by_op: dict[str, float] = {}
    for event in events:
        if event.get("cat") == "Node":
            op = event["args"].get("op_name", "?")
            by_op[op] = by_op.get(op, 0.0) + event["dur"]
    total = sum(by_op.values()) or 1.0
    ops = [{"op": op, "ms": us / 1000, "share": 100 * us / total}
           for op, us in sorted(by_op.items(), key=lambda kv: -kv[1])[: args.top]]
    rates = markdown_table(speeds, [("batch", "documents a batch", ""), ("PyTorch", "PyTorch docs/s", ",.0f"),
                                    ("onnxruntime", "onnxruntime docs/s", ",.0f")])
    table = markdown_table(ops, [("op", "ONNX operator", ""), ("ms", "node time ms", ".1f"),
                                 ("share", "share %", ".1f")])
    name = Path(args.config).name + "".join(f" {o}" for o in args.overrides)
    text = (f"{name}: {len(test):,} test documents, {args.threads} threads. Model only, through the "
            f"Predictor's runners (onnxruntime: {args.threads} batches side by side, one thread each), best of "
            f"{args.repeat}:\n\n{rates}\n\nonnxruntime's profiler, one pass in batches of {args.batch_size} "
            f"on one session of {args.threads} threads" + (" (the graph's nodes only: the features it is fed are made "
                                                    "in numpy before, which the docs/s above include)" if inputs else "") +
            f":\n\n{table}" + (f"\n\nMaking those feeds in numpy (one thread, best of {args.repeat}): "
                                f"{1000 * feed_seconds:.1f} ms; the graph's node time: {total / 1000:.1f} ms."
                                if inputs else ""))
    print(text)
    if args.write:
        write_section(args.section, f"Where an export spends its time in onnxruntime: {Path(args.config).stem}", text)


if __name__ == "__main__":
    main()
