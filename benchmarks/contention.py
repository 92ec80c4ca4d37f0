"""One training epoch alone and beside a competing process, with OpenMP's threads spinning
(OMP_WAIT_POLICY=ACTIVE, the runtime's usual behaviour) and sleeping (PASSIVE, textclf's default).

The competitor is another process running 2-thread PyTorch matrix products for as long as the
epoch lasts (what a second job, a server or a test run does to a shared machine). The epoch:
`textclf train` of the default LSTM of configs/sms_spam_lstm.yaml, one epoch, in a subprocess.

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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import markdown_table, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COMPETITOR = """
import torch, time
torch.set_num_threads(2)
a = torch.randn(1024, 1024)
end = time.time() + {seconds}
while time.time() < end:
    a @ a
"""


def epoch_seconds(policy: str, competing: bool, work: Path, seconds_limit: int) -> float:
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    competitor = None
    if competing:
        competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR.format(seconds=seconds_limit)],
                                      env={**os.environ, "OMP_WAIT_POLICY": "ACTIVE"})
    run = work / f"{policy}-{competing}"
    try:
        subprocess.run([sys.executable, "-m", "textclf", "train", "--config", str(ROOT / "configs/sms_spam_lstm.yaml"),
                        "--set", "train.epochs=1", "--set", f"output_dir={work}", "--run-dir", str(run),
                        "--no-progress"], env=env, check=True, stdout=subprocess.DEVNULL, timeout=seconds_limit)
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    return record["epoch_seconds"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=900, help="seconds one epoch may take")
    parser.add_argument("--write", action="store_true", help="replace the contention section of RESULTS.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for policy in ("ACTIVE", "PASSIVE"):
            alone = epoch_seconds(policy, False, Path(tmp), args.limit)
            print(f"{policy} alone {alone:.1f} s", file=sys.stderr, flush=True)
            shared = epoch_seconds(policy, True, Path(tmp), args.limit)
            print(f"{policy} beside a competitor {shared:.1f} s", file=sys.stderr, flush=True)
            rows.append({"policy": policy + (" (textclf's default)" if policy == "PASSIVE" else ""),
                         "alone": alone, "shared": shared, "ratio": shared / alone})
    body = ("One epoch of configs/sms_spam_lstm.yaml (torch's default threads), alone and beside a "
            "process running 2-thread PyTorch matrix products.\n\n" + markdown_table(rows, [
                ("policy", "OMP_WAIT_POLICY", ""), ("alone", "epoch alone s", ".1f"),
                ("shared", "epoch beside the competitor s", ".1f"), ("ratio", "slowdown ×", ".2f")]))
    print(body)
    if args.write:
        write_section("contention", "Training beside another process: OpenMP wait policy", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
