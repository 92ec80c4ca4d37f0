"""Training epochs alone and beside a competing process, with OpenMP's threads spinning
(OMP_WAIT_POLICY=ACTIVE, about the runtime's usual behaviour), sleeping at once (PASSIVE), and
textclf's default (a short spin, GOMP_SPINCOUNT=1000, then sleep).

The competitor is another process running 2-thread PyTorch matrix products for as long as the
epoch lasts (what a second job, a server or a test run does to a shared machine). The epoch:
`textclf train` of the LSTM of configs/sms_spam_lstm.yaml, a few epochs, in a subprocess; the
table gives the mean seconds of a training epoch.

    TEXTCLF_DATA=../shared/data python benchmarks/contention.py [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from lib import ROOT
from lib.results import markdown_table, write_section

COMPETITOR = """
import torch, time
torch.set_num_threads(2)
a = torch.randn(1024, 1024)
a @ a
print("ready", flush=True)
end = time.time() + {seconds}
while time.time() < end:
    a @ a
"""


POLICIES = {
    "ACTIVE": {"OMP_WAIT_POLICY": "ACTIVE"},  # spin while waiting (about what an unset policy does)
    "PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},  # sleep at once
    "default": {},  # neither set: textclf's own choice (textclf/__init__.py)
}


def epoch_seconds(policy: str, competing: bool, work: Path, seconds_limit: int, epochs: int, model: str) -> float:
    """Mean seconds per training epoch (validation excluded)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(POLICIES.get(policy, {}))
    if policy.startswith("spin"):  # libgomp: spin this many times, then sleep
        env.update(GOMP_SPINCOUNT=policy.removeprefix("spin"))
    competitor = None
    if competing:
        competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR.format(seconds=seconds_limit)],
                                      env={**os.environ, "OMP_WAIT_POLICY": "ACTIVE"}, stdout=subprocess.PIPE, text=True)
        competitor.stdout.readline()  # computing from now on
    run = work / f"{model}-{policy}-{competing}"
    try:
        subprocess.run([sys.executable, "-m", "textclf", "train", "--config", str(ROOT / "configs/sms_spam_lstm.yaml"),
                        "--set", f"model.name={model}", "--set", f"train.epochs={epochs}", "--set", f"output_dir={work}", "--run-dir", str(run),
                        "--no-progress"], env=env, check=True, stdout=subprocess.DEVNULL, timeout=seconds_limit)
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return sum(r["epoch_seconds"] for r in records) / len(records)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=900, help="seconds one run may take")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--models", default="lstm,bigru_attention", help="model.name of each run (default settings)")
    parser.add_argument("--policies", default="ACTIVE,PASSIVE,default",
                        help="ACTIVE, PASSIVE or spinN (GOMP_SPINCOUNT=N, no OMP_WAIT_POLICY)")
    parser.add_argument("--write", action="store_true", help="replace the contention section of RESULTS.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            for policy in args.policies.split(","):
                alone = epoch_seconds(policy, False, Path(tmp), args.limit, args.epochs, model)
                print(f"{model} {policy} alone {alone:.1f} s", file=sys.stderr, flush=True)
                shared = epoch_seconds(policy, True, Path(tmp), args.limit, args.epochs, model)
                print(f"{model} {policy} beside a competitor {shared:.1f} s", file=sys.stderr, flush=True)
                shown = "textclf's default (GOMP_SPINCOUNT=1000)" if policy == "default" else policy
                rows.append({"model": model, "policy": shown,
                             "alone": alone, "shared": shared, "ratio": shared / alone})
    body = (f"Mean training epoch on sms_spam.csv (configs/sms_spam_lstm.yaml with each model at its defaults) over {args.epochs} epochs (torch's default "
            "threads), alone and beside a process running 2-thread PyTorch matrix products (started "
            "and computing before the run begins).\n\n" + markdown_table(rows, [
                ("model", "model", ""), ("policy", "OMP_WAIT_POLICY", ""), ("alone", "epoch alone s", ".1f"),
                ("shared", "epoch beside the competitor s", ".1f"), ("ratio", "slowdown ×", ".2f")]))
    print(body)
    if args.write:
        write_section("contention", "Training beside another process: OpenMP wait policy", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
