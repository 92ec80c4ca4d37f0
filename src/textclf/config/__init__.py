"""The config: its schema (``schema.py``) and how a YAML file, a dict or ``--set`` overrides become
one (``loading.py``), and the default recipe: everything a config that names no model gets
(``default_recipe.py``).
Everything is importable from ``textclf.config``."""

from textclf.config.loading import (
    apply_overrides,
    config_from_dict,
    dump_config,
    load_config,
    own_config_text,
    own_raw,
    parse_overrides,
    set_dotted,
)
from textclf.config.default_recipe import (
    AUTO_MAX_TOKENS,
    CANDIDATES,
    COST_START_SECONDS,
    DEFAULT_RECIPE,
    NB_MIN_DOCUMENTS,
    SELECTION_TRAIN,
    SHORT_TEXT_MODEL,
    SHORT_TEXT_PREPROCESS,
    SHORT_TEXT_TOKENS,
    SHORT_TEXT_TRAIN,
    Candidate,
    apply_default_recipe,
    candidate_raw,
    decide_from_data,
)
from textclf.config.schema import (
    Config,
    DataConfig,
    ModelConfig,
    PreprocessConfig,
    SearchConfig,
    SearchRange,
    TrackingConfig,
    TrainConfig,
)

__all__ = [
    "Config", "DataConfig", "PreprocessConfig", "ModelConfig", "TrainConfig", "SearchConfig", "SearchRange",
    "TrackingConfig", "DEFAULT_RECIPE", "SHORT_TEXT_MODEL", "SHORT_TEXT_PREPROCESS", "SHORT_TEXT_TOKENS",
    "SHORT_TEXT_TRAIN", "CANDIDATES", "SELECTION_TRAIN", "AUTO_MAX_TOKENS", "NB_MIN_DOCUMENTS", "COST_START_SECONDS",
    "Candidate", "apply_default_recipe", "decide_from_data", "candidate_raw",
    "load_config", "config_from_dict", "parse_overrides", "apply_overrides", "dump_config", "set_dotted",
    "own_config_text", "own_raw",
]
