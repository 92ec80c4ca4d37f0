"""textclf search on small real data: grid in parallel, resume, pruning, outputs."""

import csv
import socket
import time

import optuna
import pytest
from optuna.trial import TrialState

from conftest import write_config
from textclf.cli import main
from textclf.config import load_config
from textclf.errors import ConfigError
from textclf.training import search as search_module
from textclf.training.search import run_search

SEARCH = """
search:
  method: {method}
  epochs: {epochs}
  pruner: {pruner}
  n_trials: {n_trials}
  space:
{space}
"""


def search_config(mini_config, tmp_path, method="grid", epochs=2, pruner="none", n_trials="null",
                  space="    train.lr: [0.01, 0.02]\n    model.hidden_size: [16, 32]"):
    text = mini_config.read_text() + SEARCH.format(method=method, epochs=epochs, pruner=pruner,
                                                   n_trials=n_trials, space=space)
    return write_config(tmp_path / "search.yaml", text)


def trials(out, state=None):
    study = optuna.load_study(study_name="mini", storage=f"sqlite:///{out / 'study.db'}")
    return [t for t in study.trials if state is None or t.state == state]


def test_parallel_grid_runs_every_point_once_and_resumes(mini_config, tmp_path, capsys):
    path = search_config(mini_config, tmp_path)
    out = tmp_path / "search"
    assert main(["search", "--config", str(path), "--jobs", "2", "--output", str(out)]) == 0
    done = trials(out, TrialState.COMPLETE)
    points = sorted((t.params["train.lr"], t.params["model.hidden_size"]) for t in done)
    assert points == [(0.01, 16), (0.01, 32), (0.02, 16), (0.02, 32)]
    assert not trials(out, TrialState.WAITING) and not trials(out, TrialState.RUNNING)
    assert all(t.user_attrs["worker"].startswith(socket.gethostname() + ":") for t in done)
    # Each trial is scored by its best epoch and keeps that epoch's checkpoint.
    for t in done:
        assert 1 <= t.user_attrs["best_epoch"] <= 2
        assert (tmp_path / t.user_attrs["run_dir"] / "checkpoints" / "best.ckpt").is_file()
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    values = [float(r["val_accuracy"]) for r in rows]
    assert values == sorted(values, reverse=True) and len(rows) == 4
    assert {"train.lr", "model.hidden_size", "val_loss", "best_epoch", "seconds"} <= set(rows[0])
    best = load_config(out / "best.yaml")
    assert best.train.lr == float(rows[0]["train.lr"]) and best.train.epochs == 4  # the config's, not 2
    assert list((out / "tensorboard").rglob("events.out.tfevents.*"))
    # Running it again resumes the study: nothing is trained twice.
    count = len(trials(out))
    assert main(["search", "--config", str(path), "--output", str(out)]) == 0
    assert len(trials(out)) == count


def _pop_all(url, queue):
    """A worker that pops waiting trials as fast as it can (no training in between)."""
    import warnings

    warnings.simplefilter("ignore")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name="race", storage=search_module._storage(url))
    taken = []
    while (trial := search_module._pop_waiting(study, url)) is not None:
        taken.append(trial.number)
        study.tell(trial, 1.0)
    queue.put(taken)


