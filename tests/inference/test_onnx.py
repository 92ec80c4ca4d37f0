"""ONNX export: every registered model exports, and its folder predicts like the checkpoint
(labels identical, probabilities within 1e-4 on 1,000 texts) through Predictor, predict and serve."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from conftest import minilm_path

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import textclf  # noqa: E402
from textclf.cli import main  # noqa: E402
from textclf.data import load_corpus  # noqa: E402
from textclf.errors import UsageError  # noqa: E402
from textclf.models import list_models  # noqa: E402

SMALL = {
    "bigru_attention": {"embedding_dim": 16, "hidden_size": 16},
    "lstm": {"embedding_dim": 16, "hidden_size": 16, "bidirectional": True},
    "textcnn": {"embedding_dim": 16, "num_filters": 8},
    "bag_of_ngrams": {"embedding_dim": 16, "buckets": 5000, "tfidf": True, "ngrams": 3},
    "transformer": {"pretrained": "MINILM", "freeze": True},  # the real all-MiniLM-L6-v2
    "linear": {"buckets": 5000, "minn": 2, "maxn": 4, "char_buckets": 3000},
}
# Variants whose export takes another path: (case id, model name, parameters).
VARIANTS = [(name, name, params) for name, params in SMALL.items()] + [
    ("bag_of_ngrams-chars", "bag_of_ngrams", {**SMALL["bag_of_ngrams"], "minn": 2, "maxn": 4, "char_buckets": 3000}),
    ("bag_of_ngrams-members", "bag_of_ngrams", {**SMALL["bag_of_ngrams"], "members": 3}),
    # Fewer table columns than classes: the tables are exported as they are, not projected.
    ("bag_of_ngrams-narrow", "bag_of_ngrams", {**SMALL["bag_of_ngrams"], "embedding_dim": 2}),
    # Word n-grams alone (the default's linear model on long texts): fed its word features.
    ("linear-words", "linear", {"buckets": 5000}),
    # Unknown words' character n-grams after the ids: fed with them, and a bag without TF-IDF
    # reads them in its graph.
    ("linear-unknown-chars", "linear", {**SMALL["linear"], "unknown_chars": True}),
    ("bag_of_ngrams-unknown-chars", "bag_of_ngrams",
     {**SMALL["bag_of_ngrams"], "tfidf": False, "minn": 2, "maxn": 4, "char_buckets": 3000, "unknown_chars": True}),
]


@pytest.fixture(scope="module")
def texts(mini_config):
    corpus = load_corpus(textclf.load_config(mini_config))
    docs = [t for s in ("train", "val", "test") for t in corpus[s].texts]
    # Whole posts, their first lines and single words: long, short and one-token documents.
    variants = docs + [d[:80] for d in docs] + [d.split()[0] if d.split() else "" for d in docs]
    return variants[:1000]


def test_every_registered_model_has_a_parity_case():
    assert set(SMALL) == set(list_models())


# The real MiniLM's export and its parity on 1,000 texts take half a minute: -m slow.
@pytest.mark.parametrize("name,params", [pytest.param(n, p, id=case, marks=[pytest.mark.slow] if n == "transformer" else [])
                                         for case, n, p in VARIANTS])
def test_export_parity_with_the_checkpoint(name, params, mini_config, tmp_path, texts, capsys):
    params = {k: minilm_path() if v == "MINILM" else v for k, v in params.items()}
    overrides = {"model": {"name": name, **params}, "train.epochs": 1}
    if name == "transformer":
        overrides["preprocess.max_seq_len"] = 32  # 1,000 texts through MiniLM twice stay quick
    run = textclf.train(mini_config, overrides=overrides,
                        run_dir=tmp_path / "run")
    out = tmp_path / "export"
    assert main(["export", "--checkpoint", str(run.best_checkpoint), "--output", str(out)]) == 0
    # A bag with TF-IDF and character n-grams keeps its words' n-gram table beside the graph.
    fed_features = name == "linear" or (name == "bag_of_ngrams" and params.get("tfidf"))
    chars = fed_features and bool(params.get("maxn"))
    files = ["model.onnx", *(["subwords.npz"] if chars else []), "textclf.json"]
    assert sorted(p.name for p in out.iterdir()) == files
    assert f"({', '.join(files)};" in capsys.readouterr().out  # the command names what it wrote
    if name in ("bag_of_ngrams", "linear"):  # a Loop node runs once per element: 80 times slower (subwords.owners)
        import onnx
        graph = onnx.load(str(out / "model.onnx")).graph
        assert "Loop" not in {node.op_type for node in graph.node}
        # The features' and the character n-grams' widths are two axes (one name: one size to
        # onnxruntime, which then warns on every batch and allocates anew).
        dims = {i.name: [d.dim_param for d in i.type.tensor_type.shape.dim] for i in graph.input}
        if fed_features:
            assert dims["features"] == dims["weights"] == ["batch", "width"]
        if chars:
            assert dims["char_rows"] == dims["char_weights"] == ["batch", "char_width"]
        # A bag with fewer output columns than table columns exports its tables projected onto them.
        projected = any("projected_" in init.name for init in graph.initializer)
        assert projected == (name == "bag_of_ngrams" and params["embedding_dim"] > 2)  # (4 classes)
    torch_side, onnx_side = textclf.Predictor.load(run.best_checkpoint), textclf.Predictor.load(out)
    assert onnx_side.runtime == "onnx" and onnx_side.classes == torch_side.classes
    # A TF-IDF bag takes the word features (and character n-grams) made in numpy, not the ids.
    fed = onnx_side.artifact.export["inputs"] or {}
    assert fed.get("form") == ("word_features" if fed_features else None)
    assert bool(fed.get("chars")) == chars
    p_torch, p_onnx = torch_side.predict_proba(texts), onnx_side.predict_proba(texts)
    assert len(texts) == 1000
    np.testing.assert_allclose(p_onnx, p_torch, atol=1e-4, rtol=0)
    # predict() is labels_of(predict_proba()): the labels of the probabilities above, not a third pass.
    assert onnx_side.labels_of(p_onnx) == torch_side.labels_of(p_torch)


def test_an_export_fed_what_this_version_cannot_make_is_refused_in_one_line(trained_run, tmp_path, capsys):
    import json

    out = tmp_path / "onnx"
    assert main(["export", "--checkpoint", str(trained_run / "checkpoints" / "best.ckpt"), "--output", str(out)]) == 0
    meta = json.loads((out / "textclf.json").read_text())
    meta["export"]["inputs"] = {"form": "char_features"}  # as a later version might write
    (out / "textclf.json").write_text(json.dumps(meta))
    err = _refused_prediction(out, tmp_path, capsys)
    assert "'char_features'" in err and "export the checkpoint again" in err


def test_an_export_without_its_ngram_table_is_refused_in_one_line(mini_config, tmp_path, capsys):
    run = textclf.train(mini_config, overrides={"model": {"name": "linear", **SMALL["linear"]}, "train.epochs": 1},
                        run_dir=tmp_path / "run")
    out = tmp_path / "export"
    assert main(["export", "--checkpoint", str(run.best_checkpoint), "--output", str(out)]) == 0
    (out / "subwords.npz").unlink()  # (a copy of model.onnx and textclf.json alone)
    err = _refused_prediction(out, tmp_path, capsys)
    assert "subwords.npz" in err and "it is missing" in err


def _refused_prediction(export, tmp_path, capsys) -> str:
    """``textclf predict`` on ``export`` fails with one line and writes nothing: that line."""
    capsys.readouterr()
    source = tmp_path / "texts.csv"
    source.write_text("text\nhello\n")
    assert main(["predict", "--checkpoint", str(export), "--input", str(source), "--output", str(tmp_path / "o.csv")]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "o.csv").exists()
    return err


def _exported_with_texts(trained_run, tmp_path, texts):
    """The run's best checkpoint, its export (``tmp_path/onnx``) and a CSV of ``texts``."""
    best = trained_run / "checkpoints" / "best.ckpt"
    out = tmp_path / "onnx"
    assert main(["export", "--checkpoint", str(best), "--output", str(out)]) == 0
    source = tmp_path / "texts.csv"
    with open(source, "w", newline="") as f:
        csv.writer(f).writerows([["text"], *[[t] for t in texts]])
    return best, out, source


