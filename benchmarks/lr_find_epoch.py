"""Is the LR range test's suggestion any good? One epoch at the suggested lr against one epoch at
lr = 1e-3, same model, data, seed and batch order.

    TEXTCLF_DATA=../shared/data python benchmarks/lr_find_epoch.py [--config C] [--steps 100] [--write]

Runs ``textclf lr-find``'s range test (1e-6 → 1, ``--steps`` steps, its rule: the lower of steepest
descent of the smoothed loss and a tenth of the lr at its minimum) on the config's model, then trains the config for one epoch at the
suggested lr and for one epoch at 1e-3 (both from the same initial weights, since the finder
restores them) and prints validation accuracy and loss after that epoch. With ``--write`` the
table replaces the "lr-find" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from lib import ROOT
from lib.results import markdown_table, write_section

from textclf.config import load_config
from textclf.text.prepare import prepare_data
from textclf.training import train
from textclf.training.lr_finder import lr_range_test
from textclf.training.setup import setup_run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "20newsgroups_bigru.yaml"))
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="replace the lr-find section of RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = load_config(args.config)
    prepared = prepare_data(config)
    parts = setup_run(config, prepared)
    device = parts.device
    started = time.perf_counter()
    found = lr_range_test(parts.model, parts.optimizer, parts.criterion, parts.loader, device,
                          1e-6, 1.0, args.steps)
    find_s = time.perf_counter() - started
    print(f"suggested lr {found.suggestion:.2e}, window {found.window[0]:.1e} → {found.window[1]:.1e} "
          f"({find_s:.0f} s)", file=sys.stderr, flush=True)

    rows = []
    for label, lr in (("lr-find suggestion", found.suggestion), ("fixed", 1e-3)):
        one = load_config(args.config, ["train.epochs=1", f"train.lr={lr}"])
        with tempfile.TemporaryDirectory() as tmp:
            result = train(one, run_dir=Path(tmp) / "run", prepared=prepared, progress=False,
                           final_evaluation=False)
        record = result.history[0]
        rows.append({"run": label, "lr": lr, "val_accuracy": 100 * record["val/accuracy"],
                     "val_loss": record["val/loss"], "train_loss": record["train/loss"],
                     "seconds": record["epoch_seconds"]})
        print(f"{label} lr {lr:.2e}: val accuracy {rows[-1]['val_accuracy']:.2f} %", file=sys.stderr, flush=True)
    table = markdown_table(rows, [
        ("run", "one epoch at", ""), ("lr", "lr", ".2e"), ("val_accuracy", "val accuracy %", ".2f"),
        ("val_loss", "val loss", ".4f"), ("train_loss", "train loss", ".4f"), ("seconds", "epoch s", ".0f"),
    ])
    better = rows[0]["val_accuracy"] >= rows[1]["val_accuracy"]
    text = (f"Config `{Path(args.config).relative_to(ROOT) if Path(args.config).is_relative_to(ROOT) else args.config}`. "
            f"Range test: {len(found.lrs)} steps from 1e-6 ({find_s:.0f} s), stopped: {found.stop_reason}; "
            f"suggested lr {found.suggestion:.2e} (lower of steepest descent and a tenth of the minimum's lr), stable window "
            f"{found.window[0]:.1e} → {found.window[1]:.1e}.\n\n{table}\n\n"
            f"One epoch at the suggestion does {'at least as well as' if better else 'worse than'} "
            f"one epoch at 1e-3 on validation accuracy.\n")
    print(text)
    if args.write:
        write_section("lr-find", "LR range test: one epoch at the suggestion against lr = 1e-3", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
