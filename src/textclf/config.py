"""The config schema, YAML loading and ``--set`` overrides.

A config has five parts: ``name`` and ``seed``, and the sections ``data``, ``preprocess``,
``model`` and ``train``. Every section rejects unknown keys. ``model`` is validated in two steps:
its ``name`` picks a registered architecture, whose own parameter class then checks the rest, so
that a new model brings its own schema (see ``textclf.models.registry``).

:func:`load_config` reports *all* problems of a file at once, each as
``file:line:column: key: what is wrong`` with the closest valid key where one is close.
"""

from __future__ import annotations

import codecs
import difflib
import os
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from textclf.errors import ConfigError

__all__ = [
    "Config",
    "DataConfig",
    "PreprocessConfig",
    "ModelConfig",
    "TrainConfig",
    "SearchConfig",
    "TrackingConfig",
    "load_config",
    "config_from_dict",
    "parse_overrides",
    "apply_overrides",
    "dump_config",
]

# The archive as scikit-learn fetches it; the checksum is the one scikit-learn records for it.
NEWSGROUPS_URL = "https://ndownloader.figshare.com/files/5975967"
NEWSGROUPS_SHA256 = "8f1b2514ca22a5ade8fbb9cfa5727df95fa587f4c87b786e15c759fa66d95610"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    # A registered data source (textclf.data.sources): 20newsgroups, files, or one of yours.
    source: str = "20newsgroups"
    # Where data lives; the environment variable TEXTCLF_DATA overrides it. 20newsgroups: the
    # .tar.gz archive, the folder it extracts to, or a folder holding either. files: the folder
    # that relative train/val/test paths are taken in.
    root: Optional[str] = None

    # --- source: files (.csv, .tsv, .json, .jsonl, .parquet); for hf, split names
    train: Optional[str] = None
    val: Optional[str] = None  # missing: a stratified val_size fraction of train
    test: Optional[str] = None  # missing: a stratified test_size fraction of train
    text_column: Union[str, list[str]] = "text"  # a list is joined with a space
    label_column: str = "label"  # the label (multilabel: the labels) of each row
    # task: multilabel: what separates a row's labels in a table cell (JSON and Parquet may also
    # hold a list); an empty cell is a document with no label.
    label_separator: str = Field("|", min_length=1)
    id_column: Optional[str] = None  # the column textclf predict writes as the id
    # A column of non-negative numbers: each training document's weight in the loss (and val/test
    # rows' weights are read but unused). Unset: every document weighs 1.
    weight_column: Optional[str] = None
    encoding: str = "utf-8"  # any codec Python knows (utf-8, latin-1, cp1252, utf-16, ...)
    unknown_labels: Literal["error", "drop"] = "error"  # val/test labels not seen in train
    empty_texts: Literal["error", "keep"] = "error"  # keep: train on them as empty documents

    # --- source: hf (Hugging Face datasets; data.train/val/test name its splits)
    path: Optional[str] = None  # a folder written by save_to_disk, or a Hub name
    subset: Optional[str] = None  # the Hub data set's configuration name, if it has several

    # --- source: 20newsgroups
    download: bool = False
    url: str = NEWSGROUPS_URL  # where download: true fetches the archive
    sha256: str = NEWSGROUPS_SHA256  # a downloaded archive is kept only if it has this sha256
    # random: pool train+test, split stratified; bydate: the official chronological split.
    # (For files, test_size and val_size are fractions of the train file when test/val are missing.)
    protocol: Literal["random", "bydate"] = "random"
    # Fractions of the pooled data (random). With bydate, test_size is unused and val_size is
    # the fraction of the official training set held out for validation.
    test_size: float = Field(0.1, gt=0, lt=1)
    val_size: float = Field(0.1, gt=0, lt=1)  # see test_size
    remove: list[Literal["headers", "footers", "quotes"]] = []  # parts of each post to strip
    # Where tokenized/encoded corpora are cached; TEXTCLF_CACHE or ~/.cache/textclf if unset.
    cache_dir: Optional[str] = None
    cache: bool = True  # false: read, tokenize and encode every time

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}; use one Python knows, for example "
                             "utf-8, latin-1 or cp1252") from None
        return value

    @model_validator(mode="after")
    def _files_need_train(self) -> "DataConfig":
        if self.source == "files" and not self.train:
            raise ValueError("data.train is required when data.source is 'files' (path of the training file)")
        return self


