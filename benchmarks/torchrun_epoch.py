"""Training under torchrun against one process: the default recipe's bag on SMS spam.

    TEXTCLF_DATA=../shared/data python benchmarks/torchrun_epoch.py [--write]

The same config (sms_spam.csv and the default recipe's bag as it is decided for short texts:
character n-grams, sparse tables) trains as one process
(``textclf train``, torch threads 2) and as two (``torchrun --standalone --nproc_per_node 2``,
one thread each), both on this machine's 2 cores. The table gives each one's mean epoch seconds
(after the first), epochs, optimizer steps of a rank, global batch and test accuracy, from the
run folder's metrics.jsonl and evaluation. Two processes on the cores of one would not be faster;
what matters is that sparse tables keep sparse updates across processes (with dense table
gradients under DDP an epoch took 24–30 s here).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from lib.results import markdown_table, write_section


def _config_text(runs: Path, cache: Path) -> str:
    """The default recipe's bag as the data decide it for short texts, named, so that one process
    trains it too (a config with no model section would run the default selection there)."""
    from textclf.config import DEFAULT_RECIPE, SHORT_TEXT_MODEL, SHORT_TEXT_PREPROCESS, SHORT_TEXT_TRAIN

    config = {"name": "sms", "output_dir": str(runs),
              # (a relative data file is found in $TEXTCLF_DATA, as every benchmark's is)
              "data": {"source": "files", "train": "sms_spam.csv", "test_size": 0.2, "val_size": 0.1,
                       "cache_dir": str(cache)},
              "preprocess": {**DEFAULT_RECIPE["preprocess"], **SHORT_TEXT_PREPROCESS},
              "model": {**DEFAULT_RECIPE["model"], **SHORT_TEXT_MODEL},
              "train": {**DEFAULT_RECIPE["train"], **SHORT_TEXT_TRAIN}}
    return json.dumps(config)  # (YAML reads JSON)


def _train(work: Path, processes: int) -> dict:
    runs = work / f"runs{processes}"
    config = work / f"sms{processes}.yaml"
    config.write_text(_config_text(runs, work / "cache"))
    if processes == 1:
        command = [sys.executable, "-m", "textclf", "train", "--config", str(config), "--set", "train.num_threads=2"]
        env = dict(os.environ)
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
                   "-m", "textclf", "train", "--config", str(config)]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*command, "--no-progress"], capture_output=True, text=True, env=env, timeout=900)
    if done.returncode != 0:
        raise SystemExit(done.stdout[-2000:] + done.stderr[-2000:])
    (run,) = runs.iterdir()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    later = [r["epoch_seconds"] for r in records[1:]] or [records[0]["epoch_seconds"]]
    test = json.loads((run / "evaluation" / "test" / "metrics.json").read_text())
    return {"layout": "one process, 2 threads" if processes == 1 else f"torchrun, {processes} processes × 1 thread",
            "epoch_s": sum(later) / len(later), "epochs": len(records), "steps": records[-1]["step"],
            "accuracy": 100 * test["accuracy"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [_train(Path(tmp), 1), _train(Path(tmp), 2)]
    for row in rows:
        row["ratio"] = row["epoch_s"] / rows[0]["epoch_s"]
    table = markdown_table(rows, [("layout", "layout", ""), ("epoch_s", "epoch s (mean after the first)", ".2f"),
                                  ("ratio", "× one process", ".2f"), ("epochs", "epochs", "d"),
                                  ("steps", "a rank's optimizer steps", "d"),
                                  ("accuracy", "test accuracy %", ".2f")])
    text = ("SMS spam, the default recipe's bag with character n-grams (its sparse tables keep sparse gradients "
            "under torchrun), on the same 2 cores.\n\n" + table)
    print(text)
    if args.write:
        write_section("torchrun-epoch", "Training under torchrun against one process", text)


if __name__ == "__main__":
    main()
