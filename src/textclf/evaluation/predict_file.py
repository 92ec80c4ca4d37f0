"""Predicting a whole file with nothing but a checkpoint: a submission CSV.

Rows are read in chunks (bounded memory; a UTF-8 CSV or TSV of up to 256 MB is parsed at once
by pyarrow and then taken in chunks: ``data.tables.iter_columns``), predicted, and written in
input order to a temporary file that is renamed into place only when complete. Columns: the id,
the predicted label, then optionally the K best labels (space-separated) and one probability
column per class. For a multilabel model the label column holds the predicted labels joined by
the model's ``data.label_separator`` (``|`` by default; empty when the model allows no label).
"""

from __future__ import annotations

import csv
import sys
import threading
from pathlib import Path

import numpy as np

from textclf.data.tables import iter_columns, texts_of
from textclf.errors import DataError, UsageError
from textclf.files import atomic_path
from textclf.inference import Predictor
from textclf.inference.runners import cpu_threads, in_order

__all__ = ["predict_file"]


def predict_file(
    checkpoint: str | Path | list[str | Path],
    input_path: str | Path,
    output_path: str | Path,
    *,
    text_column: str | list[str] | None = None,
    id_column: str | None = None,
    id_name: str = "Id",
    label_name: str = "Category",
    proba: bool = False,
    top_k: int | None = None,
    batch_size: int = 256,
    chunk_rows: int = 5000,
    device: str = "auto",
    progress: bool = True,
    encoding: str | None = None,
    read_ahead: bool = True,
    encode_threads: int | None = None,
) -> int:
    """Write predictions for every row of ``input_path`` to ``output_path``; return the row count.
    Several checkpoints predict as an ensemble (mean of their probabilities). ``read_ahead``: read
    and encode the next chunks while the model runs on this one (false: in turn), on
    ``encode_threads`` threads (default: 2, or 1 on one CPU)."""
    input_path, output_path = Path(input_path), Path(output_path)
    if not output_path.parent.is_dir():
        raise UsageError(
            f"{output_path}: the folder {output_path.parent} does not exist; create it or write elsewhere"
        )
    checkpoints = checkpoint if isinstance(checkpoint, list) else [checkpoint]
    predictor = Predictor.load(checkpoints, device=device, batch_size=batch_size)
    names = predictor.classes
    if top_k is not None and not 1 <= top_k <= len(names):
        raise UsageError(f"--top-k {top_k}: choose between 1 and {len(names)} (the number of classes)")
    setting = predictor.artifact.data_setting
    text_column = text_column or setting("text_column")
    explicit_id = id_column
    named_id = id_column or setting("id_column")  # --id-column must exist; the config's is warned about
    id_column = named_id or id_name
    encoding = encoding or setting("encoding")
    separator = setting("label_separator")
    multilabel = predictor.task_.multilabel

    header = [id_name, label_name]
    if top_k:
        header.append(f"top{top_k}")
    if proba:
        header += [f"p_{name}" for name in names]
    rows = empty = 0
    with atomic_path(output_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        bar = _progress_bar(progress)

        def read(frame) -> tuple[list[str], list[str], list]:
            """A chunk's texts, ids and encoding (on a reading thread)."""
            texts = texts_of(frame, text_column, input_path)
            if id_column in frame.columns:
                ids = ["" if v is None else str(v) for v in frame[id_column]]
            elif explicit_id:
                raise UsageError(f"{input_path}: no id column '{explicit_id}' (from --id-column); columns: "
                                 f"{', '.join(map(str, frame.columns))}")
            else:  # no id column: a row index, numbered by the main thread
                if named_id and warn_once.acquire(blocking=False):  # the config names one the file lacks
                    print(f"warning: {input_path} has no column '{named_id}' (the checkpoint's "
                          f"data.id_column; columns: {', '.join(map(str, frame.columns))}); ids are "
                          "row numbers from 0 (name a column with --id-column)", file=sys.stderr)
                ids = None
            return texts, ids, predictor.encode(texts) if texts else None

        warn_once = threading.Lock()  # (taken, never released, by the reading thread that warns)
        # The next chunks are read and encoded on threads of their own while the model runs on
        # this one. Encoding is the longest part; two threads of it (each holding the interpreter
        # for part of its time) and smaller chunks, which start the model sooner, ran an export
        # 8 % faster than one thread with chunks of 10,000 rows on 2 cores (benchmarks/read_ahead.py
        # times the three ways; RESULTS.md "read-ahead").
        threads = 0 if not read_ahead else encode_threads or min(2, cpu_threads())
        chunks = iter_columns(input_path, encoding, chunk_rows)
        for texts, ids, encoded in in_order(read, chunks, threads, ahead=threads):
            ids = ids if ids is not None else [str(i) for i in range(rows, rows + len(texts))]
            probs = predictor.proba_encoded(encoded)
            labels = predictor.labels_of(probs)
            ranked = np.argsort(-probs, axis=1, kind="stable")[:, :top_k] if top_k else None
            for i in range(len(texts)):
                row = [ids[i], separator.join(labels[i]) if multilabel else labels[i]]
                if top_k:
                    row.append(" ".join(names[j] for j in ranked[i]))
                if proba:
                    row += [f"{p:.6f}" for p in probs[i]]
                writer.writerow(row)
            rows += len(texts)
            empty += sum(1 for t in texts if not t.strip())
            bar.update(len(texts))
        bar.close()
        if rows == 0:  # inside the block: the output is not put in place
            raise DataError(f"{input_path}: the table has no rows; nothing to predict")
    if empty:
        print(f"warning: {empty:,} of {rows:,} texts are empty; they were predicted from no words "
              "(the model's prior)", file=sys.stderr)
    return rows


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(progress: bool):
    """tqdm's bar (rate and ETA) on stderr; with ``--no-progress`` none, and tqdm not imported
    (its import is a part of a short prediction's start-up)."""
    if not progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(desc="predicting", unit="doc")
