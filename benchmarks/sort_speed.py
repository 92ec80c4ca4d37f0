"""Sorting the rows of a batch's features: torch.sort, numpy's sort and argsort, onnxruntime's TopK.

    python benchmarks/sort_speed.py [--repeats 20] [--write]

The bag of n-grams and the linear model count term frequencies by sorting each document's
feature ids (word ids, then hashed n-gram buckets: int64 below about 1.5 million). On the CPU
their PyTorch path sorts with numpy (``models/bag_of_ngrams.py::_sort``); an ONNX graph sorts
with a TopK node (ONNX has no sort), which onnxruntime runs on one thread a batch in textclf's
runner (what the TF-IDF bags' exports did until numpy made their features, textclf/graph_inputs.py). This times the same (documents, positions) int64 arrays of random ids, shaped like the
batches those paths see, on each: torch.sort on torch's threads and on one, ``np.sort`` (values
only: what the TF-IDF sum reads), ``np.argsort`` (what the explanations' weights need) and a
one-node ONNX graph (TopK, k = the row's length, ascending) on one thread. Best of ``--repeats``.
``--write`` replaces the "sort-speed" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from lib.results import markdown_table, write_section
from lib.timing import best_of

SHAPES = [(256, 600), (64, 1200), (256, 3000)]


def _topk_session():
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("TopK", ["x", "k"], ["values", "indices"], axis=1, largest=0, sorted=1)], "sort",
        [helper.make_tensor_value_info("x", TensorProto.INT64, [None, None]),
         helper.make_tensor_value_info("k", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("values", TensorProto.INT64, [None, None]),
         helper.make_tensor_value_info("indices", TensorProto.INT64, [None, None])])
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1  # (as textclf's OnnxRunner)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    threads = torch.get_num_threads()
    session = _topk_session()
    rng = np.random.default_rng(0)
    rows = []
    for shape in SHAPES:
        ids = rng.integers(0, 1_500_000, shape)
        tensor = torch.from_numpy(ids)
        k = np.array([shape[1]], dtype=np.int64)

        def on_one_thread():
            torch.set_num_threads(1)
            try:
                torch.sort(tensor, dim=1)
            finally:
                torch.set_num_threads(threads)

        calls = {
            f"torch.sort, {threads} threads": lambda: torch.sort(tensor, dim=1),
            "torch.sort, 1 thread": on_one_thread,
            "np.sort": lambda: np.sort(ids, axis=1),
            "np.argsort": lambda: np.argsort(ids, axis=1),
            "onnxruntime TopK, 1 thread": lambda: session.run(None, {"x": ids, "k": k}),
        }
        for call in calls.values():  # (warm up)
            call()
        times = {name: best_of(call, args.repeats)[0] for name, call in calls.items()}
        for name, seconds in times.items():
            rows.append({"shape": f"{shape[0]} × {shape[1]}", "system": name, "ms": 1000 * seconds,
                         "ratio": seconds / times["np.sort"]})
        print(f"{shape}: " + ", ".join(f"{n} {1000 * s:.2f} ms" for n, s in times.items()), flush=True)
    table = markdown_table(rows, [("shape", "documents × positions", ""), ("system", "sort", ""),
                                  ("ms", "ms (best)", ".2f"), ("ratio", "× np.sort's time", ".1f")])
    print(table)
    if args.write:
        write_section("sort-speed", "Sorting a batch's feature rows: torch, numpy and onnxruntime",
                      f"Random int64 ids below 1.5 million, rows sorted ascending; numpy {np.__version__}, "
                      f"best of {args.repeats}.\n\n" + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
