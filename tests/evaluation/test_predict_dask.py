"""Batch prediction with Dask on a local cluster of two worker processes: the same rows as
``textclf predict``, in the same order, with the same labels and probabilities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from textclf.cli import main
from textclf.config import config_from_dict
from textclf.data import load_corpus
from textclf.inference import Predictor

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


def test_a_partitioned_file_on_two_workers_equals_textclf_predict(trained_run, tmp_path):
    from textclf.evaluation.predict_dask import predict_dask

    best = trained_run / "checkpoints" / "best.ckpt"
    corpus = load_corpus(config_from_dict(Predictor.load(best).artifact.config))
    texts = corpus["test"].texts + corpus["val"].texts
    source = tmp_path / "texts.csv"
    pd.DataFrame({"text": texts}).to_csv(source, index=False)
    expected_file = tmp_path / "expected.csv"
    assert main(["predict", "--checkpoint", str(best), "--input", str(source), "--output", str(expected_file),
                 "--proba", "--no-progress"]) == 0
    expected = pd.read_csv(expected_file, dtype={"Id": str})

    # The same rows as a partitioned Parquet data set (four files: four partitions).
    folder = tmp_path / "parts"
    folder.mkdir()
    for k, chunk in enumerate(np.array_split(np.arange(len(texts)), 4)):
        pd.DataFrame({"text": [texts[i] for i in chunk]}).to_parquet(folder / f"part-{k}.parquet", index=False)
    frame = dd.read_parquet(str(folder))
    assert frame.npartitions == 4
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        result = predict_dask(frame, best, proba=True).compute()
        workers = {w for w in client.run(lambda: 1)}
    assert len(workers) == 2
    result = result.reset_index(drop=True)
    assert list(result.columns) == list(expected.columns)
    assert result["Id"].tolist() == [str(i) for i in range(len(texts))] == expected["Id"].tolist()
    assert result["Category"].tolist() == expected["Category"].tolist()
    columns = [c for c in expected.columns if c.startswith("p_")]
    assert np.allclose(result[columns].to_numpy(float), expected[columns].to_numpy(float), atol=2e-6)
