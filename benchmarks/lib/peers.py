"""The peers, fitted as their users would fit them by hand: each takes the training examples and
the test examples and returns (predicted labels, train seconds, predict seconds, extra).

- ``linear_svc``: scikit-learn's TF-IDF (1–2-grams, sublinear tf, min_df 2, max_df 0.5) + LinearSVC;
- ``fasttext``: fastText supervised (25 epochs, lr 0.5, word bigrams, shuffled input), its text
  lower-cased with punctuation split off (``fasttext_line``), as fastText's examples do
  (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

__all__ = ["PEERS", "linear_svc", "fasttext", "fasttext_line"]

PEERS = {
    "linear_svc": "TF-IDF 1–2-grams + LinearSVC (scikit-learn)",
    "fasttext": "fastText supervised, bigrams, 25 epochs",
}


def linear_svc(train, test):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    started = time.perf_counter()
    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, max_df=0.5)
    classifier = LinearSVC().fit(vectorizer.fit_transform(train.texts), train.labels)
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    predicted = classifier.predict(vectorizer.transform(test.texts))
    return predicted, train_s, time.perf_counter() - started, {}


def fasttext_line(text: str) -> str:
    """A document as fastText's users feed it: one line, lower-cased, punctuation split off into
    tokens of its own (kept, not dropped: on short texts "!!" and "£" carry signal), so that
    fastText's whitespace tokenization sees words and symbols apart. textclf's ``wordpunct``
    tokenizer (runs of word characters, runs of other symbols) does exactly that split."""
    global _WORDPUNCT
    if _WORDPUNCT is None:
        from textclf.text.tokenizers import build_tokenizer

        _WORDPUNCT = build_tokenizer("wordpunct")
    return " ".join(_WORDPUNCT(text))


_WORDPUNCT = None


def fasttext(train, test, seed: int, threads: int):
    import fasttext

    line = fasttext_line

    started = time.perf_counter()
    order = np.random.default_rng(seed).permutation(len(train))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        for i in order:
            f.write(f"__label__{train.labels[i]} {line(train.texts[i])}\n")
    try:
        model = fasttext.train_supervised(f.name, epoch=25, lr=0.5, wordNgrams=2, thread=threads,
                                          seed=seed, verbose=0)
    finally:
        os.unlink(f.name)
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    labels, _ = model.predict([line(t) for t in test.texts])
    predicted = np.array([int(label[0].removeprefix("__label__")) for label in labels])
    return predicted, train_s, time.perf_counter() - started, {}
