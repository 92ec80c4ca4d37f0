"""Each document's character n-grams counted once per process (models/char_memo.py): the same
tensors as counting them afresh, within its bounds, and the same trained model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import textclf
from conftest import sms_selection_config
from textclf.errors import ConfigError
from textclf.artifact import ModelArtifact
from textclf.models import char_memo
from textclf.models.bag_of_ngrams import BagOfNgrams, BagOfNgramsParams
from textclf.models.base import BuildContext


def _model(vocab: int, char_buckets: int, unknown: bool) -> BagOfNgrams:
    tokens = ["", ""] + [f"w{i % 5}y{i}" for i in range(2, vocab)]  # (words share n-grams)
    params = BagOfNgramsParams(embedding_dim=4, buckets=7, tfidf=True, minn=2, maxn=3, char_buckets=char_buckets,
                               unknown_chars=unknown)
    return BagOfNgrams(params, BuildContext(vocab_size=vocab, num_classes=2, tokens=tuple(tokens)))


def _same(got, expected) -> None:
    for a, b in zip(got, expected):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@st.composite
def _documents(draw):
    vocab, char_buckets = draw(st.integers(3, 30)), draw(st.integers(2, 50))
    unknown = draw(st.booleans())
    top = vocab + (char_buckets if unknown else 0)  # (unknown words' n-grams come as ids from vocab on)
    docs = draw(st.lists(st.lists(st.integers(0, top - 1), max_size=10), min_size=1, max_size=8))
    return vocab, char_buckets, unknown, docs


def _batch(docs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(1, max(map(len, docs)))
    ids = torch.tensor([d + [0] * (width - len(d)) for d in docs], dtype=torch.int64)
    return ids, torch.tensor([len(d) for d in docs], dtype=torch.int64)


@settings(max_examples=60, deadline=None)
@given(_documents(), st.randoms(use_true_random=False))
@char_memo.remembering()
def test_a_batch_from_the_memo_is_the_batch_counted_afresh(drawn, random):
    vocab, char_buckets, unknown, docs = drawn
    model = _model(vocab, char_buckets, unknown)
    first = _batch(docs)
    _same(model.char_grams(*first), model.count_char_grams(*first))  # counted, and kept
    assert char_memo.memo_for(model.memo_key).documents
    # Again, shuffled, padded wider and with a new document: from the memo, and counted where new.
    again = random.sample(docs, len(docs)) + [[1] * 11]
    batch = _batch(again)
    _same(model.char_grams(*batch), model.count_char_grams(*batch))


def test_the_memo_keeps_no_more_than_its_entries_and_answers_the_same_past_them(monkeypatch):
    model = _model(40, 97, unknown=False)
    docs = [[2 + (i * 7 + j) % 38 for j in range(1 + i % 6)] for i in range(30)]
    ids, lengths = _batch(docs)
    monkeypatch.setattr(char_memo, "MAX_ENTRIES", 25)
    with char_memo.remembering():
        for _ in range(2):
            _same(model.char_grams(ids, lengths), model.count_char_grams(ids, lengths))
        memo = char_memo.memo_for(model.memo_key)
        assert 0 < len(memo.documents) < len(docs) and memo.entries <= 25
        assert memo.entries == sum(len(buckets) for buckets, _ in memo.documents.values())
        other = _model(41, 97, unknown=False)  # (another table: the limit is all the memos')
        _same(other.char_grams(ids, lengths), other.count_char_grams(ids, lengths))
        assert memo.entries + char_memo.memo_for(other.memo_key).entries <= 25


@char_memo.remembering()
def test_the_least_recently_used_table_goes_past_the_limit():
    keys = [_model(10 + i, 31, unknown=False).memo_key for i in range(char_memo.TABLES + 1)]
    memos = [char_memo.memo_for(key) for key in keys]
    assert char_memo.memo_for(keys[-1]) is memos[-1]
    assert char_memo.memo_for(keys[0]) is not memos[0]  # (dropped, made anew)


def test_a_model_trained_with_the_memo_is_the_one_trained_without(tmp_path, monkeypatch):
    kept_by = []

    def trained(folder, entries: int) -> dict:
        monkeypatch.setattr(char_memo, "MAX_ENTRIES", entries)
        grams = char_memo.CharGramMemo.grams

        def spy(self, *args):  # (how many documents the memo holds as training goes)
            kept_by.append((entries, self.entries))
            return grams(self, *args)

        monkeypatch.setattr(char_memo.CharGramMemo, "grams", spy)
        folder.mkdir()
        config = sms_selection_config(folder, per_class=40, buckets=500, epochs=2)
        config["model"] = {"name": "bag_of_ngrams", "embedding_dim": 8, "members": 2, "tfidf": True, "minn": 2,
                           "maxn": 4, "buckets": 500, "char_buckets": 500, "unknown_chars": True}
        run = textclf.train(config, run_dir=folder / "run")
        assert not char_memo._memos and not char_memo.is_remembering()  # (dropped when training ends)
        return ModelArtifact.load(run.layout.best_checkpoint).state_dict

    kept, counted = trained(tmp_path / "memo", char_memo.MAX_ENTRIES), trained(tmp_path / "counted", 0)
    assert max(n for limit, n in kept_by if limit) > 0 and max(n for limit, n in kept_by if not limit) == 0
    assert kept.keys() == counted.keys()
    for name in kept:
        torch.testing.assert_close(kept[name], counted[name], rtol=0, atol=0)


def test_no_memo_outside_training_without_character_n_grams_or_under_a_trace():
    plain = BagOfNgrams(BagOfNgramsParams(embedding_dim=4, buckets=7),
                        BuildContext(vocab_size=5, num_classes=2, tokens=("", "", "a", "b", "c")))
    assert plain.memo_key is None
    model = _model(12, 31, unknown=False)
    ids, lengths = _batch([[2, 3, 4], [5]])
    model.char_grams(ids, lengths)  # (predicting, as a server does: nothing kept)
    assert not char_memo._memos
    calls = []
    grams = char_memo.CharGramMemo.grams

    def spy(self, *args):
        calls.append(1)
        return grams(self, *args)

    with pytest.MonkeyPatch.context() as patch, char_memo.remembering():
        patch.setattr(char_memo.CharGramMemo, "grams", spy)
        model.char_grams(ids, lengths)
        model.char_grams(ids, lengths, unique=lambda x: torch.unique(x, return_inverse=True, return_counts=True))
        assert calls == [1]  # (the export passes its own unique: counted in the graph)
    np.testing.assert_array_equal(model.char_grams(ids, lengths)[1].numpy(),
                                  model.count_char_grams(ids, lengths)[1].numpy())


def test_textclf_char_memo_sets_the_limit_and_a_wrong_value_says_so(monkeypatch):
    model = _model(12, 31, unknown=False)
    ids, lengths = _batch([[2, 3, 4], [5]])
    monkeypatch.setenv("TEXTCLF_CHAR_MEMO", "0")
    with char_memo.remembering():
        model.char_grams(ids, lengths)
        assert char_memo.memo_for(model.memo_key).entries == 0
    monkeypatch.setenv("TEXTCLF_CHAR_MEMO", "1000")
    with char_memo.remembering():
        model.char_grams(ids, lengths)
        assert char_memo.memo_for(model.memo_key).entries > 0
    monkeypatch.setenv("TEXTCLF_CHAR_MEMO", "lots")
    with pytest.raises(ConfigError, match="TEXTCLF_CHAR_MEMO='lots': give how many"):
        with char_memo.remembering():
            pass
    assert not char_memo.is_remembering()
