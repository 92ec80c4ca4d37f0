"""The word features an export of a TF-IDF bag is fed (textclf/graph_inputs.py, numpy) are the
torch model's: the same hashed buckets, and sorted features with the term frequencies the model
counts itself."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from textclf.graph_inputs import distinct_features, graph_feeds, hashed_ngrams, word_features
from textclf.models.bag_of_ngrams import BagOfNgrams, BagOfNgramsParams, hashed_ngrams as torch_ngrams
from textclf.models.base import BuildContext


@st.composite
def batches(draw, high=2**31 - 1):
    """A padded batch: ids below ``vocab`` (some near 2**31, where the products wrap), lengths 0 to width."""
    vocab = draw(st.integers(3, high))
    rows, width = draw(st.integers(1, 5)), draw(st.integers(1, 12))
    ids = np.array(draw(st.lists(st.integers(0, vocab - 1), min_size=rows * width, max_size=rows * width)),
                   dtype=np.int64).reshape(rows, width)
    lengths = np.array(draw(st.lists(st.integers(0, width), min_size=rows, max_size=rows)), dtype=np.int64)
    return vocab, ids, lengths


@settings(max_examples=200, deadline=None)
@given(batches(), st.integers(2, 5), st.integers(1, 2**24))
def test_the_numpy_hash_is_the_torch_models(batch, n, buckets):
    vocab, ids, lengths = batch
    bucket, valid = hashed_ngrams(ids, lengths, n, vocab, buckets)
    expected, expected_valid = torch_ngrams(torch.from_numpy(ids), torch.from_numpy(lengths), n, vocab, buckets)
    np.testing.assert_array_equal(valid, expected_valid.numpy())
    np.testing.assert_array_equal(bucket[valid], expected.numpy()[valid])
    assert ((bucket >= 0) & (bucket < buckets)).all()


@settings(max_examples=100, deadline=None)
@given(batches(high=40), st.integers(1, 3))
def test_the_features_and_weights_are_the_models_sorted_runs(batch, ngrams):
    """Few distinct ids and buckets, so features repeat: each document's distinct features in
    order, with ``1 + log tf``, are ``BagOfNgrams._sorted_runs``'s first occurrences."""
    vocab, ids, lengths = batch
    params = BagOfNgramsParams(embedding_dim=4, ngrams=ngrams, buckets=7, tfidf=True)
    model = BagOfNgrams(params, BuildContext(vocab_size=vocab, num_classes=3))
    inputs = model.export_inputs()
    assert inputs == {"form": "word_features", "vocab_size": vocab, "buckets": 7, "ngrams": ngrams}
    feeds = graph_feeds(inputs, ids, lengths)
    feats, valid = model.features(torch.from_numpy(ids), torch.from_numpy(lengths))
    ordered, first, tf = model._sorted_runs(feats, valid)
    counts = first.sum(1).numpy()
    assert feeds["features"].shape == feeds["weights"].shape == (len(ids), max(1, int(counts.max())))
    for row, n in enumerate(counts):
        np.testing.assert_array_equal(feeds["features"][row, :n], ordered[row][first[row]].numpy())
        np.testing.assert_allclose(feeds["weights"][row, :n], 1.0 + torch.log(tf[row][first[row]]).numpy(), rtol=1e-6)
        assert (feeds["features"][row, n:] == model.num_features).all() and (feeds["weights"][row, n:] == 0).all()


def test_a_repeated_feature_comes_once_with_its_log_count():
    features = np.array([[3, 3, 3, 5, 9, 9], [1, 2, 9, 9, 9, 9], [4, 4, 4, 4, 4, 4]])
    distinct, weights = distinct_features(features, num_features=9)
    assert distinct.tolist() == [[3, 5], [1, 2], [4, 9]]
    np.testing.assert_allclose(weights, [[1 + np.log(3), 1], [1, 1], [1 + np.log(6), 0]], rtol=1e-6)
    assert distinct_features(np.full((2, 3), 9), num_features=9)[0].tolist() == [[9], [9]]


def test_empty_documents_get_one_padding_column():
    features = word_features(np.zeros((2, 3), dtype=np.int64), np.array([0, 0]), vocab_size=10, buckets=4, ngrams=2)
    assert features.tolist() == [[14], [14]]


