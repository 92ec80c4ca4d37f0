"""The default selection on two threads: its candidates train side by side in worker processes,
rank as they do one after the other, and stop with the run on a signal."""

import csv

import pytest

import textclf
from textclf.config import CANDIDATES
from test_select import sms  # noqa: F401 (the fixture: a config naming no model over 300 SMS)


def test_candidates_side_by_side_rank_as_one_after_the_other(sms, tmp_path, capsys):
    """With two threads the candidates train in two processes of one thread each: the same
    leaderboard, each one's output in its train.log."""
    runs = {threads: textclf.train({**sms, "train": {**sms["train"], "num_threads": threads, "ensemble": False}},
                                   run_dir=tmp_path / f"threads{threads}") for threads in (1, 2)}
    err = capsys.readouterr().err
    assert "3 more candidates in 2 processes of 1 thread each" in err
    assert "default selection: bag_chars trained: val score" in err
    boards = {}
    for threads, run in runs.items():
        with open(run.layout.leaderboard, newline="") as f:
            boards[threads] = [(r["candidate"], r["rank"], r["epochs"], round(float(r["val_score"]), 6),
                                round(float(r["val_loss"]), 4), r["status"]) for r in csv.DictReader(f)
                               if r["rank"]]  # (not linear_nb: skipped below NB_MIN_DOCUMENTS documents)
    assert boards[1] == boards[2]
    # (scored out of fold: side by side, each fold run was a call of its own, in either worker)
    assert all("5-fold cross-validated" in board[5] for board in boards[2])
    side = runs[2].layout
    assert "run folder:" in (side.root / "train.log").read_text()  # the winner's own output
    # (the first candidate trains in this process, on both threads: its output is the run's own)
    assert all((side.candidates / name / "train.log").is_file() for name in (b[0] for b in boards[2][1:])
               if name != CANDIDATES[0].name)
    for key in ("accuracy", "loss"):
        assert runs[2].test_metrics[key] == pytest.approx(runs[1].test_metrics[key], abs=1e-6)


