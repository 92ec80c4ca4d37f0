"""Character n-grams (bag_of_ngrams' minn/maxn): fastText's cut, and TF-IDF weights equal to
scikit-learn's for the same n-grams."""

import zlib

import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import TfidfVectorizer

from textclf.errors import ConfigError
from textclf.models import BuildContext, build_model
from textclf.models.registry import validate_model_params
from textclf.models.subwords import char_ngrams, owners, subword_bags, subword_table
from textclf.text.vocabulary import word_strings

DOCS = ["the cat sat", "the cats sat on the mat", "a dog", "dogs and cats and cats", "mat"]


def test_char_ngrams_cut_the_wrapped_word_as_fasttext_does():
    assert char_ngrams("ab", 2, 5) == ["<a", "ab", "b>", "<ab", "ab>", "<ab>"]
    assert char_ngrams("a", 1, 2) == ["a", "<a", "a>"]  # the lone markers are not n-grams
    assert char_ngrams("word", 6, 6) == ["<word>"]


def test_subword_table_gives_special_tokens_no_ngrams():
    tokens = word_strings(["<pad>", "<unk>", "ab", "b"])
    assert tokens == ("", "", "ab", "b")
    offsets, rows = subword_table(tokens, 2, 3, buckets=1000)
    assert offsets.tolist() == [0, 0, 0, 5, 8]
    expected = [zlib.crc32(g.encode()) % 1000 for g in char_ngrams("ab", 2, 3) + char_ngrams("b", 2, 3)]
    assert rows.tolist() == expected


def _model(tfidf=True, buckets=1 << 20):
    tokens = ["<pad>", "<unk>"] + sorted({w for d in DOCS for w in d.split()})
    stoi = {t: i for i, t in enumerate(tokens)}
    ids = torch.zeros(len(DOCS), max(len(d.split()) for d in DOCS), dtype=torch.int64)
    for row, doc in enumerate(DOCS):
        ids[row, : len(doc.split())] = torch.tensor([stoi[w] for w in doc.split()])
    lengths = torch.tensor([len(d.split()) for d in DOCS])
    params = {"embedding_dim": 4, "ngrams": 1, "tfidf": tfidf, "minn": 2, "maxn": 4, "char_buckets": buckets}
    model = build_model("bag_of_ngrams", params, BuildContext(len(tokens), 2, tokens=word_strings(tokens)))
    model.fit_statistics([(ids, lengths)])
    return model, ids, lengths


def test_owners_repeat_each_index_its_count_of_times():
    for counts in ([], [0], [3], [2, 0, 1], [0, 0, 4, 0, 1, 2, 0]):
        counts = torch.tensor(counts, dtype=torch.long)
        word, position = owners(counts)
        assert word.tolist() == torch.repeat_interleave(torch.arange(len(counts)), counts).tolist()
        assert position.tolist() == list(range(int(counts.sum())))


def test_subword_bags_list_each_words_rows_in_order():
    offsets, rows = subword_table(("", "ab", "b", "abc"), 2, 3, buckets=1000)
    ids = torch.tensor([3, 0, 1, 3])  # a repeated word, a special token with no n-grams
    flat, word = subword_bags(offsets, rows, ids)
    expected = [rows[offsets[i]:offsets[i + 1]].tolist() for i in ids.tolist()]
    assert flat.tolist() == [r for each in expected for r in each]
    assert word.tolist() == [k for k, each in enumerate(expected) for _ in each]


def test_char_tfidf_weights_match_scikit_learn():
    model, ids, lengths = _model()
    doc, bucket, weight = model.char_weights(ids, lengths)
    ours = [{} for _ in DOCS]
    for d, b, w in zip(doc.tolist(), bucket.tolist(), weight.tolist()):
        ours[d][b] = w
    analyzer = lambda text: [g for word in text.split() for g in char_ngrams(word, 2, 4)]  # noqa: E731
    vectorizer = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True)
    matrix = vectorizer.fit_transform(DOCS).toarray()
    names = vectorizer.get_feature_names_out()
    buckets = [zlib.crc32(n.encode()) % (1 << 20) for n in names]
    assert len(set(buckets)) == len(names)  # no collisions, so the two can be compared one to one
    for row in range(len(DOCS)):
        theirs = {buckets[j]: matrix[row, j] for j in np.flatnonzero(matrix[row])}
        assert ours[row].keys() == theirs.keys()
        for key, value in theirs.items():
            assert ours[row][key] == pytest.approx(value, rel=1e-5)


def test_without_tfidf_each_document_averages_its_ngrams():
    model, ids, lengths = _model(tfidf=False)
    doc, _, weight = model.char_weights(ids, lengths)
    totals = torch.zeros(len(DOCS)).scatter_add(0, doc, weight)
    torch.testing.assert_close(totals, torch.ones(len(DOCS)))


def test_hash_collisions_only_share_rows():
    """With very few buckets n-grams collide; the document's weights still sum per bucket."""
    model, ids, lengths = _model(buckets=7)
    doc, bucket, _ = model.char_weights(ids, lengths)
    assert int(bucket.max()) < 7
    pairs = doc * 7 + bucket
    assert pairs.unique().numel() == pairs.numel()  # each (document, bucket) once


def test_char_ngram_settings_are_checked():
    for params in ({"minn": 3}, {"minn": 5, "maxn": 3}):
        problems, _ = validate_model_params("bag_of_ngrams", params)
        assert len(problems) == 1 and "1 <= minn <= maxn" in problems[0][1], problems
    assert validate_model_params("bag_of_ngrams", {"minn": 2, "maxn": 5})[0] == []
    with pytest.raises(ConfigError, match="vocabulary's words"):
        build_model("bag_of_ngrams", {"minn": 2, "maxn": 4}, BuildContext(10, 2))
