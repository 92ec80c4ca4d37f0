"""The config schema: its sections, their keys, types, defaults and meanings (the comments beside
each field are the config reference's text), and the default recipe's fill.

A config has five parts: ``name`` and ``seed``, and the sections ``data``, ``preprocess``,
``model`` and ``train``. Every section rejects unknown keys. ``model`` and ``data`` are validated
in two steps: ``model.name`` picks a registered architecture and ``data.source`` a registered
source, whose own parameter class then checks the rest, so that a new model or source brings its
own schema (see ``textclf.models.registry`` and ``textclf.data.sources``).

Reading a YAML file, validating it and applying ``--set`` overrides is ``config/loading.py``.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from textclf.config.default_recipe import DEFAULT_RECIPE
from textclf.data.sources import SourceParams, get_source, source_params

__all__ = [
    "Config",
    "DataConfig",
    "PreprocessConfig",
    "ModelConfig",
    "TrainConfig",
    "SearchConfig",
    "TrackingConfig",
    "SearchRange",
]

class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(BaseModel):
    """``source`` picks a registered data source; the other keys of the section belong to that
    source, whose own class checks them and fills their defaults (``textclf.data.sources``)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)
    # A registered data source (textclf.data.sources): 20newsgroups, files, hf, or one of yours.
    source: str = "20newsgroups"

    @model_validator(mode="after")
    def _source_keys(self) -> "DataConfig":
        problems, params = source_params(self.source, self.model_extra or {})
        if problems:
            raise ValueError("; ".join(f"data.{key}: {message}" if key else f"data.source: {message}"
                                       for key, message in problems))
        self.__pydantic_extra__ = params.model_dump()  # every key of the source, defaults filled
        return self

    def params(self) -> SourceParams:
        """The source's own parameter object (its keys, typed)."""
        return get_source(self.source).params.model_validate(self.model_extra or {})


class PreprocessConfig(_Section):
    # A registered tokenizer (textclf.text.tokenizers): study (the reference study's: runs of
    # word characters), whitespace, wordpunct (runs of word characters and runs of symbols), or
    # one of yours.
    tokenizer: str = "study"
    lowercase: bool = True  # lowercase before tokenizing
    # Every digit becomes 0 before tokenizing: numbers of one shape (phone numbers, prices,
    # dates) share a token.
    digits_to_zero: bool = False
    # study and wordpunct on a text that is not ASCII: NFKC form first (a decomposed accent, a
    # full-width letter, a ligature read as its usual form), then a word keeps its combining
    # marks (the vowel signs of Hindi, Bengali, Tamil, Thai) and each character of a script
    # written without spaces (Chinese, Japanese, Thai, Lao, Khmer, Myanmar) is a token. false:
    # runs of \w alone, which cut words at every mark and make a whole Chinese clause one token.
    unicode_words: bool = True
    min_freq: int = Field(2, ge=1)  # tokens seen fewer times in the training split become <unk>
    max_size: int = Field(50000, ge=3)  # the vocabulary's size at most, counting <pad> and <unk>
    max_seq_len: int = Field(400, ge=1)  # documents are cut to this many tokens


