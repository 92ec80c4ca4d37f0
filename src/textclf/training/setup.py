"""``setup_run``: everything a run needs, built the same way for train, sanity, lr-find and search.

Order matters for reproducibility: threads and seed first, then the data (from the cache when it
can), then the model (built from its BuildContext; training statistics fitted when the model
declares it needs them), then the optimizer, the loss and the seeded batches.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from textclf.artifact import ModelArtifact
from textclf.batching import TrainBatches, make_train_loader, sorted_batches, take
from textclf.config import Config
from textclf.data import SPLITS
from textclf.errors import UsageError
from textclf.models import BuildContext, TextClassifier, build_model
from textclf.precision import autocast, check_training, compiled, grad_scaler
from textclf.runtime import resolve_device, seed_everything
from textclf.task import Task, get_task
from textclf.text.prepare import PreparedData, cache_dir, prepare_with_recipe
from textclf.text.vectors import read_vectors
from textclf.text.vocabulary import PAD_ID, word_strings
from textclf.training.distributed import Distributed
from textclf.training.loss import class_weights
from textclf.training.optimizer import SplitOptimizer, make_optimizer, sparse_parameters
from textclf.training.schedule import Schedule, make_schedule

__all__ = ["RunSetup", "setup_run", "build_context", "features_folder", "feature_batches"]


@dataclass
class RunSetup:
    config: Config
    prepared: PreparedData
    device: torch.device
    model: TextClassifier
    # Makes the optimizer when ``optimizer`` is first read: a solver's fit (``model.solver``)
    # steps none, and building a torch optimizer imports torch._dynamo (about 0.9 s of a process).
    optimizer_factory: Callable[[], torch.optim.Optimizer | SplitOptimizer]
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # Task.criterion
    loader: TrainBatches
    class_weights: torch.Tensor | None
    train_counts: np.ndarray  # examples per class in the training split
    task: Task
    # Multilabel: the decision thresholds chosen at the last validation (one per class).
    thresholds: list[float] | None = None
    schedule: Schedule | None = None  # train.scheduler, stepped after every optimizer step
    distributed: Distributed = Distributed()  # under torchrun: this process's rank and the world
    trainer: nn.Module | None = None  # what training steps call: the model, its DDP wrapper, compiled
    # train.compile: the model compiled, for validation (None: the model itself).
    compiled_model: nn.Module | None = None
    # train.precision fp16: scales the loss against underflow (a pass-through otherwise).
    scaler: torch.amp.GradScaler = field(default_factory=lambda: grad_scaler("cpu", "fp32"))
    # Whether the run writes last.ckpt (optimizer and loop state) for --resume; a default
    # selection's candidates do not (the selection does not resume), which saves their writes.
    resumable: bool = True
    # Whether the run writes best.ckpt at all (recipe.train(checkpoints=) off: a cross-validated
    # selection's fold runs, whose predictions reach on_validation and whose weights no one loads;
    # holding and writing a copy of a bag's tables was half of such a run's time).
    checkpoints: bool = True
    # A time.perf_counter() after which training stops at the end of its epoch, besides
    # train.budget: a default selection's deadline for its candidates (the config keeps its budget).
    deadline: float | None = None
    # A refit (training/refit.py): run only this many epochs of the configured schedule and keep
    # the last one as best.ckpt, whatever the validation split says (it is in the training data).
    until_epoch: int | None = None
    # recipe.train(on_validation=): called with each epoch's validation logits.
    on_validation: Callable[[int, np.ndarray], None] | None = None
    # Whether the run ends with train.refit's second training on train + val (train(refit=) off:
    # a selection's candidates and a search's trials, which are chosen on val, not kept).
    refit: bool = False
    # When train.budget runs out, as a time.perf_counter() (set when the epoch loop starts): a
    # refit that would end after it is skipped.
    budget_ends: float | None = None
    # Whether the run writes its data statistics (data/): off for a selection's candidates and refits.
    data_statistics: bool = True
    _optimizer: torch.optim.Optimizer | SplitOptimizer | None = field(default=None, init=False, repr=False)

    @property
    def optimizer(self) -> torch.optim.Optimizer | SplitOptimizer:
        if self._optimizer is None:
            self._optimizer = self.optimizer_factory()
        return self._optimizer

    def optimizer_state(self) -> dict:
        """What last.ckpt keeps of the optimizer: a solver's run built none ({})."""
        return {} if self._solver_only else self.optimizer.state_dict()

    def lr(self) -> float:
        """The learning rate of the first parameter group now (a solver's run: the configured one)."""
        return self.config.train.lr if self._solver_only else self.optimizer.param_groups[0]["lr"]

    @property
    def _solver_only(self) -> bool:
        """A solver's run that has not built the optimizer (and need not)."""
        return self.model.solver is not None and self._optimizer is None

    @property
    def train_model(self) -> nn.Module:
        return self.trainer if self.trainer is not None else self.model

    @property
    def eval_model(self) -> nn.Module:
        return self.compiled_model if self.compiled_model is not None else self.model

    @property
    def device_class_weights(self) -> torch.Tensor | None:
        return None if self.class_weights is None else self.class_weights.to(self.device)

    def artifact(self, metrics: dict | None = None) -> ModelArtifact:
        """The model as it is now, as a model artifact."""
        return ModelArtifact(
            task=self.task.name,
            classes=list(self.prepared.label_names),
            pipeline=self.prepared.pipeline.spec(),
            model_name=self.config.model.name,
            model_params=self.model.artifact_params(self.config.model.params()),
            state_dict=self.model.state_dict(),
            config=self.config.model_dump(mode="json"),
            train_class_counts=self.train_counts.tolist(),
            metrics=dict(metrics or {}),
            thresholds=None if self.thresholds is None else [float(t) for t in self.thresholds],
            allow_empty=self.config.train.allow_empty if self.task.multilabel else False,
        )