class PreprocessConfig(_Section):
    # A registered tokenizer (textclf.text.tokenizers): study (the reference study's: runs of
    # word characters), whitespace, wordpunct (runs of word characters and runs of symbols), or
    # one of yours.
    tokenizer: str = "study"
    lowercase: bool = True  # lowercase before tokenizing
    # Every digit becomes 0 before tokenizing: numbers of one shape (phone numbers, prices,
    # dates) share a token.
    digits_to_zero: bool = False
    min_freq: int = Field(2, ge=1)  # tokens seen fewer times in the training split become <unk>
    max_size: int = Field(50000, ge=3)  # the vocabulary's size at most, counting <pad> and <unk>
    max_seq_len: int = Field(400, ge=1)  # documents are cut to this many tokens


# What a config without a ``model`` section trains: hashed word uni+bigrams with sublinear TF-IDF
# weights (fastText-style, the bag_of_ngrams model) and the settings it needs, each one only where
# the config does not set it. Chosen for accuracy on data nobody tuned it for at a cost close to
# TF-IDF + LinearSVC's (benchmarks/RESULTS.md, "peers": the "mean of 3 train seeds" rows); a
# config that names a model gets that model's own defaults instead.
DEFAULT_RECIPE: dict[str, dict[str, Any]] = {
    "preprocess": {"max_seq_len": 3000, "max_size": 200000, "digits_to_zero": True},
    # Four members of 32 columns: an ensemble of four, for about the cost of one 128-wide model
    # (a batch reads the same table rows).
    "model": {"name": "bag_of_ngrams", "embedding_dim": 32, "members": 4, "ngrams": 2, "buckets": 200000,
              "tfidf": True, "dropout": 0.5},
    # At least 3 epochs and 200 steps (min_steps: only when the config sets no epochs of its
    # own): 20 Newsgroups' 236 steps an epoch get 3 epochs, a set of 1,500 documents 8.
    "train": {"lr": 0.005, "batch_size": 64, "epochs": 3, "min_steps": 200},
}
# ... and, when the training texts are short (at most this many tokens on average), character
# n-grams and label smoothing as well: there they gain most and cost little
# (training/default_recipe.py decides, once the data are encoded; label smoothing only where the
# config does not set it).
SHORT_TEXT_TOKENS = 100
SHORT_TEXT_MODEL: dict[str, Any] = {"minn": 2, "maxn": 5}
SHORT_TEXT_TRAIN: dict[str, Any] = {"label_smoothing": 0.1}
# ... and symbols as tokens of their own (a currency sign, "!!", ":)"), which long posts'
# headers and quoting turn into noise (each only where the config does not set it).
SHORT_TEXT_PREPROCESS: dict[str, Any] = {"tokenizer": "wordpunct"}


def apply_default_recipe(raw: dict) -> None:
    """Fill a raw config whose ``model`` section is missing or names no model from
    :data:`DEFAULT_RECIPE` in place (the config's own keys win)."""
    model = raw.get("model")
    if not (model is None or isinstance(model, dict) and "name" not in model):
        return
    own_epochs = isinstance(raw.get("train"), dict) and "epochs" in raw["train"]
    for section, values in DEFAULT_RECIPE.items():
        current = raw.get(section)
        if current is None:
            current = raw[section] = {}
        if isinstance(current, dict):
            for key, value in values.items():
                if not (key == "min_steps" and own_epochs):  # the config's epochs are what it wants
                    current.setdefault(key, value)
    if not any(key in raw["model"] for key in SHORT_TEXT_MODEL):  # a dict now, even if `model:` was empty
        raw["model"]["chars_if_short"] = True
    raw["model"]["auto"] = True


