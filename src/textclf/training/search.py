"""``textclf search``: hyperparameter search on Optuna (grid, random, TPE), optionally pruned.

- The study lives in a storage: a SQLite file in the search folder by default, or any Optuna
  storage URL, so workers on several machines can share one study; running the command again
  resumes the study (finished trials are not repeated).
- A grid is enqueued as waiting trials; workers pop them atomically from the storage (on SQLite,
  which has no row locks, under a lock file beside the database), and a copy enqueued by a
  worker that started at the same moment steps back, so no point is evaluated twice, also with
  parallel workers on several machines.
- Preprocessing is done once per distinct (data, preprocess) setting and shared by the trials.
- ``--jobs N`` runs N worker processes that split the cores. Grid trials record heartbeats, so a
  trial whose worker was killed is marked failed when a worker starts, and its point is redone.
- Each trial trains ``search.epochs`` epochs, reports its validation metric every epoch (for the
  pruner), and is scored by its best epoch, whose checkpoint it keeps.
Outputs: ``results.csv`` and ``results.md`` (sorted by the metric), TensorBoard HParams, and
``best.yaml``, the winning config ready for ``textclf train``.
"""

from __future__ import annotations

import csv
import itertools
import os
import random
import socket
import threading
import time
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from textclf.config import Config, config_from_dict, dump_config, set_dotted
from textclf.errors import ConfigError, TextclfError
from textclf.files import atomic_path, write_text
from textclf.text.prepare import PreparedData, prepare_data, prepare_with_recipe
from textclf.training.tracking import finish_parent_run, start_parent_run

__all__ = ["run_search"]

_HEARTBEAT_SECONDS = 30
_GRACE_SECONDS = 150


def _with_params(config: Config, params: dict[str, Any], epochs: int | None = None) -> Config:
    raw = config.model_dump(mode="json")
    for key, value in params.items():
        set_dotted(raw, key, value, source="search.space")
    if epochs is not None:  # exactly search.epochs: the pruners' budget (no min_steps raising it)
        raw["train"]["epochs"] = epochs
        raw["train"]["min_steps"] = None
        raw["train"]["monitor"] = config.search.metric
        raw["train"]["early_stopping_patience"] = None
    return config_from_dict(raw, source="search.space")


def run_search(
    config: Config, out_dir: Path, storage: str | None = None, jobs: int = 1
) -> optuna.Study:
    """Run (or resume) the study in the search folder ``out_dir`` (created when missing, and
    removed again when a mistake is found before it holds anything). ``jobs`` > 1 starts that
    many worker processes in all (this one included), each with its share of the CPU cores as
    torch threads (``train.num_threads`` when set). Processes, not threads, so that each trial has
    its own random state (reproducible)."""
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _run_search(config, out_dir, storage, jobs)
    except TextclfError:
        if created and not any(out_dir.iterdir()):  # a mistake found before any trial: leave nothing
            out_dir.rmdir()
        raise


def _run_search(config: Config, out_dir: Path, storage: str | None, jobs: int) -> optuna.Study:
    search = config.search
    if not search.space:
        raise ConfigError("search.space: empty; map dotted config keys to values, e.g. train.lr: [0.001, 0.002]")
    # Every key must be a config key with valid values: check the first point now, not in a trial.
    _with_params(config, {k: (v[0] if isinstance(v, list) else v.low) for k, v in search.space.items()})
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    prepared = {}
    if config.model.auto:  # a config naming no model: the default recipe, decided once for every trial
        config, data = prepare_with_recipe(config)
        prepared[_data_key(config)] = data
    storage = storage or f"sqlite:///{out_dir / 'study.db'}"
    study = _study(config, storage)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # trials of killed workers
    if search.method == "grid":
        _enqueue_grid(study, search.space)
        remaining = None
    else:
        done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
        remaining = max(0, (search.n_trials or 0) - done)
    parent = study.user_attrs.get("mlflow_parent_run_id")
    if parent is None and config.tracking.mlflow:  # the search's run; every trial is its child
        parent = start_parent_run(config, out_dir.name)
        study.set_user_attr("mlflow_parent_run_id", parent)
    if jobs == 1:
        _work(study, _objective(config, out_dir, prepared), remaining, storage)
    else:
        _work_in_processes(config, out_dir, storage, jobs, remaining, prepared)
    _write_outputs(study, config, out_dir)
    if parent is not None:
        finish_parent_run(config, parent, [out_dir / n for n in ("results.csv", "results.md", "best.yaml")])
    return study


def _study(config: Config, storage: str) -> optuna.Study:
    search = config.search
    direction = "minimize" if search.metric == "val_loss" else "maximize"
    samplers = {"grid": optuna.samplers.RandomSampler(seed=config.seed),
                "random": optuna.samplers.RandomSampler(seed=config.seed),
                "tpe": optuna.samplers.TPESampler(seed=config.seed)}
    pruners = {"none": optuna.pruners.NopPruner(),
               "median": optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
               "hyperband": optuna.pruners.HyperbandPruner(min_resource=1, max_resource=search.epochs)}
    return _open_study(
        storage, study_name=config.name, load_if_exists=True, direction=direction,
        sampler=samplers[search.method], pruner=pruners[search.pruner],
    )