def build_context(prepared: PreparedData, task: str = "multiclass") -> BuildContext:
    return BuildContext(vocab_size=len(prepared.vocab), num_classes=prepared.num_classes, pad_id=PAD_ID,
                        task=task, tokens=word_strings(prepared.vocab.itos_),
                        window=prepared.pipeline.window)


def setup_run(config: Config, prepared: PreparedData | None = None,
              distributed: Distributed = Distributed(), state_dict: dict | None = None) -> RunSetup:
    """Seed, threads, device, data, model, optimizer, loss and batches for ``config``; under
    torchrun (``distributed.active``) the model is wrapped for DistributedDataParallel and the
    batches are this rank's share. ``state_dict`` (a resumed run's weights) is loaded before
    anything is computed from the weights: a model's adaptation (``adapt``) is then not run
    again, and cached features come from the saved encoder."""
    t = config.train
    if t.num_threads:
        torch.set_num_threads(t.num_threads)
    seed_everything(t.run_seed(config.seed))
    device = resolve_device(t.device)
    check_training(device, t.precision)
    config, prepared = prepare_with_recipe(config, prepared, quiet=not distributed.is_main)
    train_split = prepared.splits["train"]
    t = config.train  # the recipe may have decided some of it
    task = get_task(config.task)
    _check_task(prepared, task)
    counts = task.class_counts(train_split.labels, prepared.num_classes)
    model = build_model(config.model.name, config.model.params(), build_context(prepared, task.name))
    if config.model.params().get("pretrained_vectors"):
        _load_vectors(model, config.model.params(), prepared)
    if model.needs_statistics:  # e.g. TF-IDF weights from the training split (a refit's: train's)
        model.fit_statistics((ids, lengths) for _, (ids, lengths, _) in sorted_batches(prepared.statistics_split, 1024))
    if state_dict is not None:
        model.load_state_dict(state_dict)
    model = model.to(device)
    if state_dict is None:
        model.adapt(train_split, partial(take, train_split), device, t.precision, t.run_seed(config.seed),
                    progress=_bar("contrastive pairs", "step", distributed))
    if model.caches_features:  # e.g. a frozen encoder's document vectors, computed once
        with autocast(device, t.precision):
            _precompute(model, config, prepared, distributed)
    weights = class_weights(t.class_weights, counts, prepared.label_names, multilabel=task.multilabel,
                            num_examples=len(train_split))
    criterion = task.criterion(None if weights is None else weights.to(device), t.label_smoothing)
    loader = make_train_loader(
        train_split, t.batch_size, bucket=t.bucket_by_length, seed=t.run_seed(config.seed),
        balance_classes=t.sampler == "weighted",
    )
    if distributed.active:  # each rank its share: one optimizer step is a batch on every rank
        loader.shard(distributed.rank, distributed.world_size)
    if model.solver is not None and t.epochs != 1:  # the solver converges in one pass: one "epoch"
        config = config.model_copy(update={"train": t.model_copy(update={"epochs": 1, "min_steps": None})})
        t = config.train
    # min_steps counts optimizer steps, so under torchrun those of a rank's share (after sharding).
    if t.min_steps and t.epochs * len(loader) < t.min_steps:
        epochs = -(-t.min_steps // max(1, len(loader)))
        if distributed.is_main:
            print(f"train.min_steps {t.min_steps}: {epochs} epochs of {len(loader)} steps (train.epochs was "
                  f"{t.epochs})", file=sys.stderr)
        config = config.model_copy(update={"train": t.model_copy(update={"epochs": epochs})})
        t = config.train
    trainer = None
    if distributed.active:
        import warnings

        from torch.nn.parallel import DistributedDataParallel

        # A performance hint about gradient memory layouts, printed by every rank at every step.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        # Sparse tables are left to Distributed.average_sparse (after each backward), the rest to DDP.
        sparse = {id(p) for p in sparse_parameters(model)}
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
            model, [name for name, p in model.named_parameters() if id(p) in sparse])
        if any(p.requires_grad and id(p) not in sparse for p in model.parameters()):
            trainer = DistributedDataParallel(model, find_unused_parameters=not model.uses_every_parameter,
                                              device_ids=[distributed.local_rank] if device.type == "cuda" else None)
    compiled_model = None
    if t.compile and model.solver is None:  # (a solver's fit runs no forward pass)
        compiled_model = compiled(model, True)
        trainer = compiled(trainer, True) if trainer is not None else compiled_model
    setup = RunSetup(config, prepared, device, model, partial(make_optimizer, t, model), criterion, loader, weights,
                     counts, task, distributed=distributed, trainer=trainer, compiled_model=compiled_model,
                     scaler=grad_scaler(device, t.precision))
    if t.scheduler != "none":
        setup.schedule = make_schedule(t, setup.optimizer, len(loader))
    return setup