def test_processes_popping_one_sqlite_study_never_get_the_same_trial(tmp_path):
    # Without the pop lock SQLite hands the same waiting trial to two processes within a few
    # dozen pops (Optuna reads the state, then writes it; SQLite has no row lock in between).
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="race", storage=search_module._storage(url))
    for i in range(60):
        study.enqueue_trial({"x": i})
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_pop_all, args=(url, queue)) for _ in range(3)]
    for w in workers:
        w.start()
    taken = [queue.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    numbers = sorted(n for share in taken for n in share)
    assert numbers == list(range(60))


def test_a_killed_workers_trial_is_redone_on_resume(mini_config, tmp_path, monkeypatch):
    path = search_config(mini_config, tmp_path, epochs=1, space="    train.lr: [0.01, 0.02]")
    out = tmp_path / "search"
    out.mkdir()
    config = load_config(path)
    monkeypatch.setattr(search_module, "_GRACE_SECONDS", 1)
    study = search_module._study(config, f"sqlite:///{out / 'study.db'}")
    search_module._enqueue_grid(study, config.search.space)
    taken = study.ask()  # a worker took a point, beat once, and was killed (SIGKILL: no tell)
    study._storage.record_heartbeat(taken._trial_id)
    time.sleep(2)
    run_search(config, out)
    assert [t.number for t in trials(out, TrialState.FAIL)] == [taken.number]
    assert sorted(t.params["train.lr"] for t in trials(out, TrialState.COMPLETE)) == [0.01, 0.02]
    assert not trials(out, TrialState.RUNNING)


@pytest.mark.slow  # (-m slow; .ci/run runs it after the default run)
def test_random_search_with_median_pruner_prunes(mini_config, tmp_path):
    path = search_config(mini_config, tmp_path, method="random", epochs=3, pruner="median", n_trials=6,
                         space="    train.lr: {low: 0.00001, high: 0.05, log: true}")
    out = tmp_path / "search"
    out.mkdir()
    run_search(load_config(path), out)
    finished = trials(out, TrialState.COMPLETE) + trials(out, TrialState.PRUNED)
    assert len(finished) == 6
    pruned = trials(out, TrialState.PRUNED)
    assert pruned and all(len(t.intermediate_values) < 3 for t in pruned)


def test_bad_search_settings(mini_config, tmp_path):
    path = search_config(mini_config, tmp_path, space="    train.lrr: [0.1]")
    out = tmp_path / "s"
    out.mkdir()
    with pytest.raises(ConfigError, match="did you mean 'lr'"):
        run_search(load_config(path), out)
    with pytest.raises(ConfigError, match="a grid needs lists of values"):
        load_config(search_config(mini_config, tmp_path, space="    train.lr: {low: 0.1, high: 1}"))


def test_a_trial_trains_exactly_search_epochs_even_where_min_steps_would_add_more(mini_config, tmp_path):
    """The pruners' budget is search.epochs: train.min_steps (the default recipe's 200) must not
    raise a trial's epochs on a small data set."""
    from textclf.text.prepare import prepare_data
    from textclf.training.setup import setup_run

    config = load_config(search_config(mini_config, tmp_path, epochs=1), ["train.min_steps=200"])
    assert config.train.min_steps == 200
    trial = search_module._with_params(config, {"train.lr": 0.01}, config.search.epochs)
    setup = setup_run(trial, prepare_data(trial))
    assert setup.config.train.epochs == 1 and len(setup.loader) < 200


def test_a_config_naming_no_model_is_searched_as_one_decided_recipe(tmp_path, capsys):
    # The default recipe's data decision is made once, before the first trial: every trial and
    # best.yaml train the same concrete model (best.yaml would otherwise start a selection).
    import pandas as pd

    from conftest import shared_data

    frame = pd.read_csv(shared_data("sms_spam.csv"), keep_default_na=False)
    frame.groupby("label").head(100).to_csv(tmp_path / "sms.csv", index=False)
    path = write_config(tmp_path / "auto.yaml", f"""name: auto
output_dir: {tmp_path / 'runs'}
data:
  source: files
  train: {tmp_path / 'sms.csv'}
  cache_dir: {tmp_path / 'cache'}
model:
  buckets: 500
  char_buckets: 500
train:
  device: cpu
search:
  epochs: 1
  space:
    train.lr: [0.01, 0.02]
""")
    out = tmp_path / "search"
    assert main(["search", "--config", str(path), "--output", str(out)]) == 0
    assert capsys.readouterr().err.count("default recipe: training texts average") == 1
    best = load_config(out / "best.yaml")
    assert not best.model.auto and best.model.params()["minn"] == 2 and best.preprocess.tokenizer == "wordpunct"
    study = optuna.load_study(study_name="auto", storage=f"sqlite:///{out / 'study.db'}")
    assert len(study.trials) == 2
    for t in study.trials:
        assert load_config(tmp_path / t.user_attrs["run_dir"] / "config.yaml").model == best.model