def test_predict_runs_an_export_and_int8_stays_close(trained_run, tmp_path, texts, caplog):
    import logging

    best = trained_run / "checkpoints" / "best.ckpt"
    out, small = tmp_path / "onnx", tmp_path / "int8"
    assert main(["export", "--checkpoint", str(best), "--output", str(out)]) == 0
    caplog.clear()
    assert main(["export", "--checkpoint", str(best), "--output", str(small), "--quantize", "int8"]) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # onnxruntime's advice stays out
    source = tmp_path / "texts.csv"
    with open(source, "w", newline="") as f:
        csv.writer(f).writerows([["text"], *[[t] for t in texts[:200]]])
    labels = {}
    for key, checkpoint in (("torch", best), ("onnx", out), ("int8", small)):
        target = tmp_path / f"{key}.csv"
        assert main(["predict", "--checkpoint", str(checkpoint), "--input", str(source), "--output",
                     str(target), "--no-progress"]) == 0
        with open(target, newline="") as f:
            labels[key] = [r["Category"] for r in csv.DictReader(f)]
    assert labels["onnx"] == labels["torch"]
    agree = np.mean([a == b for a, b in zip(labels["int8"], labels["torch"])])
    assert agree >= 0.9, agree


def test_export_mistakes_are_one_line_errors(trained_run, tmp_path, capsys):
    best = str(trained_run / "checkpoints" / "best.ckpt")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["export", "--checkpoint", best, "--output", str(tmp_path / "full")]) == 2
    assert "is not an empty folder" in capsys.readouterr().err
    assert main(["export", "--checkpoint", best, "--output", str(tmp_path / "no" / "such")]) == 2
    assert main(["export", "--checkpoint", str(tmp_path / "missing.ckpt"), "--output", str(tmp_path / "o")]) == 5
    assert not (tmp_path / "o").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    out = tmp_path / "ok"
    assert main(["export", "--checkpoint", best, "--output", str(out)]) == 0
    capsys.readouterr()
    assert main(["explain", "--checkpoint", str(out), "--text", "hello"]) == 2
    assert "needs the PyTorch checkpoint" in capsys.readouterr().err