def _bar(desc: str, unit: str, distributed: Distributed):
    """A progress bar factory (``progress(total)``), silent on ranks other than 0."""
    from tqdm.auto import tqdm

    return lambda total: tqdm(total=total, unit=unit, desc=desc, disable=not distributed.is_main, mininterval=1.0,
                              leave=False)


def _precompute(model: TextClassifier, config: Config, prepared: PreparedData, distributed: Distributed) -> None:
    model.precompute_features([prepared.splits[s] for s in SPLITS], features_folder(config),
                              feature_batches(model), progress=_bar("encoder features", "doc", distributed))


def features_folder(config: Config) -> Path | None:
    """Where models that cache features keep them (beside the encoded data), or None without a cache."""
    return cache_dir(config) / "features" if config.data.cache else None


def feature_batches(model: TextClassifier, batch_size: int = 64):
    """The batches ``precompute_features`` runs a split in: by length, within the model's token budget."""
    return lambda split: sorted_batches(split, batch_size, model.max_batch_tokens)


def _load_vectors(model: TextClassifier, params: dict, prepared: PreparedData) -> None:
    """Start the token embedding's rows from the word-vector file; freeze it if asked."""
    table = model.embedding
    vectors = read_vectors(params["pretrained_vectors"], prepared.vocab.itos_, table.embedding_dim)
    with torch.no_grad():
        rows = torch.from_numpy(np.flatnonzero(vectors.found))
        table.weight[rows] = torch.from_numpy(vectors.matrix[vectors.found])
    table.weight.requires_grad_(not params.get("freeze_vectors", False))
    print(vectors.coverage(prepared.splits["train"].ids), flush=True)


def _check_task(prepared: PreparedData, task: Task) -> None:
    """The prepared labels' shape matches the config's task (a cache entry is keyed by both)."""
    multilabel_data = prepared.splits["train"].labels.ndim == 2
    if multilabel_data != task.multilabel:
        made_for = "multilabel" if multilabel_data else "multiclass"
        raise UsageError(f"the prepared data were made for a {made_for} task, but the config's task is "
                         f"{task.name}; prepare them with this config (prepare_data(config)) or set task: {made_for}")
