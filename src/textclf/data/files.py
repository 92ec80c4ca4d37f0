"""The ``files`` source: any labelled text table (.csv, .tsv, .json, .jsonl, .parquet).

Labels are read as strings and numbered by the training file's sorted label set; val and test
come from their own files or, when missing, from stratified seeded splits of the training file.
For a multilabel task a label cell holds a document's labels joined by ``data.label_separator``
(``approval|neutral``; an empty cell is the empty set), or a list in JSON and Parquet files.
``TableParams`` are the keys of any source that reads such a table (``hf`` shares them);
``FilesParams`` adds the files' paths and encoding. The tables are read by ``data/tables.py``;
pandas is imported when a table is read, so that loading a config does not import it.
"""

from __future__ import annotations

import codecs
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping, Optional, Union

import numpy as np
from pydantic import Field, field_validator

from textclf.data.examples import Corpus, Examples
from textclf.data.location import resolve_data_path
from textclf.data.sources import SourceParams, register_source
from textclf.data.splits import split_train_val_test, stratified_split
from textclf.data.tables import READ_DEFAULTS, as_strings, read_table, require_columns, texts_of
from textclf.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "TableParams",
    "FilesParams",
    "table_settings",
    "read_labelled",
    "number_labels",
    "number_label_sets",
    "load_files",
    "labelled_rows",
    "corpus_from_rows",
    "files_fingerprint",
]


class TableParams(SourceParams):
    """The keys of a source that reads a labelled table (files, hf)."""

    text_column: Union[str, list[str]] = READ_DEFAULTS["text_column"]  # a list is joined with a space
    label_column: str = READ_DEFAULTS["label_column"]  # the label (multilabel: the labels) of each row
    # task: multilabel: what separates a row's labels in a table cell (JSON and Parquet may also
    # hold a list); an empty cell is a document with no label.
    label_separator: str = Field(READ_DEFAULTS["label_separator"], min_length=1)
    id_column: Optional[str] = READ_DEFAULTS["id_column"]  # the column textclf predict writes as the id
    # A column of non-negative numbers: each training document's weight in the loss (and val/test
    # rows' weights are read but unused). Unset: every document weighs 1.
    weight_column: Optional[str] = None
    unknown_labels: Literal["error", "drop"] = "error"  # val/test labels not seen in train
    empty_texts: Literal["error", "keep"] = "error"  # keep: train on them as empty documents
    # Fractions of the training table held out, stratified, when val or test is missing.
    test_size: float = Field(0.1, gt=0, lt=1)
    val_size: float = Field(0.1, gt=0, lt=1)  # see test_size


class FilesParams(TableParams):
    """``source: files``: labelled tables (.csv, .tsv, .json, .jsonl, .parquet)."""

    # The training table (required): a path, relative ones taken in data.root (or TEXTCLF_DATA).
    train: Optional[str] = Field(None, validate_default=True)
    val: Optional[str] = None  # missing: a stratified val_size fraction of train
    test: Optional[str] = None  # missing: a stratified test_size fraction of train
    encoding: str = READ_DEFAULTS["encoding"]  # any codec Python knows (utf-8, latin-1, cp1252, utf-16, ...)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}; use one Python knows, for example "
                             "utf-8, latin-1 or cp1252") from None
        return value

    def folder_keys(self, located: bool) -> list[str]:
        # Without a data location the tables are files beside the config; with one, names in it.
        return super().folder_keys(located) + ([] if located else ["train", "val", "test"])

    @field_validator("train")
    @classmethod
    def _train_given(cls, value: Optional[str]) -> Optional[str]:
        if not value:
            raise ValueError("required when data.source is 'files': the path of the training file")
        return value


def table_settings(data: Mapping[str, Any]) -> FilesParams:
    """The table keys of a data section of any source (a stored config's, as a mapping), for
    reading a file with a model's columns: FilesParams' defaults where the section lacks them."""
    known = {k: v for k, v in data.items() if k in FilesParams.model_fields and k not in ("train", "val", "test")}
    return FilesParams.model_validate({**known, "train": "(a file)"})


def _label_sets(values: pd.Series, separator: str) -> list[list[str]]:
    """Each cell's labels: a list (JSON, Parquet) or a string split at ``separator``."""
    out = []
    for value in values:
        if isinstance(value, (list, tuple, np.ndarray)):
            items = [str(v) for v in value]
        elif value is None or (isinstance(value, float) and np.isnan(value)):
            items = []
        else:
            items = str(value).split(separator)
        out.append(sorted({item.strip() for item in items if item.strip()}))
    return out


def read_labelled(
    path: Path, config: FilesParams, task: str = "multiclass"
) -> tuple[list[str], list, np.ndarray | None]:
    """(texts, labels, weights) of a labelled file, empty texts and labels checked: a string per
    row, or for a multilabel task a sorted list of strings per row; the ``data.weight_column``
    values (None without one)."""
    return labelled_rows(read_table(path, config.encoding), config, task, path)