class ModelConfig(BaseModel):
    """``name`` picks the architecture; the other keys belong to that architecture (a config
    without a model section gets DEFAULT_RECIPE)."""

    model_config = ConfigDict(extra="allow")
    name: str = DEFAULT_RECIPE["model"]["name"]
    # Set by the default recipe when the config names neither minn nor maxn: training then turns
    # character n-grams on (SHORT_TEXT_MODEL) if the training texts average at most
    # SHORT_TEXT_TOKENS tokens, and the run's config.yaml records the outcome (and false here).
    chars_if_short: bool = False
    # Set when the config names no model: `textclf train` then chooses the model on the
    # validation split among the default candidates (training/candidates.py, training/select.py),
    # and the run's config.yaml records the winner (and false here). Other commands use the
    # recipe above.
    auto: bool = False

    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class TrainConfig(_Section):
    # Sparse embedding tables get SparseAdam whatever this says.
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
    # probabilities are calibrated (predictions do not change); none: raw softmax. Multiclass only.
    calibration: Literal["temperature", "none"] = "temperature"
    # Stop after this many epochs without a better monitored metric; unset: run every epoch.
    early_stopping_patience: Optional[int] = Field(None, ge=1)
    # A config with no model section: seconds the default selection may spend training its
    # candidates; once spent, the candidates not yet started are skipped. Unset: all train.
    budget: Optional[float] = Field(None, gt=0)
    # Batches of similar length: far less padding, same examples per epoch.
    bucket_by_length: bool = True
    num_threads: Optional[int] = Field(None, ge=1)  # torch's CPU threads; unset: torch's default
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

    def run_seed(self, config_seed: int) -> int:
        return config_seed if self.seed is None else self.seed


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


# --------------------------------------------------------------------------- loading


