"""Tokenizers and data sources are registered by name, like models; unknown names list the valid ones."""

from __future__ import annotations

import pytest

from textclf.config import config_from_dict
from textclf.data import list_sources, load_corpus
from textclf.errors import ConfigError
from textclf.text import TextPipeline, build_tokenizer, list_tokenizers


def test_built_in_tokenizers_and_their_settings():
    assert {"study", "whitespace", "wordpunct"} <= set(list_tokenizers())
    assert build_tokenizer("whitespace")("C++ is :) fun") == ["c++", "is", ":)", "fun"]
    # Runs of word characters, and runs of the other non-space characters as tokens of their own.
    assert build_tokenizer("wordpunct")("Win £100!! C++ is :) fun.") == [
        "win", "£", "100", "!!", "c", "++", "is", ":)", "fun", "."]
    assert build_tokenizer({"name": "study", "lowercase": False})("Hello, World") == ["Hello", "World"]


def test_an_unknown_tokenizer_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown tokenizer 'studdy'; did you mean 'study'\? valid names: study, whitespace, wordpunct"):
        TextPipeline({"name": "studdy"})


def test_an_unknown_data_source_lists_the_valid_ones():
    assert {"20newsgroups", "files"} <= set(list_sources())
    with pytest.raises(ConfigError, match="unknown data source 'file'; did you mean 'files'"):
        load_corpus(config_from_dict({"data": {"source": "file"}}))


def test_a_pipeline_round_trips_through_its_spec():
    pipeline = TextPipeline({"name": "whitespace", "lowercase": True}, min_freq=1, max_length=3)
    pipeline.fit(["a b c d", "a b"])
    again = TextPipeline.from_spec(pipeline.spec())
    encoded = again.encode(["a b z q", ""])
    assert encoded.document(0).tolist() == [2, 3, 1]  # a, b (most frequent first), <unk>; cut to 3
    assert encoded.document(1).tolist() == [1]  # an empty text is one <unk>
    assert again.spec() == pipeline.spec()
