"""torchrun: two CPU processes (gloo) train one run, as well as one process with the same global
batch, and resume it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import shared_data
from textclf.inference import Predictor

CONFIG = """name: ddp
output_dir: {runs}
data: {{source: files, train: {csv}, test_size: 0.2, val_size: 0.1, cache_dir: {cache}}}
preprocess: {{min_freq: 1, max_seq_len: 60}}
model: {{name: bag_of_ngrams, embedding_dim: 16, buckets: 20000, tfidf: true}}
train: {{epochs: 2, batch_size: {batch}, device: cpu, lr: 0.01, min_steps: {min_steps}}}
"""


def _config(tmp_path, name: str, batch: int, csv=None, min_steps=None):
    path = tmp_path / f"{name}.yaml"
    path.write_text(CONFIG.format(runs=tmp_path / name, csv=csv or shared_data("sms_spam.csv"),
                                  cache=tmp_path / "cache", batch=batch, min_steps=min_steps or "null"))
    return path


def _run(args: list[str], tmp_path, torchrun: bool):
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"] if torchrun else \
        [sys.executable]
    env = {**os.environ, "TMPDIR": str(scratch), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*launcher, "-m", "textclf", *args, "--no-progress"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert not list(scratch.glob("textclf-rank*"))  # the other rank's scratch folder is gone
    # The bag uses every parameter at every step: DDP looks for no unused ones, nor warns per rank.
    assert "find_unused_parameters" not in done.stderr
    return done.stdout


def test_two_processes_train_one_run_that_rank_0_alone_writes(tmp_path):
    """The torchrun path in the default test run, on 400 messages (the comparison with one
    process and the resume are the slow test below). train.min_steps counts a rank's optimizer
    steps after sharding (half of one process's), so it takes about twice the epochs."""
    csv = tmp_path / "small.csv"
    csv.write_text("".join(open(shared_data("sms_spam.csv"), encoding="utf-8").readlines()[:401]), encoding="utf-8")
    out = _run(["train", "--config", str(_config(tmp_path, "ddp", 32, csv, min_steps=20))], tmp_path, torchrun=True)
    assert out.count("distributed: 2 processes (gloo); global batch 2 x 32") == 1  # rank 0 alone prints
    (run,) = (tmp_path / "ddp").iterdir()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    per_epoch = records[0]["step"]  # a rank's steps an epoch
    assert records[-1]["step"] >= 20 and len(records) == -(-20 // per_epoch) and len(records) > 2
    assert Predictor.load(run / "checkpoints" / "best.ckpt").predict(["WIN a FREE prize now!!"])[0] in ("ham", "spam")


@pytest.mark.slow  # (-m slow; .ci/run runs it after the default run)
def test_two_processes_train_one_run_as_well_as_one_process(tmp_path):
    out = _run(["train", "--config", str(_config(tmp_path, "ddp", 32))], tmp_path, torchrun=True)
    assert out.count("distributed: 2 processes (gloo); global batch 2 x 32") == 1  # rank 0 alone prints
    assert out.count("test: accuracy") == 1
    (run,) = (tmp_path / "ddp").iterdir()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    ddp = json.loads((run / "evaluation" / "test" / "metrics.json").read_text())["accuracy"]
    assert Predictor.load(run / "checkpoints" / "best.ckpt").predict(["WIN a FREE prize now!!"]) == ["spam"]

    _run(["train", "--config", str(_config(tmp_path, "single", 64)), "--run-dir", str(tmp_path / "single" / "r")],
         tmp_path, torchrun=False)
    single = json.loads((tmp_path / "single" / "r" / "evaluation" / "test" / "metrics.json").read_text())["accuracy"]
    assert abs(ddp - single) <= 0.015, (ddp, single)

    # --resume under torchrun continues the same folder (one more epoch).
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("epochs: 2", "epochs: 3"))
    _run(["train", "--resume", str(run)], tmp_path, torchrun=True)
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]
    assert len(list((tmp_path / "ddp").iterdir())) == 1


def _average_on_rank(rank: int, init: str, out) -> None:
    import torch
    import torch.distributed as dist

    from textclf.training.distributed import Distributed

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        table = torch.nn.Parameter(torch.zeros(6, 2))
        # rank 0 touched rows 1 and 3 (3 twice: an uncoalesced gradient), rank 1 rows 3 and 5
        rows = [[1, 3, 3], [3, 5]][rank]
        values = torch.arange(1.0, 2 * len(rows) + 1).view(-1, 2) * (rank + 1)
        table.grad = torch.sparse_coo_tensor(torch.tensor([rows]), values, (6, 2))
        untouched = torch.nn.Parameter(torch.zeros(4, 2))  # no rank touched it: it keeps no gradient
        Distributed(rank, 2, rank, "gloo").average_sparse([table, untouched])
        out.put((rank, table.grad.to_dense(), untouched.grad))
    finally:
        dist.destroy_process_group()


def test_sparse_gradients_are_averaged_over_the_ranks(tmp_path):
    """What DDP does for dense gradients, for the sparse tables it is told to leave alone."""
    import torch
    import torch.multiprocessing as mp

    context = mp.get_context("spawn")
    out = context.Queue()
    init = f"file://{tmp_path / 'rendezvous'}"
    procs = [context.Process(target=_average_on_rank, args=(r, init, out)) for r in range(2)]
    for p in procs:
        p.start()
    results = dict((rank, (grad, none)) for rank, grad, none in (out.get(timeout=60) for _ in procs))
    for p in procs:
        p.join(timeout=60)
    expected = torch.zeros(6, 2)
    expected[1] = torch.tensor([1.0, 2.0]) / 2
    expected[3] = (torch.tensor([3.0, 4.0]) + torch.tensor([5.0, 6.0]) + 2 * torch.tensor([1.0, 2.0])) / 2
    expected[5] = 2 * torch.tensor([3.0, 4.0]) / 2
    for rank in (0, 1):
        torch.testing.assert_close(results[rank][0], expected)
        assert results[rank][1] is None


def test_one_process_is_not_distributed(monkeypatch):
    from textclf.training.distributed import current, shutdown

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    shutdown()
    assert not current().active and current().is_main and current().sum([1.0, 2.0]) == [1.0, 2.0]


@pytest.mark.slow  # (-m slow; .ci/run runs it after the default run)
def test_a_mistake_under_torchrun_is_one_line_from_rank_0(tmp_path):
    """Rank 0 finds the missing file and says so once; rank 1 learns of it and stops silently
    (no [rank1] traceback); the exit code is the data error's (torchrun adds its own summary)."""
    config = _config(tmp_path, "bad", 32, csv=tmp_path / "missing.csv")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "textclf", "train", "--config", str(config), "--no-progress"],
                          capture_output=True, text=True, env={**os.environ, "TMPDIR": str(scratch)}, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert [line for line in output.splitlines() if line.startswith("error:")] == [
        f"error: {tmp_path / 'missing.csv'}: file not found (from data.train/val/test)"]
    assert "[rank1]" not in output and "exitcode  : 4" in output
    assert not (tmp_path / "bad").exists()
