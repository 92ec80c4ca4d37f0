import numpy as np
import pytest

from textclf.config import Config, DataConfig, PreprocessConfig
from textclf.text import PAD_ID, UNK_ID, StudyTokenizer, Vocabulary, encode_texts, prepare_data


def test_study_tokenizer():
    tok = StudyTokenizer()
    assert tok("Hello, World! It's e-mail: A_B 42.") == ["hello", "world", "it", "s", "e", "mail", "a_b", "42"]
    assert tok("") == [] and tok("  ,;! ") == []
    assert StudyTokenizer(lowercase=False)("Hi There") == ["Hi", "There"]


def test_vocabulary_specials_min_freq_max_size_and_ties():
    docs = [["b", "a", "c"], ["a", "b", "d"], ["a", "e", "e"]]
    vocab = Vocabulary(min_freq=2, max_size=50).fit(docs)
    assert vocab.itos_ == ["<pad>", "<unk>", "a", "b", "e"]  # a:3, then b/e:2 alphabetically
    assert vocab.stoi_["<pad>"] == PAD_ID == 0 and vocab.stoi_["<unk>"] == UNK_ID == 1
    assert vocab.encode(["a", "zzz", "e"]) == [2, 1, 4]
    assert vocab.decode([2, 3]) == ["a", "b"]
    small = Vocabulary(min_freq=1, max_size=4).fit(docs)
    assert len(small) == 4 and small.itos_[2:] == ["a", "b"]


def test_encoding_truncates_counts_unknowns_and_keeps_empty_docs_safe():
    vocab = Vocabulary(min_freq=1).fit([["a", "b", "c"]])
    enc = encode_texts(["a b c a b", "", "zz a"], np.array([0, 1, 0]), StudyTokenizer(), vocab, max_seq_len=3)
    assert enc.document(0).tolist() == [2, 3, 4]
    assert enc.document(1).tolist() == [UNK_ID]  # an empty document is one <unk>
    assert enc.document(2).tolist() == [UNK_ID, 2]
    assert enc.full_lengths.tolist() == [5, 0, 2]
    assert enc.unk_counts.tolist() == [0, 0, 1]
    assert enc.lengths.tolist() == [3, 1, 2]


def test_vocabulary_is_built_from_train_only_and_cache_is_reused(mini_archive, monkeypatch):
    config = Config(
        data=DataConfig(root=str(mini_archive), protocol="bydate"),
        preprocess=PreprocessConfig(max_seq_len=50),
    )
    first = prepare_data(config)
    assert not first.from_cache
    train_tokens = set()
    from textclf.data import load_corpus

    corpus = load_corpus(config)
    tok = StudyTokenizer()
    for text in corpus["train"].texts:
        train_tokens.update(tok(text))
    assert set(first.vocab.itos_[2:]) <= train_tokens
    assert first.splits["train"].lengths.max() <= 50

    # Second run: read from the cache, without reading the archive at all.
    import textclf.data.newsgroups as ng

    monkeypatch.setattr(ng, "_read_posts", lambda path: pytest.fail("the archive was read again"))
    second = prepare_data(config)
    assert second.from_cache
    assert second.vocab.itos_ == first.vocab.itos_ and second.label_names == first.label_names
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(second.splits[split].ids, first.splits[split].ids)
        np.testing.assert_array_equal(second.splits[split].labels, first.splits[split].labels)

    # Another preprocessing setting is another cache entry.
    monkeypatch.undo()
    other = prepare_data(config.model_copy(update={"preprocess": PreprocessConfig(max_seq_len=20)}))
    assert not other.from_cache and other.splits["train"].lengths.max() <= 20


def test_parallel_token_table_equals_one_process():
    from textclf.text.token_table import token_table

    texts = [f"doc {i} word{i % 7} shared Ünïcode_x {'' if i % 5 else ''}" for i in range(50)] + ["", "a b a"]
    tokenize = StudyTokenizer()
    one = token_table(texts, tokenize, workers=1)
    two = token_table(texts, tokenize, workers=2)
    assert two.lengths.tolist() == one.lengths.tolist()
    assert [two.tokens[c] for c in two.codes] == [one.tokens[c] for c in one.codes]
    assert [one.tokens[c] for c in one.codes] == [t for text in texts for t in tokenize(text)]


@pytest.mark.parametrize("workers", [1, 2])
def test_consuming_the_texts_frees_them_and_encodes_the_same(workers):
    """prepare_data lets tokenizing empty its text lists (the texts' memory is freed early, the
    peak of preprocessing a large corpus); the encoding is the same."""
    from textclf.text.pipeline import TextPipeline
    from textclf.text.token_table import token_table

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    texts = [" ".join(rng.choice(words, size=rng.integers(0, 40))) for _ in range(2000)]
    tokenize = TextPipeline().tokenizer
    kept = token_table(list(texts), tokenize, workers=workers, chunk_docs=300)
    given = list(texts)
    consumed = token_table(given, tokenize, workers=workers, chunk_docs=300, consume=True)
    assert given == [] and consumed.tokens == kept.tokens
    np.testing.assert_array_equal(consumed.codes, kept.codes)
    np.testing.assert_array_equal(consumed.lengths, kept.lengths)

    train, test = list(texts[:1500]), list(texts[1500:])
    reference = TextPipeline(max_length=20).fit_encode(texts[:1500], texts[1500:])
    pipeline = TextPipeline(max_length=20)
    result = pipeline.fit_encode(train, test, consume=True)
    assert train == [] and test == []
    for a, b in zip(result, reference):
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.offsets, b.offsets)
        np.testing.assert_array_equal(a.unk_counts, b.unk_counts)
        np.testing.assert_array_equal(a.full_lengths, b.full_lengths)


def test_digits_to_zero_gives_numbers_of_one_shape_one_token_and_travels_in_the_spec():
    from textclf.text.pipeline import TextPipeline

    pipeline = TextPipeline.from_preprocess(PreprocessConfig(digits_to_zero=True))
    assert pipeline.tokenizer("Call 0871-246 for £5") == ["call", "0000", "000", "for", "0"]
    pipeline.fit(["call 08712 now", "call 09061 now", "text 55555"])
    assert "00000" in pipeline.vocab_.itos_  # no number repeats, their shape does
    rebuilt = TextPipeline.from_spec(pipeline.spec())
    assert rebuilt.tokenizer.settings() == {"name": "study", "lowercase": True, "digits_to_zero": True,
                                            "unicode_words": True}
    assert rebuilt.encode(["call 12345"]).ids.tolist() == pipeline.encode(["call 99999"]).ids.tolist()
    plain = TextPipeline.from_preprocess(PreprocessConfig())
    assert plain.tokenizer("0871") == ["0871"] and plain.tokenizer_key() != pipeline.tokenizer_key()