def _storage(url: str) -> optuna.storages.RDBStorage:
    """The storage, with heartbeats: a trial whose worker was killed (no heartbeat for
    ``_GRACE_SECONDS``) is marked failed when a worker starts, so that a resumed grid redoes it."""
    kwargs: dict[str, Any] = {"heartbeat_interval": _HEARTBEAT_SECONDS, "grace_period": _GRACE_SECONDS}
    if url.startswith("sqlite"):  # several processes write to one file: wait for the lock
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 120}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(url, **kwargs)


@contextmanager
def _heartbeat(study: optuna.Study, trial: optuna.Trial):
    """Record the trial's heartbeat every ``_HEARTBEAT_SECONDS`` while it trains (ask/tell
    trials get none from Optuna itself)."""
    storage, stop = study._storage, threading.Event()

    def beat() -> None:
        while True:
            storage.record_heartbeat(trial._trial_id)
            if stop.wait(_HEARTBEAT_SECONDS):
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _data_key(config: Config) -> str:
    return config.model_dump_json(include={"data", "preprocess", "seed"})


def _objective(config: Config, out_dir: Path, prepared: dict[str, PreparedData] | None = None):
    """The trial function: train ``search.epochs`` epochs at the trial's point, report every
    epoch to the pruner, and score the trial by its best epoch. ``prepared`` maps a data key
    to data already prepared."""
    search = config.search
    prepared = {} if prepared is None else prepared

    def objective(trial: optuna.Trial) -> float:
        params = {}
        for key, spec in search.space.items():
            if isinstance(spec, list):
                params[key] = trial.suggest_categorical(key, spec)
            else:
                params[key] = trial.suggest_float(key, spec.low, spec.high, log=spec.log)
        trial_config = _with_params(config, params, search.epochs)
        data_key = _data_key(trial_config)
        if data_key not in prepared:  # preprocessing once per distinct data/preprocess setting
            prepared[data_key] = prepare_data(trial_config)
        from textclf.training.recipe import monitored, train

        def report(record: dict) -> None:
            trial.report(monitored(record, search.metric), record["epoch"])
            if trial.should_prune():
                raise optuna.TrialPruned()

        run = out_dir / "trials" / f"trial-{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        result = train(trial_config, run_dir=run, prepared=prepared[data_key], progress=False,
                       tracking_parent=trial.study.user_attrs.get("mlflow_parent_run_id"),
                       on_epoch=report, final_evaluation=False, refit=False)
        best = result.history[result.best_epoch - 1]
        trial.set_user_attr("best_epoch", result.best_epoch)
        trial.set_user_attr("val_loss", best["val/loss"])
        trial.set_user_attr("seconds", sum(h["epoch_seconds"] + h["eval_seconds"] for h in result.history))
        return result.best_score

    return objective


def _work(study: optuna.Study, objective, n_trials: int | None, storage: str) -> None:
    """One worker: pop grid points until none is left, or run ``n_trials`` sampled trials."""
    if n_trials is None:
        _grid_worker(study, objective, storage)
    elif n_trials > 0:
        study.optimize(objective, n_trials=n_trials, catch=(), gc_after_trial=True)


def _process_worker(raw_config: dict, out_dir: str, storage: str, threads: int, n_trials: int | None) -> None:
    import torch

    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = config_from_dict(raw_config, source="search worker")
    _work(_study(config, storage), _objective(config, Path(out_dir)), n_trials, storage)


