"""The sparse tables' optimizer step: torch.optim.SparseAdam against textclf's RowAdam.

    TEXTCLF_DATA=../shared/data python benchmarks/sparse_adam.py [--steps 150] [--write]

The default recipe's bag (configs/20newsgroups_default.yaml's recipe: four members of 32
columns over 200,000 hashed word uni+bigrams, sublinear TF-IDF) on 20 Newsgroups bydate, built
by ``setup_run`` as ``textclf train`` builds it, trains the same ``--steps`` batches once with
each optimizer for the sparse tables (same seed, same batches). The table gives the optimizer
step alone and the whole training step (forward, backward, gradient norm, step) in
milliseconds, and how far the two runs' weights end apart (the same algorithm: float rounding).
"""

from __future__ import annotations

import argparse
import time

import torch

from lib import ROOT
from lib.results import markdown_table, write_section

from textclf.config import load_config
from textclf.text.prepare import prepare_data
from textclf.training.optimizer import RowAdam, SplitOptimizer, clip_gradients, sparse_parameters
from textclf.training.setup import setup_run

CONFIG = ROOT / "configs" / "20newsgroups_default.yaml"


def train_steps(config, prepared, optimizer_class, steps: int) -> tuple[float, float, torch.Tensor]:
    """Milliseconds per optimizer step and per training step, and the tables' weights after."""
    setup = setup_run(config, prepared)
    model, loader = setup.model, setup.loader
    dense = [opt for opt in setup.optimizer.optimizers if not isinstance(opt, torch.optim.SparseAdam)]
    optimizer = SplitOptimizer(dense + [optimizer_class(sparse_parameters(model), lr=config.train.lr)])
    loader.set_epoch(1)
    model.train()
    step_s = total_s = 0.0
    for i, (ids, lengths, labels, _) in enumerate(loader.iter_from(0)):
        if i == steps:
            break
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        setup.criterion(model(ids, lengths), labels).backward()
        clip_gradients(model.parameters(), None)
        before_step = time.perf_counter()
        optimizer.step()
        done = time.perf_counter()
        if i >= 5:  # (warm-up)
            step_s += done - before_step
            total_s += done - started
    counted = max(1, min(steps, len(loader)) - 5)
    weights = torch.cat([p.detach().flatten() for p in sparse_parameters(model)])
    return 1000 * step_s / counted, 1000 * total_s / counted, weights


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="training batches per optimizer (default 150)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = load_config(CONFIG, ["data.protocol=bydate", f"train.num_threads={args.threads}"])
    prepared = prepare_data(config)
    rows, weights = [], {}
    for label, cls in (("torch.optim.SparseAdam", torch.optim.SparseAdam), ("textclf RowAdam", RowAdam)):
        step_ms, total_ms, weights[label] = train_steps(config, prepared, cls, args.steps)
        rows.append({"optimizer": label, "step": step_ms, "total": total_ms})
    for row in rows:
        row["step_x"], row["total_x"] = rows[0]["step"] / row["step"], rows[0]["total"] / row["total"]
    gap = (weights["textclf RowAdam"] - weights["torch.optim.SparseAdam"]).abs().max().item()
    table = markdown_table(rows, [("optimizer", "sparse tables' optimizer", ""), ("step", "step ms", ".1f"),
                                  ("total", "training step ms", ".1f"), ("step_x", "step speed-up", ".2f"),
                                  ("total_x", "training-step speed-up", ".2f")])
    text = (f"{args.steps} training batches of the default recipe's bag on 20 Newsgroups bydate (batch "
            f"{config.train.batch_size}), {args.threads} threads; the largest weight difference between the two "
            f"runs after them: {gap:.2e}\n\n{table}")
    print(text)
    if args.write:
        write_section("sparse-adam", "The sparse tables' optimizer step", text)


if __name__ == "__main__":
    main()
