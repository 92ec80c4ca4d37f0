"""Resume: a run killed at a random moment and resumed ends exactly like an uninterrupted one."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from textclf.artifact import ModelArtifact
from textclf.cli import main

# One thread everywhere: the subprocess and this process must do the same arithmetic. A cosine
# schedule with warm-up changes the learning rate at every step: resuming must restore it too.
# 8 epochs: the run goes on for about 3.7 s after its first checkpoint; with 3 it was about 2 s,
# and the kill comes up to 1.5 s after that checkpoint, so on a fast hour the run could end first.
SETTINGS = ["--set", "train.num_threads=1", "--set", "train.checkpoint_every_steps=3",
            "--set", "train.epochs=8", "--set", "train.scheduler=cosine", "--set", "train.warmup=4"]


@pytest.fixture(scope="module")
def reference(mini_config, tmp_path_factory):
    run = tmp_path_factory.mktemp("reference") / "run"
    assert main(["train", "--config", str(mini_config), "--run-dir", str(run), "--no-progress", *SETTINGS]) == 0
    return run


def start(mini_config, run):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "textclf", "train", "--config", str(mini_config), "--run-dir", str(run),
         "--no-progress", *SETTINGS],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def wait_for(path, proc, timeout=120):
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.05)


def assert_same_run(run, reference):
    ours = json.loads((run / "results.json").read_text())
    theirs = json.loads((reference / "results.json").read_text())
    ours.pop("mean_epoch_seconds"), theirs.pop("mean_epoch_seconds")
    assert ours == theirs
    a = ModelArtifact.load(run / "checkpoints" / "best.ckpt").state_dict
    b = ModelArtifact.load(reference / "checkpoints" / "best.ckpt").state_dict
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    ref_lines = [json.loads(x) for x in (reference / "metrics.jsonl").read_text().splitlines()]
    strip = lambda r: {k: v for k, v in r.items() if not k.endswith("seconds")}
    assert [strip(r) for r in lines] == [strip(r) for r in ref_lines]


@pytest.mark.slow  # (-m slow; .ci/run runs it after the default run)
def test_sigkill_at_a_random_moment_then_resume_is_exact(mini_config, reference, tmp_path):
    run = tmp_path / "run"
    proc = start(mini_config, run)
    wait_for(run / "checkpoints" / "last.ckpt", proc)
    time.sleep(random.uniform(0.0, 1.5))
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert_same_run(run, reference)


@pytest.mark.slow  # (-m slow; .ci/run runs it after the default run)
def test_sigterm_saves_state_and_says_how_to_resume(mini_config, reference, tmp_path):
    run = tmp_path / "run"
    proc = start(mini_config, run)
    wait_for(run / "checkpoints" / "last.ckpt", proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"textclf train --resume {run}" in err and "Traceback" not in err
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert_same_run(run, reference)


def test_resume_errors(tmp_path, capsys, mini_config):
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path), "--config", str(mini_config)]) == 2
    assert "drop --config" in capsys.readouterr().err
    assert main(["train"]) == 2
    assert "--config CONFIG" in capsys.readouterr().err


def test_a_signal_during_the_last_validation_stops_the_run_and_it_resumes(mini_config, tmp_path):
    """The flag is also read after validation: a Ctrl-C there is not swallowed by the final
    evaluation, and the run resumes from the epoch it had saved."""
    from textclf.config import load_config
    from textclf.errors import TrainingInterrupted
    from textclf.training.recipe import resume, train

    config = load_config(mini_config, ["train.epochs=1", "train.num_threads=1"])
    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match=r"\(SIGINT\) after epoch 1; .*--resume"):
        train(config, run_dir=run, progress=False, on_epoch=lambda record: signal.raise_signal(signal.SIGINT))
    assert (run / "checkpoints" / "last.ckpt").is_file() and not (run / "results.json").exists()
    result = resume(run, progress=False)
    assert len(result.history) == 1 and (run / "results.json").is_file()
