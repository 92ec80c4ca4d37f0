"""Batch prediction on a cluster: the Predictor over a partitioned data set with Dask.

    import dask.dataframe as dd
    from dask.distributed import Client
    from textclf.evaluation.predict_dask import predict_dask

    client = Client("tcp://scheduler:8786")            # or Client(LocalCluster(n_workers=8))
    frame = dd.read_parquet("s3://bucket/comments/*.parquet")
    predictions = predict_dask(frame, "runs/x/checkpoints/best.ckpt", proba=True)
    predictions.to_csv("predictions-*.csv", index=False)   # or .compute(), .to_parquet(...)

Why Dask: textclf's inference is pandas and numpy in, pandas out, and a Dask DataFrame is a
collection of pandas DataFrames, so each partition runs exactly the code ``textclf predict`` runs
on a chunk, with the files (CSV, Parquet, JSON; local, S3, HDFS) and the schedulers (a laptop's
processes, a cluster, Kubernetes, SLURM) Dask already knows. Ray Data would need its own block
format and a Ray cluster for the same result.

Texts with line breaks inside quoted CSV fields cannot be cut into blocks by ``dd.read_csv``
(read such files with ``blocksize=None``: a partition per file); Parquet and JSON lines can.

Each worker process loads the checkpoint once (kept per process) and predicts its partitions
with it; workers need the checkpoint's path to be readable (a shared file system, or copy it
first). The result has the columns of ``textclf predict``: the id (``id_column``, else the
row's position in the whole data set, counted across partitions), the label (multilabel: the
labels joined by the model's separator), and with ``proba`` one ``p_<class>`` column per class.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from textclf.data.tables import texts_of
from textclf.errors import UsageError
from textclf.inference import Predictor

__all__ = ["predict_dask", "predict_partition"]


@lru_cache(maxsize=4)
def _predictor(checkpoints: tuple[str, ...], batch_size: int) -> Predictor:
    return Predictor.load(list(checkpoints), batch_size=batch_size)


def _columns(predictor: Predictor, id_name: str, label_name: str, proba: bool) -> list[str]:
    return [id_name, label_name] + ([f"p_{c}" for c in predictor.classes] if proba else [])


def predict_partition(frame: pd.DataFrame, checkpoints: tuple[str, ...], *, text_column, id_column: str | None,
                      id_name: str, label_name: str, proba: bool, batch_size: int, first_row: int = 0) -> pd.DataFrame:
    """One partition's predictions (a plain pandas DataFrame in, out)."""
    predictor = _predictor(checkpoints, batch_size)
    texts = texts_of(frame, text_column, Path("<partition>"))
    probs = predictor.predict_proba(texts) if texts else np.zeros((0, len(predictor.classes)), np.float32)
    labels = predictor.labels_of(probs)
    if predictor.task_.multilabel:
        separator = predictor.artifact.data_setting("label_separator")
        labels = [separator.join(x) for x in labels]
    if id_column:
        ids = ["" if v is None else str(v) for v in frame[id_column]]
    else:
        ids = [str(i) for i in range(first_row, first_row + len(frame))]
    out = pd.DataFrame({id_name: ids, label_name: labels}, index=frame.index)
    if proba:
        for j, name in enumerate(predictor.classes):
            out[f"p_{name}"] = probs[:, j].round(6)
    return out


def predict_dask(frame, checkpoint: str | Path | list[str | Path], *, text_column: str | list[str] | None = None,
                 id_column: str | None = None, id_name: str = "Id", label_name: str = "Category",
                 proba: bool = False, batch_size: int = 256):
    """A lazy Dask DataFrame of predictions for every row of the Dask DataFrame ``frame``
    (several checkpoints: an ensemble). Nothing runs until it is computed or written."""
    import dask

    checkpoints = tuple(str(Path(c).resolve()) for c in (checkpoint if isinstance(checkpoint, list) else [checkpoint]))
    predictor = _predictor(checkpoints, batch_size)  # here too: a bad checkpoint fails now, not on a worker
    text_column = text_column or predictor.artifact.data_setting("text_column")
    wanted = [text_column] if isinstance(text_column, str) else list(text_column)
    missing = [c for c in wanted + ([id_column] if id_column else []) if c not in frame.columns]
    if missing:
        raise UsageError(f"no column {', '.join(map(repr, missing))} in the data; columns: {', '.join(map(str, frame.columns))}")
    sizes = np.asarray(frame.map_partitions(len).compute()) if not id_column else None
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if sizes is not None else None
    meta = pd.DataFrame({c: pd.Series(dtype="float64" if c.startswith("p_") else "object")
                         for c in _columns(predictor, id_name, label_name, proba)})
    options = dict(checkpoints=checkpoints, text_column=text_column, id_column=id_column, id_name=id_name,
                   label_name=label_name, proba=proba, batch_size=batch_size)
    parts = [dask.delayed(predict_partition)(part, **options, first_row=int(starts[i]) if starts is not None else 0)
             for i, part in enumerate(frame.to_delayed())]
    import dask.dataframe as dd

    return dd.from_delayed(parts, meta=meta, verify_meta=False)
