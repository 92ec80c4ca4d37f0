"""Unknown words' character n-grams (a bag's ``unknown_chars``): the pipeline appends them after a
document's words, every encoding path alike; the model counts them as it counts a vocabulary
word's; the export's and the solver's numpy features agree; and they carry what a new word form
shares with the training words."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from textclf.graph_inputs import char_ngrams, graph_feeds
from textclf.models import build_model
from textclf.models.base import BuildContext
from textclf.models.registry import validate_model_params
from textclf.text.encoding import EncodedSplit
from textclf.text.pipeline import TextPipeline, pipeline_from_spec
from textclf.text.vocabulary import PAD_ID, UNK_ID

SUBWORDS = {"minn": 2, "maxn": 4, "buckets": 97}


def _reference(pipeline: TextPipeline, text: str) -> list[int]:
    """A document's ids as the design says, a token at a time: the words (truncated), then each
    unknown word's n-grams' buckets after the vocabulary."""
    words = pipeline.tokenizer(text)[: pipeline.max_length]
    if not words:
        return [UNK_ID]
    vocab, size = pipeline.vocab_.stoi_, len(pipeline.vocab_)
    ids = [vocab.get(w, UNK_ID) for w in words]
    for word in words:
        if word not in vocab:
            ids += [size + zlib.crc32(g.encode("utf-8")) % SUBWORDS["buckets"]
                    for g in char_ngrams(word, SUBWORDS["minn"], SUBWORDS["maxn"])]
    return ids


def _documents(split: EncodedSplit) -> list[list[int]]:
    return [split.document(i).tolist() for i in range(len(split))]


texts = st.lists(st.text(st.sampled_from("ab cdé, !ü\nZ"), max_size=24), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(texts, texts, st.integers(1, 6))
def test_every_encoding_path_appends_the_unknown_words_ngrams_after_the_words(train, other, max_length):
    pipeline = TextPipeline({"name": "wordpunct", "lowercase": True}, min_freq=2, max_length=max_length,
                            subwords=SUBWORDS)
    fitted_train, fitted_other = pipeline.fit_encode(train, other)
    assert _documents(fitted_train) == [_reference(pipeline, t) for t in train]  # (words below min_freq too)
    expected = [_reference(pipeline, t) for t in other]
    assert _documents(fitted_other) == expected
    assert _documents(pipeline.encode(other)) == expected  # a few texts: a token at a time
    assert _documents(pipeline.encode(other * 20))[: len(other)] == expected  # many: the compiled path
    assert _documents(pipeline.encode_tokens(*pipeline.tokenize(other))) == expected  # a Predictor's shared tokens
    # The counts stay those of the words.
    assert fitted_other.full_lengths.tolist() == [len(pipeline.tokenizer(t)) for t in other]


def test_the_setting_travels_with_the_pipeline_and_an_older_one_has_none():
    pipeline = TextPipeline({"name": "study", "lowercase": True}, min_freq=1, subwords=SUBWORDS)
    pipeline.fit(["one two three"])
    again = pipeline_from_spec(pipeline.spec())
    assert again.subwords == SUBWORDS
    assert again.encode(["one fourth"]).ids.tolist() == pipeline.encode(["one fourth"]).ids.tolist()
    older = {k: v for k, v in pipeline.spec().items() if k != "subwords"}
    assert pipeline_from_spec(older).subwords is None
    assert pipeline_from_spec(older).encode(["one fourth"]).ids.tolist() == [2, UNK_ID]


def _pair(tfidf: bool, name: str = "bag_of_ngrams"):
    """The same model built twice, over a vocabulary without and with the word "zebra"."""
    params = {"ngrams": 2, "buckets": 11, "tfidf": tfidf, "minn": 2, "maxn": 4, "char_buckets": SUBWORDS["buckets"]}
    if name == "bag_of_ngrams":
        params["embedding_dim"] = 3
    words = ["", "", "the", "cat", "sat"]
    opened = build_model(name, {**params, "unknown_chars": True}, BuildContext(len(words), 3, tokens=tuple(words)))
    knowing = build_model(name, params, BuildContext(len(words) + 1, 3, tokens=tuple(words + ["zebra"])))
    return opened, knowing


@pytest.mark.parametrize("tfidf", [False, True])
def test_an_unknown_words_ngrams_count_as_a_vocabulary_words_do(tfidf):
    """"the zebra sat zebra" read by a model that lacks "zebra" (an <unk> and its n-grams twice
    after the words) has the character n-grams of the same text read by a model whose
    vocabulary has it, and the word features of the text with <unk> in its place."""
    opened, knowing = _pair(tfidf)
    zebra = [5 + zlib.crc32(g.encode()) % SUBWORDS["buckets"] for g in char_ngrams("zebra", 2, 4)]
    ids = torch.tensor([[2, UNK_ID, 4, UNK_ID] + zebra + zebra, [3, 4] + [PAD_ID] * (4 + 2 * len(zebra) - 2)])
    lengths = torch.tensor([4 + 2 * len(zebra), 2])
    plain = torch.tensor([[2, 5, 4, 5], [3, 4, PAD_ID, PAD_ID]])
    plain_lengths = torch.tensor([4, 2])
    for got, want in zip(opened.char_grams(ids, lengths), knowing.char_grams(plain, plain_lengths)):
        assert got.tolist() == want.tolist()
    feats, valid = opened.features(ids, lengths)
    words, word_valid = opened.features(torch.tensor([[2, UNK_ID, 4, UNK_ID], [3, 4, 0, 0]]), plain_lengths)
    assert feats[valid].tolist() == words[word_valid].tolist()
    # The forward pass reads them (and nothing past the table: the n-grams are not token ids),
    # each document as it reads it alone (the batch's word columns are cut to its most words).
    opened.eval()
    with torch.no_grad():
        together = opened(ids, lengths)
        for i in range(2):
            alone = opened(ids[i: i + 1, : int(lengths[i])], lengths[i: i + 1])
            torch.testing.assert_close(together[i: i + 1], alone)
    assert opened.embed(ids).shape[:2] == ids.shape


@pytest.mark.parametrize("batch_words", [[["the", "zebra", "zebras"], ["cat"], []], [["qq"], ["the", "sat", "x"]]])
def test_the_exports_and_the_solvers_features_read_the_ngrams_as_the_model_does(batch_words):
    from textclf.training.setup import word_strings

    pipeline = TextPipeline({"name": "whitespace", "lowercase": True}, min_freq=1, subwords=SUBWORDS)
    pipeline.fit(["the cat sat"])
    params = {"buckets": 11, "minn": 2, "maxn": 4, "char_buckets": SUBWORDS["buckets"], "unknown_chars": True}
    opened = build_model("linear", params, BuildContext(len(pipeline.vocab_), 3,
                                                       tokens=word_strings(pipeline.vocab_.itos_)))
    with torch.no_grad():
        opened.idf.uniform_(0.5, 2.0)
        opened.char_idf.uniform_(0.5, 2.0)
    split = pipeline.encode([" ".join(w) for w in batch_words])
    ids, lengths, _ = split.padded(np.arange(len(split)))
    inputs = opened.export_inputs()
    assert inputs["chars"]["unknown"] is True
    subwords = opened.export_subwords()
    feeds = graph_feeds(inputs, ids, lengths, subwords)
    doc, bucket, tf = (t.numpy() for t in opened.char_grams(torch.from_numpy(ids), torch.from_numpy(lengths)))
    for d in range(len(ids)):
        n = int((doc == d).sum())
        assert feeds["char_rows"][d, :n].tolist() == bucket[doc == d].tolist()
        np.testing.assert_allclose(feeds["char_weights"][d, :n], 1 + np.log(tf[doc == d]), rtol=1e-6)
    from textclf.training.solver import _tfidf_rows

    rows, columns, values = _tfidf_rows(opened)(ids, lengths)
    r, c, v = (t.numpy() for t in opened.sparse_features(torch.from_numpy(ids), torch.from_numpy(lengths)))
    got, want = sorted(zip(rows.tolist(), columns.tolist(), values)), sorted(zip(r.tolist(), c.tolist(), v))
    assert [g[:2] for g in got] == [w[:2] for w in want]
    np.testing.assert_allclose([g[2] for g in got], [w[2] for w in want], rtol=1e-5)


def test_unknown_chars_needs_character_ngrams():
    for name in ("linear", "bag_of_ngrams"):
        problems = validate_model_params(name, {"unknown_chars": True})[0]
        assert len(problems) == 1 and "need minn and maxn" in problems[0][1], problems
        assert validate_model_params(name, {"unknown_chars": True, "minn": 2, "maxn": 4})[0] == []


def _word_forms(rows_per_class: int, seed: int = 0) -> pd.DataFrame:
    """Three topics whose words are one stem each with endings: the training split's texts use
    some endings, the others' texts others, so a test text's topic words were never seen whole."""
    rng = np.random.default_rng(seed)
    stems = {"sport": ["football", "goalkeep", "stadium"], "money": ["banking", "invest", "market"],
             "weather": ["raincloud", "thunder", "sunshine"]}
    shared = ["today", "they", "said", "that", "very", "new"]
    rows = []
    for part, endings in (("train", ["", "s", "er"]), ("test", ["ing", "ed", "ish", "ers"])):
        for label, words in stems.items():
            for _ in range(rows_per_class):
                picked = [f"{words[rng.integers(len(words))]}{endings[rng.integers(len(endings))]}"
                          for _ in range(2)] + list(rng.choice(shared, 4))
                rng.shuffle(picked)
                rows.append({"text": " ".join(picked), "label": label, "part": part})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("unknown_chars", [True, False])
def test_new_forms_of_the_training_words_are_read_only_with_unknown_chars(tmp_path, unknown_chars):
    import textclf

    frame = _word_forms(40)
    frame[frame.part == "train"].drop(columns="part").to_csv(tmp_path / "train.csv", index=False)
    frame[frame.part == "test"].drop(columns="part").to_csv(tmp_path / "test.csv", index=False)
    run = textclf.train({"name": "forms", "output_dir": str(tmp_path / "runs"),
                         "data": {"source": "files", "train": str(tmp_path / "train.csv"),
                                  "test": str(tmp_path / "test.csv"), "val_size": 0.2, "cache_dir": str(tmp_path / "c")},
                         "model": {"name": "linear", "solver": "svm", "minn": 2, "maxn": 5,
                                   "unknown_chars": unknown_chars}, "train": {"device": "cpu"}},
                        run_dir=tmp_path / "run")
    accuracy = run.test_metrics["accuracy"]
    # Without them every topic word of a test text is <unk>: only the shared words are left.
    assert accuracy > 0.9 if unknown_chars else accuracy < 0.6
    predictor = textclf.Predictor.load(run.best_checkpoint)
    assert predictor.pipelines[0].subwords == ({"minn": 2, "maxn": 5, "buckets": 200000} if unknown_chars else None)
    if unknown_chars:
        assert predictor.predict(["they said raincloudish"]) == ["weather"]
        # An explanation reads the text as the Predictor does (its unknown words' n-grams too).
        from textclf.reporting.explain import explain_texts

        explanation, = explain_texts(predictor, ["they said raincloudish"])
        assert explanation.tokens == ["they", "said", "raincloudish"] and explanation.unknown == [False, False, True]
        assert explanation.label == "weather" and len(explanation.weights) == 3
        # (an explanation's probability is the model's own, before the temperature)
        logits = predictor.log_proba_encoded(predictor.encode(["they said raincloudish"]), calibrated=False)[0]
        expected = np.exp(logits - logits.max()).max() / np.exp(logits - logits.max()).sum()
        assert explanation.probability == pytest.approx(float(expected), abs=1e-5)