class ModelConfig(BaseModel):
    """``name`` picks the architecture; the other keys belong to that architecture (a config
    without a model section gets DEFAULT_RECIPE)."""

    model_config = ConfigDict(extra="allow")
    name: str = DEFAULT_RECIPE["model"]["name"]
    # Set when the config names no model (config/default_recipe.py): `textclf train` then chooses
    # the model on the validation split among the default candidates, the other commands complete
    # the default recipe from the training data; the run's config.yaml records the outcome (and
    # false here).
    auto: bool = False
    # A config that names no model: train only these default candidates (names from
    # config/default_recipe.py's CANDIDATES: linear, linear_nb, linear_chars, bag, bag_chars). A run that
    # kept an ensemble writes its members here, so that rerunning its config.yaml trains them.
    candidates: Optional[list[str]] = None

    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class TrainConfig(_Section):
    # Sparse embedding tables get RowAdam (SparseAdam's algorithm) whatever this says.
    optimizer: Literal["adamw", "adam"] = "adamw"
    lr: float = Field(2e-3, gt=0)  # the learning rate (textclf lr-find suggests one)
    weight_decay: float = Field(0.0, ge=0)  # decoupled (adamw) or L2 (adam); never on sparse tables
    batch_size: int = Field(64, ge=1)  # documents per training step
    eval_batch_size: int = Field(256, ge=1)  # documents per batch when evaluating and predicting
    epochs: int = Field(15, ge=1)  # the most epochs; early stopping may end sooner
    # Raise epochs so that training takes at least this many optimizer steps (small data sets,
    # whose epochs are a few steps); the run's config.yaml records the epochs it chose.
    min_steps: Optional[int] = Field(None, ge=1)
    grad_clip: Optional[float] = Field(None, gt=0)  # clip the gradients' global norm to this
    # How the learning rate moves over the run's steps: none (constant), linear or cosine (after
    # the warm-up, down to 0 at the last step), one_cycle (up to lr and down again).
    scheduler: Literal["none", "linear", "cosine", "one_cycle"] = "none"
    # Steps of linear warm-up (1 or more), or a fraction of all steps (below 1).
    warmup: float = Field(0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: cuda when available
    # none; balanced: n / (k * count); inverse: n / count (the notebook's); a list in label
    # order or a mapping label -> weight.
    class_weights: Union[Literal["none", "balanced", "inverse"], list[float], dict[str, float]] = "none"
    # shuffle: every example once per epoch; weighted: draw examples with replacement so that
    # every class is equally likely (oversampling rare classes).
    sampler: Literal["shuffle", "weighted"] = "shuffle"
    # multiclass: train against targets that put this much of their mass evenly on all classes
    # (cross-entropy's label smoothing); 0 turns it off.
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    # Unset: val_accuracy (multiclass) or val_f1_micro (multilabel). For multiclass, micro-F1 is
    # the accuracy. Epochs that tie on an accuracy or F1 are told apart by the lower val loss.
    monitor: Literal["val_accuracy", "val_f1_micro", "val_f1_macro", "val_loss"] = "val_accuracy"
    # task: multilabel only. A class is predicted when its probability reaches its threshold:
    # a number (one for all classes), tune_global (one, chosen on the validation split to maximise
    # the monitored F1), tune_per_class (each class's own, maximising its F1 on validation) or
    # tune_mixed (its own for a class with at least 10 validation positives, else the global one).
    threshold: Union[Literal["tune_global", "tune_per_class", "tune_mixed"], float] = "tune_global"
    # task: multilabel only: a document whose classes all fall below their thresholds gets no
    # label (true) or its most likely class (false).
    allow_empty: bool = False
    # temperature: after training, fit one temperature on the validation split so that the
    # probabilities are calibrated (predictions do not change; a cross-validated default selection
    # fits it on its winner's out-of-fold predictions; it stays 1 when no document is wrong);
    # none: raw softmax. Multiclass only.
    calibration: Literal["temperature", "none"] = "temperature"
    # Stop after this many epochs without a better monitored metric; unset: run every epoch.
    early_stopping_patience: Optional[int] = Field(None, ge=1)
    # Seconds of training: the run stops after the epoch in which they run out and keeps its best
    # epoch (a solver's one-pass fit is not cut). Unset: no limit. A config with no model section
    # (the default selection): unset means auto, which decides by the data's size rather than by
    # seconds: a candidate is tried when the training split holds at most its max_tokens
    # (config.AUTO_MAX_TOKENS: 1.5M for every one after the first), and trains to convergence. A
    # number: the selection starts a candidate only when its estimated seconds (its cost times the
    # first one's and config.COST_START_SECONDS) and a refit fit in what is left, and gives each
    # the seconds left; null in the file: no limit. auto in a run of a named model: no limit.
    budget: Union[Literal["auto"], float, None] = None
    # After training, train the model again from scratch on train + val together, for the epochs
    # that the held-out run found best (a solver: its one pass), and keep that model. The
    # validation metrics, the temperature and the multilabel thresholds still come from the
    # held-out run (val is no longer unseen by the kept model); test is evaluated on the refit
    # model. A default selection (no model section) refits its winner unless this is set to false.
    # Under a train.budget in seconds, a refit that would not end in the seconds left is skipped (and
    # said so); under auto (the default selection's) the winner is always refit.
    refit: bool = False
    # A config with no model section: when a weighted mean of the candidates'
    # probabilities beats the best candidate alone on the monitored validation metric (members
    # added greedily, Caruana et al. 2004), keep that ensemble (one checkpoint file; each member
    # refit as train.refit says; multi-label: with thresholds tuned on validation for the mean).
    # false: always keep the best single candidate.
    ensemble: bool = True
    # A config with no model section: compare the candidates (and their ensemble) on out-of-fold
    # predictions over train + val, each candidate trained that many times more on all folds but
    # one with the C it chose on val, rather than on val alone; the epoch count that scores best
    # out of fold is what its refit trains, and the winner keeps the temperature (multiclass) or
    # the decision thresholds (multilabel) fitted on those predictions
    # (training/cross_validation.py). auto: 5
    # folds (3 from 500 validation examples, where more would cost without choosing better) when
    # the validation split holds fewer than 1,000 examples (a few of them would decide),
    # more than one candidate trains, and train.budget is not a number of seconds (the fold runs
    # are not counted in it), else val alone; a number: that many folds; null: val alone.
    cv_folds: Union[Literal["auto"], int, None] = "auto"
    # Batches of similar length: far less padding, same examples per epoch.
    bucket_by_length: bool = True
    num_threads: Optional[int] = Field(None, ge=1)  # torch's CPU threads; unset: torch's default
    # The forward pass's arithmetic: fp32; bf16 (autocast to bfloat16: GPUs from Ampere on, recent
    # CPUs); fp16 (autocast to float16 with loss scaling: older GPUs). Weights stay float32;
    # validation and the Predictor use the same.
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    # Run the model's forward through torch.compile (dynamic shapes); the first batches pay the
    # compilation. On a CPU it needs a C++ compiler.
    compile: bool = False
    # last.ckpt is written at every epoch end, and also every N optimizer steps when set.
    checkpoint_every_steps: Optional[int] = Field(None, ge=1)
    # Seed of the weights' initialisation, dropout and batch order; unset: the top-level seed.
    # The top-level seed alone fixes the data split, so runs that differ only in train.seed see
    # the same split (for ensembles, or to measure seed variance).
    seed: Optional[int] = Field(None, ge=0)

    @field_validator("threshold")
    @classmethod
    def _threshold_in_range(cls, value):
        if isinstance(value, float) and not 0 < value < 1:
            raise ValueError("a threshold is a probability between 0 and 1 (exclusive), or "
                             "tune_global, tune_per_class or tune_mixed")
        return value

    @field_validator("cv_folds", mode="before")
    @classmethod
    def _folds_or_auto(cls, value):
        if value is None or value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ValueError("cv_folds is a whole number of folds of at least 2, auto, or null (choose on val alone)")
        return value

    @field_validator("budget", mode="before")
    @classmethod
    def _budget_seconds_or_auto(cls, value):
        if value is None or value == "auto":
            return value
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = float("nan")
        if isinstance(value, bool) or not seconds > 0:
            raise ValueError("a budget is a number of seconds above 0, auto, or null (no limit)")
        return seconds

    def run_seed(self, config_seed: int) -> int:
        return config_seed if self.seed is None else self.seed

    def budget_seconds(self) -> float | None:
        """``budget`` in seconds for a run of one model (auto is the selection's: no limit here)."""
        return None if self.budget == "auto" else self.budget


class SearchRange(_Section):
    low: float
    high: float
    log: bool = False


class SearchConfig(_Section):
    """Hyperparameter search (``textclf search``); ``space`` maps dotted config keys to a list of
    values (grid points / choices) or a range ``{low, high, log}`` (random and tpe only)."""

    method: Literal["grid", "random", "tpe"] = "grid"  # tpe: Optuna's Bayesian sampler
    # Dotted config keys mapped to a list of values, or (random, tpe) a range {low, high, log}.
    space: dict[str, Union[list[Any], SearchRange]] = {}
    epochs: int = Field(3, ge=1)  # epochs per trial; a trial is scored by its best epoch
    # What trials are ranked by (multilabel default: val_f1_micro).
    metric: Literal["val_accuracy", "val_f1_micro", "val_f1_macro", "val_loss"] = "val_accuracy"
    n_trials: Optional[int] = Field(None, ge=1)  # grid: every point when unset
    pruner: Literal["none", "median", "hyperband"] = "none"  # stops poor trials early, epoch by epoch

    @model_validator(mode="after")
    def _check(self) -> "SearchConfig":
        if self.method == "grid":
            ranges = [k for k, v in self.space.items() if not isinstance(v, list)]
            if ranges:
                raise ValueError(f"search.space: a grid needs lists of values, not ranges ({', '.join(ranges)})")
        if self.method != "grid" and self.n_trials is None:
            raise ValueError("search.n_trials is required for random and tpe searches")
        return self


class TrackingConfig(_Section):
    """Where runs are recorded besides their folder and TensorBoard."""

    # An MLflow tracking URI (sqlite:///mlflow.db, a folder, http://host:5000); unset: no MLflow.
    mlflow: Optional[str] = None
    # The MLflow experiment; unset: the config's name.
    experiment: Optional[str] = None


class Config(_Section):
    """A whole config: ``name``, ``task``, ``seed``, ``output_dir`` and the sections ``data``,
    ``preprocess``, ``model``, ``train``, ``search`` and ``tracking``; build it with
    :func:`load_config`."""

    # The run's name: run folders are <output_dir>/<name>-<timestamp>; the search study's name.
    name: str = "run"
    # multiclass: one class per document; multilabel: any number of classes per document.
    task: Literal["multiclass", "multilabel"] = "multiclass"
    # Seeds the data split, and (unless train.seed is set) the weights and the batch order.
    seed: int = Field(42, ge=0)
    # Where run folders are created (relative to the working directory).
    output_dir: str = "runs"
    data: DataConfig = DataConfig()
    preprocess: PreprocessConfig = PreprocessConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    search: SearchConfig = SearchConfig()
    tracking: TrackingConfig = TrackingConfig()
    # The dotted keys the config file and its overrides set themselves, before the default recipe
    # filled it: the default candidates take their own settings for every other key.
    _own_keys: Optional[frozenset[str]] = PrivateAttr(None)

    def __eq__(self, other: object) -> bool:
        # Which keys the file itself set is how it was written, not what it says.
        return isinstance(other, Config) and self.model_dump() == other.model_dump()

    def sets(self, key: str) -> bool:
        """Whether the config itself set dotted ``key`` (True when that is not known)."""
        return self._own_keys is None or key in self._own_keys

    @model_validator(mode="after")
    def _task_defaults(self) -> "Config":
        """Multilabel: monitor micro-F1 unless told otherwise (subset accuracy is too strict a
        target to choose epochs or trials by)."""
        if self.task == "multilabel":
            if self.train.label_smoothing:
                raise ValueError("train.label_smoothing: applies to multiclass tasks only (remove it, "
                                 "or set it to 0, for task: multilabel)")
            if "monitor" not in self.train.model_fields_set:
                self.train.monitor = "val_f1_micro"
            if "metric" not in self.search.model_fields_set:
                self.search.metric = "val_f1_micro"
        return self