def _work_in_processes(config: Config, out_dir: Path, storage: str, jobs: int, remaining: int | None,
                       prepared: dict[str, PreparedData]) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import torch

    threads = config.train.num_threads or max(1, len(os.sched_getaffinity(0)) // jobs)
    shares = [None] * jobs if remaining is None else [remaining // jobs + (i < remaining % jobs) for i in range(jobs)]
    # Preprocess (or fill the cache) once here, so that the workers only read it.
    base = _with_params(config, {}, config.search.epochs)
    if _data_key(base) not in prepared:  # (an auto config's data were prepared when it was decided)
        prepared[_data_key(base)] = prepare_data(base)
    raw = config.model_dump(mode="json")
    before = torch.get_num_threads()
    with ProcessPoolExecutor(jobs - 1, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_process_worker, raw, str(out_dir), storage, threads, n) for n in shares[1:]]
        torch.set_num_threads(threads)
        try:
            _work(_study(config, storage), _objective(config, out_dir, prepared), shares[0], storage)
        finally:
            torch.set_num_threads(before)
        for future in futures:  # a worker's failure is the command's failure
            future.result()


def _open_study(url: str, **kwargs) -> optuna.Study:
    """Create or load the study. Workers that start together on a new database race to create
    its tables (PostgreSQL then reports a duplicate type); the losers simply try again."""
    from sqlalchemy.exc import SQLAlchemyError

    for attempt in range(6):
        try:
            return optuna.create_study(storage=_storage(url), **kwargs)
        except (SQLAlchemyError, optuna.exceptions.StorageInternalError, optuna.exceptions.DuplicatedStudyError):
            if attempt == 5:
                raise
            time.sleep(0.2 + random.random())
    raise AssertionError("unreachable")


def _enqueue_grid(study: optuna.Study, space: dict[str, list]) -> None:
    keys = list(space)
    seen = set()
    for t in study.get_trials(deepcopy=False):
        params = t.params or t.system_attrs.get("fixed_params", {})
        if t.state != TrialState.FAIL and params:
            seen.add(tuple(params.get(k) for k in keys))
    for values in itertools.product(*(space[k] for k in keys)):
        if tuple(values) not in seen:
            study.enqueue_trial(dict(zip(keys, values)))


def _pop_lock(storage: str):
    """What makes popping a waiting trial atomic across processes. Optuna reads the trial's
    state and then marks it running; PostgreSQL and MySQL lock the row in between, SQLite does
    not, so two processes can both take the same trial. On a SQLite file the pop is serialised
    by a lock file beside it (SQLite's workers share one machine's file system anyway)."""
    from filelock import FileLock
    from sqlalchemy.engine import make_url

    url = make_url(storage)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return nullcontext()
    return FileLock(f"{url.database}.pop.lock")


def _pop_waiting(study: optuna.Study, storage: str) -> optuna.Trial | None:
    """The next waiting trial, now running and ours alone; None when none is waiting."""
    with _pop_lock(storage), warnings.catch_warnings():  # heartbeats are ours (see _heartbeat)
        warnings.filterwarnings("ignore", "Heartbeat of storage")
        if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            return None
        trial = study.ask()
    if "fixed_params" not in study._storage.get_trial_system_attrs(trial._trial_id):
        study.tell(trial, state=TrialState.FAIL)  # another worker took the last point first
        return None
    return trial


def _grid_worker(study: optuna.Study, objective, storage: str) -> None:
    """Pop waiting grid trials until none is left (each goes to one worker)."""
    while (trial := _pop_waiting(study, storage)) is not None:
        everything = study.get_trials(deepcopy=False)
        point = study._storage.get_trial_system_attrs(trial._trial_id)["fixed_params"]
        # Workers that started together may both have enqueued the grid. Our trial is RUNNING
        # in the storage before this check, so of two copies of a point the one with the lower
        # number always wins and the other steps back, whatever the interleaving.
        if any(t.number < trial.number and t.state in (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
               and (t.params or t.system_attrs.get("fixed_params")) == point for t in everything):
            trial.set_user_attr("duplicate_of_an_earlier_trial", True)
            study.tell(trial, state=TrialState.FAIL)
            continue
        try:
            with _heartbeat(study, trial):
                value = objective(trial)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
            continue
        except BaseException:
            study.tell(trial, state=TrialState.FAIL)
            raise
        study.tell(trial, value)


def _write_outputs(study: optuna.Study, config: Config, out_dir: Path) -> None:
    keys = list(config.search.space)
    finished = [t for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    sign = -1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1

    def score(t):
        value = t.value if t.state == TrialState.COMPLETE else max(t.intermediate_values.values(), default=None)
        return value

    finished.sort(key=lambda t: (t.state != TrialState.COMPLETE, sign * (score(t) or 0)))
    header = ["trial", "state", *keys, config.search.metric, "val_loss", "best_epoch", "seconds"]
    rows = []
    for t in finished:
        rows.append([t.number, t.state.name.lower(), *(t.params.get(k) for k in keys),
                     score(t), t.user_attrs.get("val_loss"), t.user_attrs.get("best_epoch"),
                     t.user_attrs.get("seconds")])
    with atomic_path(out_dir / "results.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)

    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))

    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    write_text(out_dir / "results.md", "\n".join(md) + "\n")

    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(log_dir=str(out_dir / "tensorboard")) as writer:
        for t in finished:
            if t.state == TrialState.COMPLETE:
                hparams = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in t.params.items()}
                writer.add_hparams(hparams, {f"hparam/{config.search.metric}": t.value},
                                   run_name=f"trial-{t.number:04d}")
    complete = [t for t in finished if t.state == TrialState.COMPLETE]
    if complete:
        best = _with_params(config, complete[0].params)
        write_text(out_dir / "best.yaml",
                   f"# textclf train --config {out_dir / 'best.yaml'}\n"
                   f"# best of {len(complete)} trials: {config.search.metric} {complete[0].value:.4f}\n"
                   + dump_config(best))