def load_config(path: str | os.PathLike, overrides: list[str] | None = None) -> Config:
    """Read a YAML config, apply ``key=value`` overrides, validate; raise ConfigError on problems."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found (give the path to a .yaml file)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                          f"{exc.start}); a config is a YAML text file saved as UTF-8") from None
    try:
        node = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a mapping of sections, not {_kind(raw)}")
    positions = _key_positions(node) if node is not None else {}
    override_keys = apply_overrides(raw, overrides or [])
    config = config_from_dict(raw, source=str(path), positions=positions, override_keys=override_keys)
    _paths_from_config_folder(config, path.parent, override_keys)
    return config


def _paths_from_config_folder(config: Config, folder: Path, override_keys: set[str]) -> None:
    """Relative data paths written in a config file are taken in the file's folder (a config
    works from any working directory); values given with --set stay relative to the working
    directory, like any path typed in a shell. ``data.train``/``val``/``test`` are taken in
    the folder only when no data location (``data.root``, ``TEXTCLF_DATA``) is set, since they
    are otherwise names inside that location (and for the hf source they name splits; its
    ``data.path`` is taken in the folder when written as ``./name`` or ``../name``). ``output_dir`` stays relative to the working
    directory (runs land where the command runs). The saved config holds the absolute paths."""
    keys = ["root", "cache_dir"]
    if config.data.source == "hf":  # train/val/test name splits; a path written as ./x is a folder
        if config.data.path and config.data.path.startswith("."):
            keys.append("path")
    elif not config.data.root and not os.environ.get("TEXTCLF_DATA"):
        keys += ["train", "val", "test"]
    for key in keys:
        value = getattr(config.data, key)
        if value and f"data.{key}" not in override_keys and not Path(value).expanduser().is_absolute():
            setattr(config.data, key, str((folder / value).resolve()))
    vectors = config.model.params().get("pretrained_vectors")
    if vectors and "model.pretrained_vectors" not in override_keys and not Path(vectors).expanduser().is_absolute():
        config.model.pretrained_vectors = str((folder / vectors).resolve())


def config_from_dict(
    raw: dict,
    source: str = "<config>",
    positions: dict[str, tuple[int, int]] | None = None,
    override_keys: set[str] | None = None,
) -> Config:
    """Validate a plain dict as a Config; every problem is reported in one ConfigError."""
    positions = positions or {}
    override_keys = override_keys or set()

    def where(loc: str) -> str:
        if loc in override_keys:
            return f"--set {loc}"
        # Point at the key itself, or at the nearest enclosing key that the file has.
        parts = loc.split(".")
        while parts:
            pos = positions.get(".".join(parts))
            if pos:
                return f"{source}:{pos[0]}:{pos[1]}"
            parts.pop()
        return source

    problems: list[str] = []
    config = None
    own = _own_keys(raw)
    apply_default_recipe(raw)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        # A value that fits no member of a union gets one error per member: merge them.
        by_key: dict[str, list[str]] = {}
        for err in exc.errors():
            key, message = _describe(err, Config)
            if message not in by_key.setdefault(key, []):
                by_key[key].append(message)
        for key, messages in by_key.items():
            problems.append(f"{where(key)}: {key}: {'; or '.join(messages)}")

    # The model section: the registered architecture validates its own keys.
    model_raw = raw.get("model", {}) if isinstance(raw.get("model", {}), dict) else {}
    from textclf.models.registry import validate_model_params

    name = model_raw.get("name", ModelConfig().name)
    params = {k: v for k, v in model_raw.items() if k not in ModelConfig.model_fields}
    model_problems, resolved = validate_model_params(name, params)
    for loc, message in model_problems:
        key = "model." + loc if loc else "model.name"
        problems.append(f"{where(key)}: {key}: {message}")
    if model_raw.get("chars_if_short") and name != "bag_of_ngrams":
        problems.append(f"{where('model.chars_if_short')}: model.chars_if_short: only bag_of_ngrams has "
                        f"character n-grams, not {name!r}; remove the key")

    if problems:
        raise ConfigError(*problems)
    assert config is not None and resolved is not None
    config.model = ModelConfig(name=name, chars_if_short=config.model.chars_if_short, auto=config.model.auto,
                               **resolved)
    config._own_keys = own
    return config


def _own_keys(raw: dict) -> frozenset[str]:
    """The dotted keys a raw config sets itself (before the default recipe fills it)."""
    return frozenset(f"{section}.{key}" for section, values in raw.items() if isinstance(values, dict)
                     for key in values)


def apply_overrides(raw: dict, overrides: list[str]) -> set[str]:
    """Apply ``key=value`` overrides to a raw config dict in place; return the keys set."""
    keys: set[str] = set()
    for key, value in parse_overrides(overrides):
        _set_dotted(raw, key, value)
        keys.add(key)
    return keys


def dump_config(config: Config) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def parse_overrides(items: list[str]) -> list[tuple[str, Any]]:
    """``["train.lr=1e-3", "data.remove=[headers]"]`` → ``[("train.lr", 0.001), ...]``."""
    parsed = []
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"--set {item!r}: expected section.key=value, for example --set train.lr=0.001"
            )
        try:
            parsed.append((key, yaml.safe_load(value) if value.strip() else ""))
        except yaml.YAMLError:
            parsed.append((key, value))
    return parsed


# --------------------------------------------------------------------------- helpers


def _set_dotted(raw: dict, key: str, value: Any) -> None:
    node = raw
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            prefix = ".".join(parts[: i + 1])
            raise ConfigError(f"--set {key}: '{prefix}' is not a section, so it has no keys")
        node = child
    node[parts[-1]] = value


def _key_positions(node: yaml.Node, prefix: str = "") -> dict[str, tuple[int, int]]:
    """Map each dotted key of a composed YAML document to its (line, column), 1-based."""
    positions: dict[str, tuple[int, int]] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}{key_node.value}"
            positions[key] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            positions.update(_key_positions(value_node, key + "."))
    return positions


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _fields_at(model_cls: type[BaseModel], loc: tuple) -> list[str]:
    """Valid field names of the section that ``loc`` (without its last element) points into."""
    cls = model_cls
    for part in loc[:-1]:
        field = cls.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type):
            return []
        if not issubclass(field.annotation, BaseModel):
            return []
        cls = field.annotation
    return list(cls.model_fields)


def _describe(err: dict, model_cls: type[BaseModel]) -> tuple[str, str]:
    """(dotted key, what is wrong with it) for one pydantic error."""
    loc = tuple(p for p in err["loc"] if not str(p).startswith(("function-", "literal[")))
    # Union members add their own names to loc ("list[float]"); keep the key path only.
    loc = tuple(p for p in loc if not (isinstance(p, str) and "[" in p))
    key = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        valid = _fields_at(model_cls, loc)
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(valid)}"
        return key, f"unknown key{hint}"
    got = err.get("input")
    got_text = f" (got {got!r})" if not isinstance(got, (dict, list)) else ""
    return key, f"{err['msg'].removeprefix('Value error, ')}{got_text}"