def test_a_selection_side_by_side_stops_its_workers_on_sigterm_and_leaves_nothing(sms, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    import yaml

    config = tmp_path / "auto.yaml"
    config.write_text(yaml.safe_dump({**sms, "train": {**sms["train"], "epochs": 40, "num_threads": 2}}))
    process = subprocess.Popen([sys.executable, "-m", "textclf", "train", "--config", str(config)],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = []
    for line in process.stderr:  # until a candidate has finished: the workers are busy
        lines.append(line)
        if "trained: val score" in line:
            break
    process.send_signal(signal.SIGTERM)
    err = "".join(lines) + process.stderr.read()
    assert process.wait(timeout=60) == 130, err
    assert "error: interrupted (SIGTERM)" in err and "Traceback" not in err
    for _ in range(2):  # nothing left, and nothing written later by a worker left behind
        assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
        time.sleep(3)


def test_workers_done_exit_by_themselves_and_leak_no_semaphore(tmp_path):
    """Once every call is done the workers exit on their own rather than being terminated, so
    what they made (here a lock, registered with the resource tracker in a spawned process) is
    released and Python prints no "leaked semaphore" warning at the end of the run."""
    (tmp_path / "leaky.py").write_text("import multiprocessing\nKEEP = []\n\n\ndef call(share):\n"
                                       "    KEEP.append(multiprocessing.Lock())\n    return 1\n")
    (tmp_path / "main.py").write_text(
        "from textclf.training.side_by_side import side_by_side\nimport leaky\n\n"
        "if __name__ == '__main__':\n"
        "    print(side_by_side([leaky.call] * 2, ['a', 'b'], 2, 1, False, 'calls', lambda i, r: 'done', 'stop'))\n")
    done = _run_main(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1, 1]" and "leaked" not in done.stderr


def test_a_script_that_trains_at_import_gets_told_to_guard_it(sms, tmp_path):
    """A spawned worker imports the main script first: a script that calls textclf.train at its
    top level (no ``if __name__ == "__main__":``) would start the training again in each worker.
    The worker stops at once with a UsageError that says so, and the parent's error points at it."""
    import os
    import subprocess
    import sys

    import yaml

    config = tmp_path / "auto.yaml"
    config.write_text(yaml.safe_dump({**sms, "train": {**sms["train"], "num_threads": 2}}))
    (tmp_path / "script.py").write_text(f"import textclf\n\ntextclf.train({str(config)!r})\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, str(tmp_path / "script.py")], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert done.returncode != 0
    assert "textclf.errors.UsageError: training was started again while a worker process" in done.stderr
    assert 'put the script\'s training under `if __name__ == "__main__":`' in done.stderr
    assert "the workers' error is above" in done.stderr.splitlines()[-1]


_FURTHER = """\
import os
import time
from textclf.training.side_by_side import Then

LOG = os.environ["CALLS_LOG"]


def ran(name):
    with open(LOG, "a") as f:
        f.write(name + "\\n")


def call(share, name, cost=0.0, further=0, sleep=0.0):
    ran(name)
    time.sleep(sleep)
    if not further:
        return name, os.getpid()
    names = [f"{name}{k}" for k in range(1, further + 1)]
    calls = [__import__("functools").partial(call, name=n, sleep=sleep) for n in names]
    return Then(calls, names, state=name.upper(), cost=cost)


def finish(i, state, results):
    return state, results
"""


def test_a_calls_further_calls_follow_the_calls_not_yet_started_dearest_first(tmp_path):
    """A call that returns ``Then`` (a candidate whose fold runs its held-out run has set up) is
    done once its further calls are: ``finish`` gets its state and their results in order. They
    are queued after the calls not yet started (whose own further calls are not known yet), the
    dearest first; the bar counts each as a part of its call, and a call that has fewer parts than
    it was given still ends the bar at its total."""
    done = _run_further(tmp_path,
        "import tqdm\nfrom functools import partial\nimport further\n"
        "from textclf.training.side_by_side import side_by_side\n\n\n"
        "class Bar:\n    def __init__(self, total, **kw):\n        self.total, self.moves = total, []\n"
        "    def __enter__(self):\n        return self\n    def __exit__(self, *exc):\n"
        "        print('total', self.total, 'moves', self.moves)\n"
        "    def update(self, n=1):\n        self.moves.append(n)\n    def write(self, text, file=None):\n        pass\n\n\n"
        "if __name__ == '__main__':\n    tqdm.tqdm = Bar\n"
        "    calls = [partial(further.call, name='a', cost=1.0, further=2), partial(further.call, name='b', cost=5.0, further=2),"
        " partial(further.call, name='c')]\n"
        "    results = side_by_side(calls, ['a', 'b', 'c'], 1, 1, True, 'calls', lambda i, r: 'done', 'stop',"
        " steps=[3, 3, 2], finish=further.finish)\n"
        "    print([(r[0], [n for n, _ in r[1]]) if isinstance(r[1], list) else r[0] for r in results])\n")
    assert (tmp_path / "order.log").read_text().split() == ["a", "b", "c", "b1", "b2", "a1", "a2"]
    assert done.stdout.splitlines() == ["total 8 moves [1, 1, 2, 1, 1, 1, 1]", "[('A', ['a1', 'a2']), ('B', ['b1', 'b2']), 'c']"]


def test_a_calls_further_calls_go_to_whichever_worker_is_free(tmp_path):
    """Two workers: while one trains a call's held-out part, the other finishes a short call;
    the first call's two further calls then run one in each worker, not both in the first."""
    done = _run_further(tmp_path,
        "from functools import partial\nimport further\nfrom textclf.training.side_by_side import side_by_side\n\n"
        "if __name__ == '__main__':\n"
        "    calls = [partial(further.call, name='a', cost=1.0, further=2, sleep=0.5), partial(further.call, name='b')]\n"
        "    (state, theirs), b = side_by_side(calls, ['a', 'b'], 2, 1, False, 'calls', lambda i, r: 'done', 'stop',"
        " finish=further.finish)\n"
        "    print(state, len({pid for _, pid in theirs}))\n")
    assert done.stdout.split() == ["A", "2"]


def _run_further(folder, main: str):
    """Run ``main`` as ``folder``/main.py beside _FURTHER's calls (further.py), which log their
    names in ``folder``/order.log; it must succeed."""
    (folder / "further.py").write_text(_FURTHER)
    (folder / "main.py").write_text(main)
    done = _run_main(folder, CALLS_LOG=str(folder / "order.log"))
    assert done.returncode == 0, done.stderr
    return done


def _run_main(folder, **env):
    """Run ``folder``/main.py in a fresh Python with ``folder`` importable (spawned workers too)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, str(folder / "main.py")], capture_output=True, text=True, env=env,
                          timeout=120)
