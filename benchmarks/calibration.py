"""Calibration: expected calibration error before and after temperature scaling, on test.

    TEXTCLF_DATA=../shared/data python benchmarks/calibration.py [--write]

Each row trains a shipped config with ``textclf.train`` (``train.calibration: temperature``, the
default: one temperature fitted on the validation split) and reads the test evaluation's
``metrics.json``: the expected calibration error (15 equal-width confidence bins) of the raw
softmax and of the temperature-scaled one, the temperature, and the test accuracy, which
temperature scaling cannot change. ``--write`` replaces the "calibration" section of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from lib import ROOT
from lib.results import markdown_table, write_section

RUNS = [
    ("20 Newsgroups (random split)", "configs/20newsgroups_bag_of_ngrams.yaml", []),
    ("20 Newsgroups (random split)", "configs/20newsgroups_textcnn.yaml", ["train.epochs=4"]),
    ("SMS spam", "configs/sms_spam_lstm.yaml", []),
    ("SMS spam", "configs/20newsgroups_bag_of_ngrams.yaml",
     ["data.source=files", "data.train=sms_spam.csv", "data.test_size=0.2", "data.val_size=0.1"]),
]
COLUMNS = [
    ("data", "data set", ""),
    ("model", "model", ""),
    ("accuracy", "test accuracy %", ".2f"),
    ("ece_uncalibrated", "ECE uncalibrated", ".4f"),
    ("ece", "ECE temperature-scaled", ".4f"),
    ("temperature", "temperature", ".3f"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the calibration section of RESULTS.md")
    args = parser.parse_args()
    import textclf

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (data, config, overrides) in enumerate(RUNS):
            print(f"training {config} {' '.join(overrides)} ...", file=sys.stderr, flush=True)
            run = textclf.train(ROOT / config, overrides=overrides, run_dir=Path(tmp) / f"run{i}")
            test = run.test_metrics
            rows.append({"data": data, "model": textclf.load_config(ROOT / config, overrides).model.name,
                         "accuracy": 100 * test["accuracy"], "ece": test["ece"],
                         "ece_uncalibrated": test["ece_uncalibrated"], "temperature": test["temperature"]})
    table = markdown_table(rows, COLUMNS)
    print(table)
    if args.write:
        write_section("calibration", "Calibration: temperature scaling on 20 Newsgroups and SMS spam",
                      "Test split of each data set; the temperature is fitted on its validation split.\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
