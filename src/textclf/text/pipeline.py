"""TextPipeline: raw texts → token ids, the same object in training and in inference.

It is a tokenizer, a vocabulary learned from the training split, and a maximum length::

    pipeline = TextPipeline({"name": "study", "lowercase": True}, min_freq=2, max_length=400)
    train, val = pipeline.fit_encode(train_texts, val_texts)   # learns vocab_ from train only
    pipeline.encode(["a new text"])                             # EncodedSplit
    TextPipeline.from_spec(pipeline.spec())                    # what a model artifact stores

Training encodes whole corpora with :func:`fit_encode` (one table of distinct tokens for all
splits, vocabulary counts by ``bincount``); inference encodes with :func:`encode`, a dictionary
lookup per token that needs neither pandas nor worker processes.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import chain
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from textclf.text.encoding import EncodedSplit, assemble, table_ids
from textclf.text.tokenizers import build_tokenizer, takes_setting
from textclf.text.vocabulary import Vocabulary

if TYPE_CHECKING:
    from textclf.text.pretrained import PretrainedPipeline
    from textclf.text.unknown_subwords import UnknownWords

__all__ = ["TextPipeline", "pipeline_for", "pipeline_from_spec"]


class TextPipeline:
    """Tokenizer settings, a vocabulary learned by ``fit`` (``vocab_``) and a maximum length; with
    ``subwords``, the character n-grams of each document's unknown words after its word ids."""

    window = 0  # documents are truncated, never cut into windows (BuildContext.window)

    def __init__(
        self,
        tokenizer: dict[str, Any] | None = None,
        min_freq: int = 2,
        max_size: int = 50000,
        max_length: int = 400,
        subwords: dict[str, int] | None = None,
    ):
        self.tokenizer = build_tokenizer(tokenizer or {"name": "study", "lowercase": True})
        self.min_freq = min_freq
        self.max_size = max_size
        self.max_length = max_length
        # minn, maxn, buckets: each document's ids end in its unknown words' character n-grams
        # (text/unknown_subwords.py), for a model that reads them (its unknown_chars)
        self.subwords = dict(subwords) if subwords else None

    @classmethod
    def from_preprocess(cls, pre, subwords: dict[str, int] | None = None) -> "TextPipeline":
        """From the config's ``preprocess`` section (a PreprocessConfig or its dict), and the
        model's ``subwords`` setting (``ModelParams.encoding_subwords``)."""
        pre = pre if isinstance(pre, dict) else pre.model_dump()
        tokenizer = {"name": pre["tokenizer"], "lowercase": pre["lowercase"]}
        if pre.get("unicode_words", True) and takes_setting(pre["tokenizer"], "unicode_words"):
            tokenizer["unicode_words"] = True
        if pre.get("digits_to_zero"):
            tokenizer["digits_to_zero"] = True
        return cls(tokenizer, pre["min_freq"], pre["max_size"], pre["max_seq_len"], subwords)

    # ----------------------------------------------------------------- learning

    def fit(self, texts: Sequence[str]) -> "TextPipeline":
        self.fit_encode(texts)
        return self

    def fit_encode(
        self, train: Sequence[str], *others: Sequence[str], labels: Sequence[np.ndarray] | None = None,
        consume: bool = False,
    ) -> list[EncodedSplit]:
        """Learn ``vocab_`` from ``train`` only, then encode ``train`` and each of ``others``.

        ``consume``: empty the given lists once they are tokenized, so that the texts' memory is
        freed before the encoding steps (``prepare_data`` owns its corpus and needs it no more)."""
        from textclf.text.fast_encoding import MIN_TEXTS
        from textclf.text.token_table import token_table

        groups = [train, *others]
        sizes = [len(g) for g in groups]
        texts = [t for g in groups for t in g]  # train first
        if consume:
            for group in groups:
                if isinstance(group, list):
                    group.clear()
        del groups, train, others
        table = self._fast_table(texts, consume) if len(texts) >= MIN_TEXTS else None
        if table is None:
            table = token_table(texts, self.tokenizer, consume=consume)
        del texts
        train_tokens = int(table.lengths[: sizes[0]].sum())
        counts = np.zeros(len(table.tokens), dtype=np.int64)
        for start in range(0, train_tokens, 1 << 22):  # bincount widens to int64: a slice at a time
            stop = min(start + (1 << 22), train_tokens)
            counts += np.bincount(table.codes[start:stop], minlength=len(table.tokens))
        self.vocab_ = Vocabulary(self.min_freq, self.max_size).fit_counts(table.tokens, counts)
        ids, unknown = self._table_ids(table)
        all_lengths = table.lengths
        del table
        out, doc, token = [], 0, 0
        for i, size in enumerate(sizes):
            lengths = all_lengths[doc : doc + size]
            n_tokens = int(lengths.sum())
            group_labels = labels[i] if labels is not None else np.zeros(size, dtype=np.int64)
            part = None if unknown is None else replace(unknown, index=unknown.index[token : token + n_tokens])
            out.append(assemble(ids[token : token + n_tokens], lengths, group_labels, self.max_length, part))
            doc, token = doc + size, token + n_tokens
        return out

    def _table_ids(self, table) -> tuple[np.ndarray, "UnknownWords | None"]:
        """Every occurrence's id of a token table, and with ``subwords`` its unknown words."""
        if self.subwords is None:
            return table_ids(table, self.vocab_), None
        from textclf.text.unknown_subwords import unknown_words

        to_id = self.vocab_.ids(table.tokens)
        unknown = unknown_words(table.tokens, to_id, table.codes, self.subwords, len(self.vocab_))
        return table_ids(table, self.vocab_, to_id), unknown

    def _fast_table(self, texts: list[str], consume: bool):
        """``token_table`` of ``texts`` by compiled code (``text/fast_encoding.py``), or None
        where that does not apply (a tokenizer it does not know, pyarrow missing, no ASCII text)."""
        from textclf.text import fast_encoding
        from textclf.text.token_table import token_table

        form = fast_encoding.fast_form(self.tokenizer)
        if form is None:
            return None
        return fast_encoding.token_table(texts, form, lambda others: token_table(others, self.tokenizer),
                                         consume=consume)

    # ----------------------------------------------------------------- using

    def tokenize(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """Every text's tokens back to back, and the token count of each text."""
        docs = [self.tokenizer(t) for t in texts]
        lengths = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        return list(chain.from_iterable(docs)), lengths

    def encode_tokens(
        self, tokens: list[str], lengths: np.ndarray, labels: np.ndarray | None = None
    ) -> EncodedSplit:
        """Encode the output of :meth:`tokenize` (shared by pipelines with the same tokenizer)."""
        ids = self.vocab_.ids(tokens)
        labels = np.zeros(len(lengths), dtype=np.int64) if labels is None else labels
        unknown = None
        if self.subwords is not None:
            from textclf.text.unknown_subwords import unknown_words

            unknown = unknown_words(tokens, ids, None, self.subwords, len(self.vocab_))
        return assemble(ids, lengths, labels, self.max_length, unknown)

    def encode(self, texts: Sequence[str], labels: np.ndarray | None = None) -> EncodedSplit:
        """Tokenize, map to ids, truncate to ``max_length``; an empty text becomes one ``<unk>``.
        Many texts at once are encoded by compiled code where it gives the same ids
        (``text/fast_encoding.py``)."""
        if self.encodes_fast(len(texts)):
            from textclf.text.fast_encoding import encode_ids

            labels = np.zeros(len(texts), dtype=np.int64) if labels is None else labels
            if self.subwords is not None:  # (the unknown words' strings are needed: a token table)
                table = self._fast_table(list(texts), consume=False)
                if table is not None:
                    ids, unknown = self._table_ids(table)
                    return assemble(ids, table.lengths, labels, self.max_length, unknown)
            else:
                got = encode_ids(list(texts), self._fast[1], self.vocab_, self.tokenize)
                if got is not None:
                    return assemble(got[0], got[1], labels, self.max_length)
        return self.encode_tokens(*self.tokenize(texts), labels)

    def encodes_fast(self, n_texts: int) -> bool:
        """Whether :meth:`encode` of ``n_texts`` texts takes the compiled path (a built-in
        tokenizer, pyarrow installed, enough texts to be worth it)."""
        from textclf.text.fast_encoding import MIN_TEXTS, fast_form

        if n_texts < MIN_TEXTS:
            return False
        if getattr(self, "_fast", (None,))[0] is not self.vocab_:  # (made once per vocabulary)
            self._fast = (self.vocab_, fast_form(self.tokenizer, self.vocab_))
        return self._fast[1] is not None

    def tokens(self, text: str) -> list[str]:
        """The tokens of ``text`` as a model reads them (truncated), for display."""
        return self.tokenizer(text)[: self.max_length]

    def tokenizer_key(self) -> tuple:
        """Equal for pipelines that tokenize alike, so they can share one tokenization."""
        return tuple(sorted(self.tokenizer.settings().items()))

    # ----------------------------------------------------------------- storing

    def spec(self) -> dict[str, Any]:
        """Plain containers that rebuild this pipeline exactly (stored in model artifacts)."""
        return {
            "tokenizer": self.tokenizer.settings(),
            "min_freq": self.min_freq,
            "max_size": self.max_size,
            "max_length": self.max_length,
            **({"subwords": self.subwords} if self.subwords else {}),  # (older artifacts: without)
            "vocab": list(self.vocab_.itos_),
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "TextPipeline":
        pipeline = cls(spec["tokenizer"], spec["min_freq"], spec["max_size"], spec["max_length"],
                       spec.get("subwords"))
        pipeline.vocab_ = Vocabulary.from_itos(spec["vocab"], spec["min_freq"], spec["max_size"])
        return pipeline

    @property
    def vocab_size(self) -> int:
        return len(self.vocab_)

    def __repr__(self) -> str:
        size = f", vocab {len(self.vocab_):,}" if hasattr(self, "vocab_") else ""
        subwords = f", subwords={self.subwords}" if self.subwords else ""
        return f"TextPipeline({self.tokenizer.settings()}, max_length={self.max_length}{subwords}{size})"


def pipeline_for(config) -> "TextPipeline | PretrainedPipeline":
    """The text pipeline a config trains with: the pretrained tokenizer of a model that brings
    one (``model.pretrained``), else the ``preprocess`` section's tokenizer and vocabulary."""
    from textclf.models.registry import params_class
    from textclf.text.pretrained import PretrainedPipeline

    params = params_class(config.model.name).model_validate(config.model.params())
    source = params.pretrained_tokenizer()
    if source:
        return PretrainedPipeline.from_pretrained(source, config.preprocess.max_seq_len, params.input_windows())
    return TextPipeline.from_preprocess(config.preprocess, params.encoding_subwords())


def pipeline_from_spec(spec: dict[str, Any]) -> "TextPipeline | PretrainedPipeline":
    """Rebuild the pipeline a model artifact (or a cache entry) stored."""
    from textclf.text.pretrained import PretrainedPipeline, is_pretrained_spec

    return PretrainedPipeline.from_spec(spec) if is_pretrained_spec(spec) else TextPipeline.from_spec(spec)