def labelled_rows(
    frame: pd.DataFrame, config: TableParams, task: str, path: Path | str
) -> tuple[list[str], list, np.ndarray | None]:
    """:func:`read_labelled` of a table already read (``path`` names it in messages)."""
    texts = texts_of(frame, config.text_column, path)
    weights = _weights_of(frame, config.weight_column, path) if config.weight_column else None
    require_columns(frame, [config.label_column], path, "data.label_column")
    if task == "multilabel":
        labels: list = _label_sets(frame[config.label_column], config.label_separator)
    else:
        labels = as_strings(frame[config.label_column])
        missing = [i for i, label in enumerate(labels) if not label.strip()]
        if missing:
            raise DataError(f"{path}: rows {_rows(missing)} have no label in column '{config.label_column}'")
    empty = [i for i, text in enumerate(texts) if not text.strip()]
    if empty and config.empty_texts == "error":
        raise DataError(
            f"{path}: rows {_rows(empty)} have an empty text; fill them in, or set "
            "data.empty_texts: keep to keep them as empty documents"
        )
    return texts, labels, weights


def _weights_of(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    import pandas as pd

    require_columns(frame, [column], path, "data.weight_column")
    values = pd.to_numeric(frame[column].replace("", np.nan), errors="coerce").to_numpy(dtype=np.float64)
    bad = [i for i, v in enumerate(values) if not np.isfinite(v) or v < 0]
    if bad:
        raise DataError(f"{path}: rows {_rows(bad)} have no non-negative number in column '{column}' "
                        "(data.weight_column); give every row a weight of 0 or more")
    if values.sum() <= 0:
        raise DataError(f"{path}: every weight in column '{column}' is 0; a weight column needs positive weights")
    return values.astype(np.float32)


def _unknown_labels(found: set[str], index: dict[str, int], unknown: str, path: Path, what: str) -> str:
    """The labels of ``found`` that training never had, shown for a warning (empty when none);
    an error when ``unknown`` is "error"."""
    strangers = sorted(found - set(index))
    shown = ", ".join(repr(u) for u in strangers[:10])
    if strangers and unknown == "error":
        raise DataError(
            f"{path}: labels never seen in the training file: {shown}; fix them or set "
            f"data.unknown_labels: drop to leave {what} out"
        )
    return shown


def number_labels(
    texts: list[str], labels: list[str], label_names: list[str], unknown: str, path: Path,
    weights: np.ndarray | None = None,
) -> Examples:
    """Examples with labels numbered by ``label_names``; labels outside it are an error naming
    them (``unknown="error"``) or rows dropped with a warning (``"drop"``)."""
    index = {name: i for i, name in enumerate(label_names)}
    shown = _unknown_labels(set(labels), index, unknown, path, "those rows")
    if shown:
        keep = [i for i, label in enumerate(labels) if label in index]
        print(f"warning: {path}: dropped {len(labels) - len(keep)} rows with labels never seen in "
              f"training ({shown})", file=sys.stderr)
        texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
        weights = None if weights is None else weights[keep]
    return Examples(texts, np.array([index[label] for label in labels], dtype=np.int64), weights)


def number_label_sets(
    texts: list[str], label_sets: list[list[str]], label_names: list[str], unknown: str, path: Path,
    weights: np.ndarray | None = None,
) -> Examples:
    """Multilabel examples: a 0/1 row per text. Labels outside ``label_names`` are an error
    (``unknown="error"``) or left out of their rows with a warning (``"drop"``; a row left with
    none of its labels is dropped, as a multiclass row would be)."""
    index = {name: i for i, name in enumerate(label_names)}
    shown = _unknown_labels({label for labels in label_sets for label in labels}, index, unknown, path, "them")
    if shown:
        keep = [i for i, labels in enumerate(label_sets) if not labels or any(x in index for x in labels)]
        print(f"warning: {path}: left out labels never seen in training ({shown}); "
              f"{len(label_sets) - len(keep)} rows had no other label and were dropped", file=sys.stderr)
        texts, label_sets = [texts[i] for i in keep], [label_sets[i] for i in keep]
        weights = None if weights is None else weights[keep]
    matrix = np.zeros((len(texts), len(label_names)), dtype=np.uint8)
    for row, labels in enumerate(label_sets):
        matrix[row, [index[x] for x in labels if x in index]] = 1
    return Examples(texts, matrix, weights)


def _rows(rows: list[int]) -> str:
    """Row numbers as a reader counts them: 1 is the first record after any header."""
    shown = ", ".join(str(r + 1) for r in rows[:10])
    return shown + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")


def _check_label_sets(label_sets: list[list[str]], label_names: list[str], path: Path, config: TableParams) -> None:
    column = config.label_column
    if not label_names:
        raise DataError(f"{path}: no row has a label in column '{column}'")
    if not any(len(labels) > 1 for labels in label_sets):
        joined = [x for x in label_names if any(c in x for c in ",;| ") and config.label_separator not in x]
        if joined:
            print(f"warning: {path}: no row has more than one label (separator "
                  f"{config.label_separator!r}), and labels such as {joined[0]!r} look joined by another "
                  "character; set data.label_separator", file=sys.stderr)


def _hint_multilabel(labels: list[str], path: Path, config: TableParams) -> None:
    joined = sum(1 for label in labels if config.label_separator in label)
    if joined and joined >= 0.01 * len(labels):
        print(f"warning: {path}: {joined:,} labels in column '{config.label_column}' contain "
              f"{config.label_separator!r}; if a row may have several labels, set task: multilabel",
              file=sys.stderr)


def _hint_near_duplicates(label_names: list[str], path: Path | str, config: TableParams) -> None:
    """Warn when classes differ only in case or in surrounding spaces ('neg' and 'neg ', 'Pos'
    and 'pos'): usually one class typed two ways, which then splits its examples in two."""
    groups: dict[str, list[str]] = {}
    for name in label_names:
        groups.setdefault(name.strip().casefold(), []).append(name)
    alike = [names for names in groups.values() if len(names) > 1]
    if alike:
        shown = "; ".join(" and ".join(repr(n) for n in names) for names in alike[:3])
        more = f" (and {len(alike) - 3} more groups)" if len(alike) > 3 else ""
        print(f"warning: {path}: labels in column '{config.label_column}' that differ only in case or "
              f"spaces are separate classes: {shown}{more}; if each group is one class, write it one way",
              file=sys.stderr)


def files_fingerprint(config: FilesParams, seed: int) -> str:
    parts = ["files"]
    for name in (config.train, config.val, config.test):
        if name:
            path = resolve_data_path(name, config)
            if not path.is_file():
                raise DataError(f"{path}: file not found (from data.train/val/test)")
            stat = path.stat()
            parts.append(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    parts.append(config.model_dump_json(include={
        "text_column", "label_column", "label_separator", "weight_column", "encoding", "unknown_labels", "empty_texts",
        "test_size", "val_size",
    }))
    return "|".join(parts) + f"|seed={seed}"


@register_source("files", FilesParams, fingerprint=files_fingerprint)
def load_files(config: FilesParams, seed: int, task: str = "multiclass") -> Corpus:
    paths = {s: resolve_data_path(p, config) for s, p in
             (("train", config.train), ("val", config.val), ("test", config.test)) if p}
    return corpus_from_rows({s: read_labelled(p, config, task) for s, p in paths.items()}, paths, config, seed, task)


def corpus_from_rows(raw: dict[str, tuple], paths: dict[str, Path | str], config: TableParams, seed: int,
                     task: str) -> Corpus:
    """A corpus from each split's (texts, labels, weights): classes named by the training split,
    labels numbered, and a missing val or test split carved from train, stratified and seeded.
    ``paths`` names each split's origin in messages."""
    multilabel = task == "multilabel"
    train_labels = raw["train"][1]
    label_names = sorted({x for labels in train_labels for x in labels} if multilabel else set(train_labels))
    _hint_near_duplicates(label_names, paths["train"], config)
    if multilabel:
        _check_label_sets(train_labels, label_names, paths["train"], config)
    elif len(label_names) < 2:
        raise DataError(
            f"{paths['train']}: only one class ({label_names[0]!r}) in column "
            f"'{config.label_column}'; a classifier needs at least two"
        )
    else:
        _hint_multilabel(train_labels, paths["train"], config)
    number = number_label_sets if multilabel else number_labels
    splits: dict[str, Examples] = {}
    for split, (texts, labels, weights) in raw.items():
        policy = "error" if split == "train" else config.unknown_labels
        splits[split] = number(texts, labels, label_names, policy, paths[split], weights)

    train = splits["train"]
    if "test" not in splits and "val" not in splits:
        tr, va, te = split_train_val_test(train.labels, config.test_size, config.val_size, seed, label_names)
        splits.update(train=train.subset(tr), val=train.subset(va), test=train.subset(te))
    elif "test" not in splits or "val" not in splits:
        missing = "test" if "test" not in splits else "val"
        fraction = config.test_size if missing == "test" else config.val_size
        kept, held = stratified_split(train.labels, fraction, seed, str(paths["train"]), label_names)
        splits.update(train=train.subset(kept), **{missing: train.subset(held)})
    return Corpus(label_names, {s: splits[s] for s in ("train", "val", "test")})
