"""The ``hf`` source: a Hugging Face ``datasets`` data set, saved to disk or on the Hub.

``data.path`` is a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``, or
(for users with a network) a Hub name, with ``data.subset`` its configuration name if it has
several. ``data.train``, ``data.val`` and ``data.test`` name the splits (default ``train``; val
and test, when their split is not named or not there, are carved from train as for files).
``data.text_column`` and ``data.label_column`` name the columns. ``ClassLabel`` labels are read as
their names, so a checkpoint predicts ``positive``, not ``1``; a multilabel column is a sequence
of names or of ``ClassLabel`` ids. Everything after reading (labels, weights, splits) is the
files source's own code, so a data set gives the same corpus as the same rows in CSV files.

Needs ``pip install "textclf[hf]"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from textclf.data.examples import Corpus
from textclf.data.files import TableParams, corpus_from_rows, labelled_rows
from textclf.data.sources import register_source
from textclf.errors import DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["HFParams", "load_hf", "hf_fingerprint"]


class HFParams(TableParams):
    """``source: hf``: a Hugging Face data set (data.train/val/test name its splits)."""

    path: Optional[str] = None  # a folder written by save_to_disk, or a Hub name
    subset: Optional[str] = None  # the Hub data set's configuration name, if it has several
    train: Optional[str] = None  # the training split's name; unset: train
    val: Optional[str] = None  # the validation split's name; unset: a val_size fraction of train
    test: Optional[str] = None  # the test split's name; unset: a test_size fraction of train

    def folder_keys(self, located: bool) -> list[str]:
        # train/val/test name splits; a path written as ./name or ../name is a folder.
        return super().folder_keys(located) + (["path"] if self.path and self.path.startswith(".") else [])


def _datasets():
    try:
        import datasets
    except ImportError:
        raise UsageError('data.source: hf needs the datasets library: pip install "textclf[hf]"') from None
    return datasets


def _local(config: HFParams) -> Path | None:
    """The folder ``data.path`` names, or None for a Hub name. A path that exists, or that is
    written as one (absolute, or starting with ``.`` or ``~``), is a folder, never a Hub name."""
    path = Path(config.path).expanduser()
    if path.exists() or config.path.startswith((".", "~")) or path.is_absolute():
        return path
    return None


def _open(config: HFParams):
    datasets = _datasets()
    local = _local(config)
    try:
        if local is not None:
            if not local.is_dir():
                raise DataError(f"{local}: no such folder (data.path: a folder written by save_to_disk, "
                                "or a Hub name such as 'imdb')")
            loaded = datasets.load_from_disk(str(local))
        else:
            loaded = datasets.load_dataset(config.path, config.subset)
    except DataError:
        raise
    except FileNotFoundError as exc:
        raise DataError(f"{config.path}: not a data set saved by save_to_disk ({str(exc).splitlines()[0][:200]})") from None
    except Exception as exc:  # the Hub, the network or the folder's contents
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise DataError(f"data.path {config.path!r}: cannot load it as a Hugging Face data set: {first}") from None
    if isinstance(loaded, datasets.Dataset):  # one split on its own: the training split
        loaded = datasets.DatasetDict({config.train or "train": loaded})
    return loaded


def _frame(split, config: HFParams) -> pd.DataFrame:
    """The split's rows as a DataFrame, ClassLabel ids turned into their names."""
    from datasets import ClassLabel, Sequence

    frame = split.to_pandas()
    column = config.label_column
    feature = split.features.get(column)
    if isinstance(feature, ClassLabel):
        frame[column] = [feature.int2str(int(i)) for i in frame[column]]
    elif isinstance(feature, Sequence) and isinstance(feature.feature, ClassLabel):
        names = feature.feature
        frame[column] = [[names.int2str(int(i)) for i in ids] for ids in frame[column]]
    elif isinstance(feature, list) and feature and isinstance(feature[0], ClassLabel):
        frame[column] = [[feature[0].int2str(int(i)) for i in ids] for ids in frame[column]]
    return frame


def hf_fingerprint(config: HFParams, seed: int) -> str:
    if not config.path:
        raise DataError("data.path is required when data.source is 'hf' (a save_to_disk folder or a Hub name)")
    local = _local(config)
    if local is not None:
        files = sorted(p for p in local.rglob("*") if p.is_file())
        identity = "|".join(f"{p.relative_to(local)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
        where = f"{local.resolve()}|{identity}"
    else:
        where = f"hub:{config.path}:{config.subset}"
    settings = config.model_dump_json(include={
        "train", "val", "test", "text_column", "label_column", "label_separator", "weight_column",
        "unknown_labels", "empty_texts", "test_size", "val_size",
    })
    return f"hf|{where}|{settings}|seed={seed}"


@register_source("hf", HFParams, fingerprint=hf_fingerprint)
def load_hf(config: HFParams, seed: int, task: str = "multiclass") -> Corpus:
    if not config.path:
        raise DataError("data.path is required when data.source is 'hf' (a save_to_disk folder or a Hub name)")
    loaded = _open(config)
    names = {"train": config.train or "train", "val": config.val, "test": config.test}
    if names["train"] not in loaded:
        raise DataError(f"{config.path}: no split {names['train']!r} (data.train); its splits: {', '.join(loaded)}")
    for key in ("val", "test"):
        if names[key] and names[key] not in loaded:
            raise DataError(f"{config.path}: no split {names[key]!r} (data.{key}); its splits: {', '.join(loaded)}")
    where = {key: f"{config.path}[{name}]" for key, name in names.items() if name}
    raw = {key: labelled_rows(_frame(loaded[name], config), config, task, where[key])
           for key, name in names.items() if name}
    return corpus_from_rows(raw, where, config, seed, task)
