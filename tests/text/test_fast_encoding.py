"""The compiled encoding of many texts (text/fast_encoding.py) gives exactly the ids of the
tokenizers' own path, on arbitrary text: ASCII with control characters, and any Unicode (which
goes the reference way)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textclf.text import fast_encoding
from textclf.text.fast_encoding import MIN_TEXTS, fast_form
from textclf.text.pipeline import TextPipeline

pytest.importorskip("pyarrow")

CORPUS = ["Call 0800 FREE now!!", "the_cat sat... on\tthe MAT", "C++ & C# :) 42 £5", "a\x1cb\x1fc\x0bd",
          "snake_case ALL-CAPS x2", "", "   ", "ünïcödé and ascii", "!!!", "Ends with space ",
          "हिन्दी भाषा", "今天天气很好，我们去公园吧。"]
SETTINGS = [{"name": name, "lowercase": lower, **({"digits_to_zero": True} if digits else {}),
             **({"unicode_words": True} if uni else {})}
            for name in ("study", "wordpunct", "whitespace") for lower in (True, False) for digits in (False, True)
            for uni in ((False, True) if name != "whitespace" else (False,))]
_PIPELINES = {}


def _pipeline(spec: dict) -> TextPipeline:
    key = repr(sorted(spec.items()))
    if key not in _PIPELINES:
        _PIPELINES[key] = TextPipeline(spec, min_freq=1, max_size=1000, max_length=6).fit(CORPUS)
    return _PIPELINES[key]


def _same(pipeline: TextPipeline, texts: list[str]) -> None:
    reference = pipeline.encode_tokens(*pipeline.tokenize(texts))
    got = pipeline.encode(texts)
    for field in ("ids", "offsets", "full_lengths", "unk_counts", "labels"):
        np.testing.assert_array_equal(getattr(got, field), getattr(reference, field), err_msg=field)


_TEXT = st.text(alphabet=st.one_of(st.sampled_from([chr(i) for i in range(128)]), st.characters()), max_size=30)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(_TEXT, min_size=1, max_size=6), which=st.integers(0, len(SETTINGS) - 1))
def test_the_compiled_path_gives_the_reference_ids_on_any_text(texts, which):
    pipeline = _pipeline(SETTINGS[which])
    assert pipeline.encodes_fast(MIN_TEXTS)
    batch = (texts + CORPUS) * (MIN_TEXTS // (len(texts) + len(CORPUS)) + 1)
    _same(pipeline, batch)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(_TEXT, min_size=0, max_size=8), which=st.integers(0, len(SETTINGS) - 1))
def test_the_compiled_token_table_is_the_reference_one(texts, which):
    """Training's tokenization (``TextPipeline.fit_encode``): the same token at every place, the
    same counts per text and the same distinct tokens as ``text/token_table.py``'s."""
    from textclf.text.token_table import token_table
    from textclf.text.tokenizers import build_tokenizer

    spec = SETTINGS[which]
    tokenizer = build_tokenizer(spec["name"], **{k: v for k, v in spec.items() if k != "name"})
    python = lambda batch: token_table(batch, tokenizer, workers=1)  # noqa: E731
    batch = texts + CORPUS[: which % len(CORPUS)]
    got, reference = fast_encoding.token_table(batch, fast_form(tokenizer), python), python(batch)
    if got is None:  # no ASCII text
        assert all(not t.isascii() for t in batch)
        return
    assert [got.tokens[c] for c in got.codes] == [reference.tokens[c] for c in reference.codes]
    np.testing.assert_array_equal(got.lengths, reference.lengths)
    assert sorted(got.tokens) == sorted(reference.tokens)  # each once, and no gap between tokens


def test_training_builds_the_reference_vocabulary(monkeypatch):
    texts = [f"Doc {i}: the £{i % 7} deal, naïve {'CAT' if i % 3 else 'dog'}!!" for i in range(200)]
    fast = TextPipeline({"name": "wordpunct", "lowercase": True}, min_freq=2, max_size=40, max_length=8)
    encoded = fast.fit_encode(texts[:150], texts[150:])
    monkeypatch.setattr(fast_encoding, "fast_form", lambda *a: None)
    slow = TextPipeline({"name": "wordpunct", "lowercase": True}, min_freq=2, max_size=40, max_length=8)
    expected = slow.fit_encode(texts[:150], texts[150:])
    assert fast.vocab_.itos_ == slow.vocab_.itos_
    for got, want in zip(encoded, expected):
        for field in ("ids", "offsets", "full_lengths", "unk_counts"):
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)


def test_a_consumed_token_table_frees_the_texts_it_has_read():
    from textclf.text.token_table import token_table
    from textclf.text.tokenizers import build_tokenizer

    tokenizer = build_tokenizer("wordpunct")
    texts = CORPUS * 20
    expected = token_table(list(texts), tokenizer, workers=1)
    given = list(texts)
    got = fast_encoding.token_table(given, fast_form(tokenizer), lambda t: token_table(t, tokenizer), consume=True)
    assert [got.tokens[c] for c in got.codes] == [expected.tokens[c] for c in expected.codes]
    assert given == [t if not t.isascii() else "" for t in texts]  # the ASCII ones, once read


def test_it_takes_the_compiled_path_for_ascii_and_the_reference_for_the_rest(monkeypatch):
    pipeline = _pipeline({"name": "wordpunct", "lowercase": True})
    calls = []
    original = fast_encoding._runs
    monkeypatch.setattr(fast_encoding, "_runs", lambda texts, *a: calls.append(len(texts)) or original(texts, *a))
    texts = ["Hello, World!!"] * MIN_TEXTS + ["naïve café"]
    _same(pipeline, texts)
    assert calls == [MIN_TEXTS]  # the ASCII texts only; the other one went the reference way
    calls.clear()
    pipeline.encode(texts[: MIN_TEXTS - 1])  # too few to be worth it
    assert calls == []


def test_unknown_tokenizers_and_a_missing_pyarrow_keep_the_reference_path(monkeypatch):
    from textclf.text.tokenizers import build_tokenizer
    from textclf.text.tokenizers.study import StudyTokenizer

    class Digits(StudyTokenizer):  # another pattern in a subclass: not the study tokenizer's
        pattern = __import__("re").compile(r"\d+")

    assert fast_form(Digits()) is None
    assert fast_form(build_tokenizer("study")) is not None
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert fast_form(build_tokenizer("study")) is None
