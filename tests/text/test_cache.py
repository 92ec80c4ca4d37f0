"""The encoded-corpus cache: a folder of .npy arrays, read back memory-mapped and equal."""

from __future__ import annotations

import numpy as np

from textclf.config import load_config
from textclf.text.prepare import prepare_data


def test_a_cached_corpus_is_memory_mapped_and_equal(mini_config):
    config = load_config(mini_config)
    config.data.cache_dir = str(mini_config.parent / "cache-mmap")
    first = prepare_data(config)
    cached = prepare_data(config)
    assert not first.from_cache and cached.from_cache
    for split in ("train", "val", "test"):
        a, b = first.splits[split], cached.splits[split]
        assert isinstance(b.ids, np.memmap) and isinstance(b.offsets, np.memmap)
        for field in ("ids", "offsets", "labels", "full_lengths", "unk_counts"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), (split, field)
    assert cached.vocab.itos_ == first.vocab.itos_


def test_chunked_tokenizing_gives_the_same_table():
    from textclf.text.token_table import token_table
    from textclf.text.tokenizers import build_tokenizer

    tokenize = build_tokenizer("study")
    texts = [f"doc {i} word{i % 7} the cat" for i in range(1234)] + [""]
    whole = token_table(texts, tokenize, workers=1, chunk_docs=10**6)
    for workers in (1, 2):
        chunked = token_table(texts, tokenize, workers=workers, chunk_docs=100)
        assert chunked.codes.dtype == np.int32
        assert [chunked.tokens[i] for i in chunked.codes] == [whole.tokens[i] for i in whole.codes]
        assert np.array_equal(chunked.lengths, whole.lengths)


def test_a_new_tokenizer_version_is_not_served_the_old_encodings(mini_config, monkeypatch):
    from textclf.text.tokenizers.study import StudyTokenizer

    config = load_config(mini_config)
    config.data.cache_dir = str(mini_config.parent / "cache-version")
    assert not prepare_data(config).from_cache and prepare_data(config).from_cache
    monkeypatch.setattr(StudyTokenizer, "version", getattr(StudyTokenizer, "version", 1) + 1, raising=False)
    assert not prepare_data(config).from_cache  # the changed tokenizer encodes afresh
    assert prepare_data(config).from_cache