def test_the_server_runs_an_export(trained_run, tmp_path, texts):
    """`textclf serve --checkpoint DIR` serves the ONNX graph (in process, through the ASGI app)."""
    import hashlib

    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from textclf.serving import create_app

    best = trained_run / "checkpoints" / "best.ckpt"
    out = tmp_path / "onnx"
    assert main(["export", "--checkpoint", str(best), "--output", str(out)]) == 0
    predictor = textclf.Predictor.load(out)
    with TestClient(create_app(predictor)) as client:
        meta = client.get("/metadata").json()
        assert meta["models"][0]["sha256"] == hashlib.sha256((out / "model.onnx").read_bytes()).hexdigest()
        answer = client.post("/predict", json={"texts": texts[:50]}).json()["predictions"]
    assert [p["label"] for p in answer] == textclf.Predictor.load(best).predict(texts[:50])


def test_an_onnx_runner_keeps_the_models_token_budget(trained_run, tmp_path):
    """Long documents go in smaller batches on onnxruntime as on PyTorch (the transformer's
    max_batch_tokens), so attention memory stays bounded."""
    from textclf.inference.runners import OnnxRunner
    from textclf.models.registry import model_class
    from textclf.text.encoding import EncodedSplit

    assert model_class("transformer").max_batch_tokens and model_class("bag_of_ngrams").max_batch_tokens is None
    seen = []

    class Session:
        def run(self, _, feeds):
            seen.append(feeds["ids"].shape)
            return [np.zeros((feeds["ids"].shape[0], 3), dtype=np.float32)]

    runner = OnnxRunner.__new__(OnnxRunner)
    runner.session, runner.max_batch_tokens, runner.threads, runner.max_rows = Session(), 1000, 2, None
    runner.inputs = runner.subwords = None  # (the graph takes ids and lengths)
    lengths = np.array([300] * 10 + [5] * 50)
    ids = np.ones(int(lengths.sum()), dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    split = EncodedSplit(ids=ids, offsets=offsets, labels=np.zeros(len(lengths), dtype=np.int64),
                         full_lengths=lengths, unk_counts=np.zeros(len(lengths), dtype=np.int64))
    assert runner.logits(split, batch_size=64).shape == (60, 3)
    assert all(rows * width <= 1000 or rows == 1 for rows, width in seen) and len(seen) > 2
    # The model's onnx_batch_rows caps the rows of each onnxruntime call below the batch size.
    seen.clear()
    runner.max_rows = 16
    assert runner.logits(split, batch_size=64).shape == (60, 3)
    assert max(rows for rows, _ in seen) == 16 and len(seen) >= 60 // 16


def test_batches_run_side_by_side_come_back_in_order_and_are_made_as_needed():
    """The ONNX runner's batches go to two threads at once: the results keep the batches'
    order, at most two batches per thread are made ahead of the one being read, and an error in
    one batch reaches the caller."""
    import threading
    import time

    from textclf.inference.runners import in_order

    made, threads = [], set()

    def items():
        for i in range(20):
            made.append(i)
            yield i

    def work(i):
        threads.add(threading.get_ident())
        time.sleep(0.001 + 0.002 * (i % 3))  # busy when the next is submitted; later ones may finish first
        return i * i

    results = in_order(work, items(), threads=2)
    assert next(results) == 0 and len(made) <= 5
    assert list(results) == [i * i for i in range(1, 20)]
    assert len(threads) == 2

    def fails(i):
        if i == 7:
            raise ValueError("batch 7")
        return i

    with pytest.raises(ValueError, match="batch 7"):
        list(in_order(fails, range(20), threads=2))

    # One item ahead on one thread (a file's next chunk): the second is started before the
    # first is used; a single item (a served request) runs in the caller's thread.
    made.clear()
    threads.clear()
    results = in_order(work, items(), threads=1, ahead=1)
    assert next(results) == 0 and made == [0, 1]  # the second started while the first is used
    assert list(results) == [i * i for i in range(1, 20)]
    assert len(threads) == 1 and threading.get_ident() not in threads
    threads.clear()
    assert list(in_order(work, [3], threads=2)) == [9] and threads == {threading.get_ident()}


def test_predicting_a_file_in_chunks_on_an_export_keeps_every_row_in_order(trained_run, tmp_path, texts):
    """With onnxruntime the next chunk is read and encoded while the model runs on this one: the
    submission still has every row once, in the file's order, with PyTorch's labels."""
    from textclf.evaluation.predict_file import predict_file

    best, out, source = _exported_with_texts(trained_run, tmp_path, texts[:300])
    rows = {}
    for key, checkpoint in (("torch", best), ("onnx", out)):
        target = tmp_path / f"{key}.csv"
        assert predict_file(checkpoint, source, target, chunk_rows=37, progress=False) == 300
        with open(target, newline="") as f:
            rows[key] = [(r["Id"], r["Category"]) for r in csv.DictReader(f)]
    assert [i for i, _ in rows["onnx"]] == [str(i) for i in range(300)]
    assert rows["onnx"] == rows["torch"]


def test_an_export_predicts_a_file_in_a_process_without_torch(trained_run, tmp_path, texts):
    """``textclf predict`` on an export needs onnxruntime, numpy and the text pipeline only: in a
    process where importing torch or pydantic fails, it writes the labels the checkpoint gives. An export
    written before the folder stored its batching still loads (asking the model class)."""
    import json
    import subprocess
    import sys

    from textclf.models.registry import model_class

    best, out, source = _exported_with_texts(trained_run, tmp_path, texts[:200])
    code = ("import sys; sys.modules['torch'] = sys.modules['pydantic'] = None\n"  # any import of them raises
            "from textclf.cli import main\n"
            f"code = main(['predict', '--checkpoint', {str(out)!r}, '--input', {str(source)!r}, "
            f"'--output', {str(tmp_path / 'onnx.csv')!r}, '--no-progress'])\n"
            # nor what only training uses: the process pool, pyarrow's Python compute wrappers
            "print(sorted(m for m in ('multiprocessing', 'pyarrow.compute', 'pandas') if m in sys.modules))\n"
            "sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    with open(tmp_path / "onnx.csv", newline="") as f:
        labels = [r["Category"] for r in csv.DictReader(f)]
    assert labels == textclf.Predictor.load(best).predict(texts[:200])

    meta = json.loads((out / "textclf.json").read_text(encoding="utf-8"))
    cls = model_class(meta["model"]["name"])
    assert (meta["export"]["batch_rows"], meta["export"]["max_batch_tokens"]) == (cls.onnx_batch_rows,
                                                                                   cls.max_batch_tokens)
    for key in ("batch_rows", "max_batch_tokens"):
        del meta["export"][key]
    (out / "textclf.json").write_text(json.dumps(meta), encoding="utf-8")
    older = textclf.Predictor.load(out)
    assert older.runners[0].max_rows == cls.onnx_batch_rows
    assert older.predict(texts[:200]) == labels
    # threads: how many batches the export runs at once (a server worker's share of the cores)
    assert textclf.Predictor.load(out, threads=1).runners[0].threads == 1
    with pytest.raises(UsageError, match="threads 0"):
        textclf.Predictor.load(out, threads=0)


def test_int8_leaves_a_textcnns_convolutions_in_float(mini_config, tmp_path):
    """onnxruntime's int8 convolution ran a TextCNN's export at a quarter of the float one's
    speed: --quantize int8 quantizes its other operators and keeps float convolutions."""
    import onnx

    run = textclf.train(mini_config, overrides={"model": {"name": "textcnn", **SMALL["textcnn"]}, "train.epochs": 1},
                        run_dir=tmp_path / "run")
    assert main(["export", "--checkpoint", str(run.best_checkpoint), "--output", str(tmp_path / "int8"),
                 "--quantize", "int8"]) == 0
    ops = {node.op_type for node in onnx.load(str(tmp_path / "int8" / "model.onnx")).graph.node}
    assert "Conv" in ops and "ConvInteger" not in ops
    assert ops & {"MatMulInteger", "DynamicQuantizeLinear", "DequantizeLinear"}  # (the rest is quantized)