@settings(max_examples=100, deadline=None)
@given(batches(high=30), st.integers(1, 3), st.integers(2, 4), st.integers(5, 60))
def test_the_char_features_are_the_models_char_grams(batch, minn, span, char_buckets):
    """Each document's distinct character n-gram buckets in order, padded, with ``1 + log tf``:
    the torch model's ``char_grams`` (document, bucket, tf), laid out a row a document."""
    vocab, ids, lengths = batch
    tokens = ["", ""] + [f"w{i % 7}x{i}" for i in range(2, vocab)]  # (shared n-grams between words)
    params = BagOfNgramsParams(embedding_dim=4, ngrams=2, buckets=7, tfidf=True, minn=minn, maxn=minn + span - 1,
                               char_buckets=char_buckets)
    model = BagOfNgrams(params, BuildContext(vocab_size=vocab, num_classes=3, tokens=tuple(tokens)))
    inputs = model.export_inputs()
    assert inputs["chars"] == {"minn": minn, "maxn": minn + span - 1, "buckets": char_buckets}
    subwords = (model.subword_offsets.numpy(), model.subword_rows.numpy())
    feeds = graph_feeds(inputs, ids, lengths, subwords)
    doc, bucket, tf = (t.numpy() for t in model.char_grams(torch.from_numpy(ids), torch.from_numpy(lengths)))
    rows, weights = feeds["char_rows"], feeds["char_weights"]
    for d in range(len(ids)):
        n = int((doc == d).sum())
        assert rows[d, :n].tolist() == bucket[doc == d].tolist() and (rows[d, n:] == char_buckets).all()
        np.testing.assert_allclose(weights[d, :n], 1 + np.log(tf[doc == d]), rtol=1e-6)
        assert (weights[d, n:] == 0).all()
    assert rows.shape[1] == max(1, max(int((doc == d).sum()) for d in range(len(ids))))


def test_the_packed_count_and_the_unique_path_give_the_same_char_runs():
    """char_runs sums each (document, bucket)'s counts through one sort with the count in the
    key's low bits; keys too large for that (a huge char_buckets) take np.unique instead: the
    same runs either way."""
    from textclf.graph_inputs import char_runs

    offsets = np.array([0, 0, 0, 3, 5, 8])  # words 2-4 have n-grams (0 and 1: special tokens)
    rows = np.array([4, 1, 4, 1, 7, 2, 4, 9])
    ids = np.array([[2, 3, 2, 4, 0], [4, 4, 4, 3, 2], [1, 0, 0, 0, 0]])
    lengths = np.array([4, 5, 1])
    small = char_runs(ids, lengths, 5, 16, (offsets, rows))
    huge = char_runs(ids, lengths, 5, 1 << 61, (offsets, rows))  # (document 1's keys pass 2**61)
    for a, b in zip(small, huge):
        np.testing.assert_array_equal(a, b)
    doc, bucket, tf = small
    assert doc.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    assert bucket.tolist() == [1, 2, 4, 7, 9, 1, 2, 4, 7, 9]
    # document 0: word 2 twice (4, 1, 4), word 3 once (1, 7), word 4 once (2, 4, 9);
    # document 1: word 4 three times, word 3 once, word 2 once; document 2: <unk>, no n-grams
    assert tf.tolist() == [3, 1, 5, 1, 1, 2, 3, 5, 1, 3]


def _reference_table(tokens, minn, maxn, buckets):
    """subword_table a word and an n-gram at a time, with zlib's CRC-32."""
    import zlib

    from textclf.graph_inputs import char_ngrams

    counts, rows = [], []
    for token in tokens:
        grams = char_ngrams(token, minn, maxn) if token else []
        counts.append(len(grams))
        rows += [zlib.crc32(g.encode("utf-8")) % buckets for g in grams]
    return counts, rows


_WORDS = st.lists(st.one_of(st.just(""), st.text(alphabet=st.characters(max_codepoint=127), max_size=9),
                            st.text(max_size=6)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(_WORDS, st.integers(1, 4), st.integers(0, 3), st.integers(1, 2**24))
def test_the_array_subword_table_is_the_word_by_word_one(tokens, minn, extra, buckets):
    """ASCII words cut and hashed as arrays, the others with zlib a word at a time, in order: the
    same rows as cutting and hashing every word in Python (empty strings, non-ASCII, 1-grams)."""
    from textclf.graph_inputs import subword_table

    offsets, rows = subword_table(tokens, minn, minn + extra, buckets)
    counts, expected = _reference_table(tokens, minn, minn + extra, buckets)
    np.testing.assert_array_equal(np.diff(offsets), counts)
    np.testing.assert_array_equal(rows, np.asarray(expected, dtype=np.int64))
    assert offsets.dtype == rows.dtype == np.int64
