"""Two search workers in separate processes share one study on a real PostgreSQL server."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from conftest import write_config

BIN = next((p for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)
pytestmark = pytest.mark.skipif(
    BIN is None or shutil.which("runuser") is None,
    reason="Debian's PostgreSQL server is not installed (.ci/run installs it)",
)


def as_postgres(*cmd, **kwargs):
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + [str(c) for c in cmd], check=True, capture_output=True, text=True, **kwargs)


@pytest.fixture
def postgres_url():
    folder = Path(tempfile.mkdtemp(prefix="textclf-pg-"))
    folder.chmod(0o777)
    data = folder / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    as_postgres(BIN / "initdb", "-D", data, "-U", "textclf", "--auth=trust")
    as_postgres(BIN / "pg_ctl", "-D", data, "-l", folder / "log", "-w", "-o",
                f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start")
    try:
        as_postgres(BIN / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "textclf", "optuna")
        yield f"postgresql+psycopg2://textclf@127.0.0.1:{port}/optuna"
    finally:
        as_postgres(BIN / "pg_ctl", "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow  # (-m slow; .ci/run runs it after the default run)
def test_two_workers_share_a_grid_on_postgresql(mini_config, tmp_path, postgres_url):
    config = write_config(tmp_path / "search.yaml", mini_config.read_text() + """
search:
  method: grid
  epochs: 1
  space:
    train.lr: [0.005, 0.01, 0.02]
    model.hidden_size: [16, 32]
""")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    workers = [
        subprocess.Popen([sys.executable, "-m", "textclf", "search", "--config", str(config),
                          "--storage", postgres_url, "--output", str(tmp_path / f"worker{i}"),
                          "--set", "train.num_threads=1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for i in range(2)
    ]
    started = time.time()
    outputs = [w.communicate(timeout=300) for w in workers]
    for w, (out, err) in zip(workers, outputs):
        assert w.returncode == 0, err
    study = optuna.load_study(study_name="mini", storage=postgres_url)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    points = sorted((t.params["train.lr"], t.params["model.hidden_size"]) for t in complete)
    assert points == sorted((lr, h) for lr in (0.005, 0.01, 0.02) for h in (16, 32))  # each once
    # Both workers took part.
    folders = {Path(t.user_attrs["run_dir"]).parent.parent.name for t in complete}
    assert folders == {"worker0", "worker1"}, (folders, time.time() - started)
