"""Reading a config: YAML files (with each key's line and column), dicts, ``--set`` overrides,
validation into a :class:`~textclf.config.schema.Config`, and writing one back.

:func:`load_config` reports *all* problems of a file at once, each as
``file:line:column: key: what is wrong`` with the closest valid key where one is close.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from textclf.config.default_recipe import apply_default_recipe
from textclf.config.schema import Config, DataConfig, ModelConfig
from textclf.data.sources import source_params
from textclf.errors import ConfigError

__all__ = ["load_config", "config_from_dict", "parse_overrides", "apply_overrides", "dump_config"]


def load_config(path: str | os.PathLike, overrides: list[str] | None = None, stored: bool = False) -> Config:
    """Read a YAML config, apply ``key=value`` overrides, validate; raise ConfigError on problems.
    ``stored``: a config textclf wrote (a run's config.yaml): see :func:`config_from_dict`."""
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
    config = config_from_dict(raw, source=str(path), positions=positions, override_keys=override_keys, stored=stored)
    _paths_from_config_folder(config, path.parent, override_keys)
    return config


def _paths_from_config_folder(config: Config, folder: Path, override_keys: set[str]) -> None:
    """Relative data paths written in a config file are taken in the file's folder (a config
    works from any working directory); values given with --set stay relative to the working
    directory, like any path typed in a shell. Which data keys are such paths is the source's
    rule (``folder_keys``: files' ``train``/``val``/``test`` only when no data location is set,
    since they are otherwise names inside it; hf's ``path`` when written as ``./name`` or
    ``../name``). ``output_dir`` stays relative to the working
    directory (runs land where the command runs). The saved config holds the absolute paths."""
    located = bool(config.data.root or os.environ.get("TEXTCLF_DATA"))
    for key in config.data.params().folder_keys(located):  # (the source's own rule)
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
    stored: bool = False,
) -> Config:
    """Validate a plain dict as a Config; every problem is reported in one ConfigError.
    ``stored``: a config textclf wrote (a checkpoint's, a run's), whose data keys of another
    source were ignored when it trained and are dropped here (versions before sources had their
    own keys wrote them all)."""
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
    model = raw.get("model")
    if isinstance(model, dict) and "chars_if_short" in model:  # in configs saved before model.auto decided it
        raw["model"] = {k: v for k, v in model.items() if k != "chars_if_short"}
    own = _own_keys(raw)
    apply_default_recipe(raw)
    # The data section: the registered source validates its own keys (each problem at its key).
    data_raw = raw.get("data")
    if isinstance(data_raw, dict):  # (configs saved before sources had their own keys hold all keys)
        raw["data"] = data_raw = _keys_of_source(data_raw, override_keys, stored)
        data_problems, _ = source_params(data_raw.get("source", DataConfig.model_fields["source"].default),
                                         {k: v for k, v in data_raw.items() if k != "source"})
        for loc, message in data_problems:
            key = "data." + loc if loc else "data.source"
            problems.append(f"{where(key)}: {key}: {message}")
        if data_problems:  # (reported: the rest of the config is checked without them)
            raw = {**raw, "data": {}}
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

    if config is not None and config.model.candidates is not None:
        problems += _candidate_problems(config.model, where("model.candidates"))
    if problems:
        raise ConfigError(*problems)
    assert config is not None and resolved is not None
    config.model = ModelConfig(name=name, auto=config.model.auto, candidates=config.model.candidates, **resolved)
    config._own_keys = own
    return config


def _keys_of_source(data: dict, override_keys: set[str], stored: bool = False) -> dict:
    """The data section without the keys its source does not have that say nothing: all of them
    when an override set the source or the config is a stored one, else those at another
    source's default (the overrides' own keys always stay, to be reported)."""
    from textclf.data.sources import get_source, list_sources

    source = data.get("source", DataConfig.model_fields["source"].default)
    if source not in list_sources():
        return data
    fields, switched = get_source(source).params.model_fields, stored or "data.source" in override_keys
    defaults = {k: f.get_default(call_default_factory=True) for name in list_sources()
                for k, f in get_source(name).params.model_fields.items() if not f.is_required()}
    return {k: v for k, v in data.items() if k == "source" or k in fields or f"data.{k}" in override_keys
            or not switched and not (k in defaults and v == defaults[k])}


def _candidate_problems(model: ModelConfig, where: str) -> list[str]:
    """What is wrong with ``model.candidates``: only a config that names no model has them, and
    each must be a default candidate's name."""
    from textclf.config.default_recipe import CANDIDATES

    if not model.auto:
        return [f"{where}: model.candidates: only a config that names no model chooses among candidates "
                f"(remove model.name {model.name!r}, or this key)"]
    names = [c.name for c in CANDIDATES]
    unknown = [n for n in model.candidates if n not in names]
    if unknown or not model.candidates:
        return [f"{where}: model.candidates: {', '.join(map(repr, unknown)) or 'an empty list'}: give one or more "
                f"of {', '.join(names)}"]
    return []


def own_config_text(config: Config, model: dict[str, Any] | None = None) -> str:
    """``config`` as YAML with only the keys its file and overrides set (all of them when that is
    not known), and ``model`` as its model section when given: a config that names no model
    written so that reloading it fills the rest again (the default candidates' settings apply
    to every key it does not set)."""
    raw = own_raw(config)
    if model is not None:
        raw["model"] = model
    return yaml.safe_dump(raw, sort_keys=False)


def own_raw(config: Config) -> dict:
    """``config`` as a plain dict of only the keys its file and overrides set (every key when that
    is not known): validated again, it is the same config, and one that names no model is again
    filled by the default recipe (its candidates' settings apply where it sets nothing)."""
    raw = config.model_dump(mode="json")
    if config._own_keys is not None:
        raw = {key: ({k: v for k, v in value.items() if f"{key}.{k}" in config._own_keys}
                     if isinstance(value, dict) else value)
               for key, value in raw.items()}
        raw = {key: value for key, value in raw.items() if value != {}}
    return raw


def _own_keys(raw: dict) -> frozenset[str]:
    """The dotted keys a raw config sets itself (before the default recipe fills it)."""
    return frozenset(f"{section}.{key}" for section, values in raw.items() if isinstance(values, dict)
                     for key in values)


def apply_overrides(raw: dict, overrides: list[str]) -> set[str]:
    """Apply ``key=value`` overrides to a raw config dict in place; return the keys set."""
    keys: set[str] = set()
    for key, value in parse_overrides(overrides):
        set_dotted(raw, key, value)
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


def set_dotted(raw: dict, key: str, value: Any, source: str = "--set") -> None:
    """Set dotted ``key`` (``train.lr``) of a raw config dict in place, creating its sections;
    ``source`` names where the key came from in the error for a key under a non-section."""
    node = raw
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            prefix = ".".join(parts[: i + 1])
            raise ConfigError(f"{source} {key}: '{prefix}' is not a section, so it has no keys")
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
