"""fastText-style classifier: a document is the (weighted) mean of its word and n-gram vectors.

Unigrams use the vocabulary's ids; word n-grams of length 2..``ngrams`` are hashed into
``buckets`` rows of a second table (as fastText does, so no n-gram vocabulary is kept). The
document vector goes through one linear layer: a low-rank linear model over n-gram counts.

With ``minn``/``maxn`` (off by default) the document also has a bag of character n-grams: those of
each of its words (``models/subwords.py``; within word boundaries, as scikit-learn's ``char_wb``
analyzer and fastText's subwords), hashed into a third table of ``char_buckets`` rows, weighted
like the words (below) but normalised on their own, and added to the document vector. Words that
share a stem, an affix or a misspelling then share features, which helps short, noisy texts.
With ``unknown_chars`` a word outside the vocabulary brings its n-grams too: the text pipeline
appends their buckets after the document's word ids, as ids from ``vocab_size`` on
(``text/unknown_subwords.py``); ``words`` reads the ids before them, ``char_grams`` counts them.

Weighting of the features of one document (the character n-grams are a second block, weighted
the same way on their own):
- ``tfidf: false``: every token and n-gram occurrence counts once (fastText's average);
- ``tfidf: true``: sublinear TF-IDF, ``(1 + ln tf) * idf``, L2-normalised per document, with
  ``idf = ln((1 + n) / (1 + df)) + 1`` from the training split (scikit-learn's smooth idf) and
  features seen in fewer than ``min_df`` training documents (or never) weighted 0, as
  scikit-learn's vectorizers ignore words outside their vocabulary. The idf table is a buffer,
  so checkpoints carry it.

With ``members: K`` (1 by default) the model is K such classifiers trained side by side: each
has its own ``embedding_dim`` columns of every table and its own output layer, all read the same
batches, and each learns from its own loss (``task.py``: the mean of the members' losses). Their
mean probabilities are the prediction: an ensemble of K runs that differ in initialisation, at
about the cost of one model K times as wide (the rows a batch touches are the same).

Both tables are sparse by default: a step only touches the rows of the batch's features, and
those parameters are updated by ``RowAdam``, SparseAdam's algorithm (see ``training/optimizer.py``).
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field, ValidationInfo, field_validator
from torch import nn

from textclf.errors import ConfigError
from textclf.graph_inputs import MIX
from textclf.models.base import BuildContext, TextClassifier, lookup, sparse_bag
from textclf.models.char_memo import is_remembering, memo_for, table_key
from textclf.models.registry import ModelParams, register_model
from textclf.models.subwords import subword_bags, subword_table
from textclf.task import get_task

__all__ = ["BagOfNgrams", "BagOfNgramsParams", "hashed_ngrams", "unknown_chars_setting"]


class BagOfNgramsParams(ModelParams):
    embedding_dim: int = Field(100, ge=1)
    ngrams: int = Field(2, ge=1, le=5)  # word n-grams up to this length
    buckets: int = Field(500_000, ge=1)  # hash table rows for the n-grams of length >= 2
    tfidf: bool = False
    min_df: int = Field(1, ge=1)  # only with tfidf
    # Only with tfidf: a word feature (a word or word n-gram) in more than this share of the
    # training documents weighs nothing (its IDF is 0), as scikit-learn's max_df drops it: stop
    # words, a corpus's boilerplate. Character n-grams keep theirs.
    max_df: float = Field(1.0, gt=0, le=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    sparse: bool = True
    # Character n-grams of each word, from minn to maxn characters (e.g. 2 and 5); 0: none.
    minn: int = Field(0, ge=0)
    maxn: int = Field(0, ge=0, validate_default=True)
    char_buckets: int = Field(200_000, ge=1)  # hash table rows for the character n-grams
    # With minn/maxn: a word outside the vocabulary brings its character n-grams too, cut when a
    # text is encoded, as fastText cuts unknown words (text/unknown_subwords.py); off: it is <unk>
    unknown_chars: bool = Field(False, validate_default=True)
    # Classifiers trained side by side, each embedding_dim wide with its own output layer; the
    # prediction averages their probabilities (an ensemble at the cost of one wider model).
    members: int = Field(1, ge=1, le=16)

    @field_validator("maxn")
    @classmethod
    def _char_range(cls, maxn: int, info: ValidationInfo) -> int:
        minn = info.data.get("minn", 0)
        if (minn == 0) != (maxn == 0) or maxn < minn:
            raise ValueError(f"minn={minn}, maxn={maxn}: character n-grams need 1 <= minn <= maxn "
                             "(e.g. minn: 2, maxn: 5), or both 0 for none")
        return maxn

    @field_validator("unknown_chars")
    @classmethod
    def _chars_of_unknown_words(cls, value: bool, info: ValidationInfo) -> bool:
        if value and not info.data.get("minn"):
            raise ValueError("unknown_chars: true cuts unknown words into character n-grams, which need "
                             "minn and maxn (e.g. minn: 2, maxn: 5)")
        return value

    def encoding_subwords(self) -> dict[str, int] | None:
        return unknown_chars_setting(self)


def unknown_chars_setting(params) -> dict[str, int] | None:
    """The text pipeline's ``subwords`` for a bag's ``params`` (``ModelParams.encoding_subwords``)."""
    if not params.unknown_chars:
        return None
    return {"minn": params.minn, "maxn": params.maxn, "buckets": params.char_buckets}


def hashed_ngrams(ids: torch.Tensor, lengths: torch.Tensor, n: int, vocab_size: int, buckets: int):
    """Bucket of every word n-gram: ((batch, seq_len - n + 1) int64, valid mask of that shape)."""
    width = ids.size(1) - n + 1
    if width <= 0:
        empty = ids.new_zeros((ids.size(0), 0))
        return empty, empty.bool()
    key = ids[:, :width]
    for k in range(1, n):
        key = key * vocab_size + ids[:, k : k + width]
    # Multiply by an odd constant (wrapping in int64), keep the high bits: a cheap, stable mix.
    # Floor division by 2**20 is the arithmetic right shift. It is written as an exact division
    # of the product less its remainder, the same integers as rounding_mode="floor": that exports
    # as three ONNX operators (Mod, Sub, Div) where "floor" exports as nine (a sign correction).
    key = key * MIX  # (textclf/graph_inputs.py hashes alike in numpy, for exports)
    mixed = torch.div(key - torch.remainder(key, 1 << 20), 1 << 20, rounding_mode="trunc")
    bucket = torch.remainder(mixed, buckets)
    valid = torch.arange(width, device=ids.device)[None, :] < (lengths.to(ids.device) - n + 1)[:, None]
    return bucket, valid


@register_model("bag_of_ngrams", BagOfNgramsParams)
class BagOfNgrams(TextClassifier):
    needs_statistics = True  # document frequencies, for TF-IDF (a no-op without it)
    uses_every_parameter = True  # (a batch without n-grams reads the padding row: see _head)

    def __init__(self, params: BagOfNgramsParams, context: BuildContext):
        super().__init__()
        self.params = params
        self.vocab_size = context.vocab_size
        self.pad_id = context.pad_id
        self.task = get_task(context.task)
        member_dim = params.embedding_dim
        dim = member_dim * params.members  # the members' columns side by side
        self.embedding = nn.Embedding(context.vocab_size, dim, padding_idx=context.pad_id, sparse=params.sparse)
        self.ngram_embedding = (
            # One extra row, the padding row: positions past a document's end read it, and it
            # never gets a gradient (so padding cannot move any parameter).
            nn.Embedding(params.buckets + 1, dim, padding_idx=params.buckets, sparse=params.sparse)
            if params.ngrams > 1
            else None
        )
        # fastText's initialisation: uniform in ±1/dim, so the initial document vectors are small.
        for table in (self.embedding, self.ngram_embedding):
            if table is not None:
                nn.init.uniform_(table.weight, -1.0 / member_dim, 1.0 / member_dim)
        with torch.no_grad():
            self.embedding.weight[context.pad_id].zero_()
            if self.ngram_embedding is not None:
                self.ngram_embedding.weight[-1].zero_()
        self.register_buffer("idf", torch.ones(self.num_features) if params.tfidf else torch.ones(0))
        self.char_embedding = None
        self._memo_key = None  # (models/char_memo.py: made on first use, see memo_key)
        # Each document's ids may end in its unknown words' n-gram buckets (from vocab_size on).
        self.unknown_chars = bool(params.minn and params.unknown_chars)
        if params.minn:
            if len(context.tokens) != context.vocab_size:
                raise ConfigError("model.minn: character n-grams need the vocabulary's words, "
                                  "which this model was built without")
            offsets, rows = subword_table(context.tokens, params.minn, params.maxn, params.char_buckets)
            # Rebuilt from the vocabulary at every build: not part of the state dict.
            self.register_buffer("subword_offsets", offsets, persistent=False)
            self.register_buffer("subword_rows", rows, persistent=False)
            self.char_embedding = nn.Embedding(params.char_buckets, dim, sparse=params.sparse)
            nn.init.uniform_(self.char_embedding.weight, -1.0 / member_dim, 1.0 / member_dim)
            self.register_buffer("char_idf", torch.ones(params.char_buckets if params.tfidf else 0))
        self.dropout = nn.Dropout(params.dropout)
        if params.members == 1:
            self.fc = nn.Linear(dim, context.num_classes)
        else:  # one output layer per member, on its own columns
            self.member_fc = _MemberLinear(params.members, member_dim, context.num_classes)

    @property
    def memo_key(self) -> bytes | None:
        """The key of this vocabulary's n-gram table among the memos of documents' n-grams
        (``models/char_memo.py``); None without character n-grams (or with buckets past int32).
        Made on first use: hashing a 200,000-word table takes ~0.14 s, which a process that only
        loads the model to predict has no use for."""
        if self._memo_key is None and self.char_embedding is not None and self.params.char_buckets < 2**31:
            self._memo_key = table_key(self.subword_offsets, self.subword_rows, self.params.char_buckets,
                                       self.vocab_size, self.unknown_chars)
        return self._memo_key

    @property
    def num_features(self) -> int:
        return self.vocab_size + (self.params.buckets if self.params.ngrams > 1 else 0)

    def words(self, ids: torch.Tensor, lengths: torch.Tensor,
              narrow: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch's word ids without the unknown words' n-grams after them (``unknown_chars``):
        (the ids with those positions padding, each document's word count). ``narrow`` (in eager
        mode): only as many columns as the most words of a document. A long text's n-grams can
        make its row many times longer than its words (a 20 Newsgroups post: 3,000 columns of
        words, 20,900 with the n-grams), and the word features' sort would read them all."""
        if not self.unknown_chars:
            return ids, lengths
        inside = torch.arange(ids.size(1), device=ids.device)[None, :] < lengths.to(ids.device)[:, None]
        words = self._word_ids(ids)
        counts = (inside & (ids < self.vocab_size)).sum(1)
        if narrow and counts.numel() and not (torch.jit.is_tracing() or torch.compiler.is_compiling()):
            words = words[:, : max(int(counts.max()), 1)]
        return words, counts

    def _word_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """``ids`` with the unknown words' n-grams (from ``vocab_size`` on) as padding."""
        return torch.where(ids < self.vocab_size, ids, self.pad_id) if self.unknown_chars else ids

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return super().embed(self._word_ids(ids))  # (an n-gram has no token vector: padding's)

    def features(self, ids: torch.Tensor, lengths: torch.Tensor, narrow: bool = True):
        """Feature ids in [0, num_features) and their valid mask, both (batch, n_features), of the
        words (an unknown word's n-grams after them are read by ``char_grams``; ``narrow``: see
        ``words``)."""
        feats, valid, _ = self.word_features(ids, lengths, narrow)
        return feats, valid

    def word_features(self, ids: torch.Tensor, lengths: torch.Tensor, narrow: bool = True):
        """``features`` and the width of their unigrams' block: the first columns, a word each."""
        ids, lengths = self.words(ids, lengths, narrow)
        mask = torch.arange(ids.size(1), device=ids.device)[None, :] < lengths.to(ids.device)[:, None]
        feats, valid = [ids], [mask]
        for n in range(2, self.params.ngrams + 1):
            bucket, ok = hashed_ngrams(ids, lengths, n, self.vocab_size, self.params.buckets)
            feats.append(bucket + self.vocab_size)
            valid.append(ok)
        return torch.cat(feats, 1), torch.cat(valid, 1), ids.size(1)

    def fit_statistics(self, ids_batches) -> None:
        """Document frequencies from the training split, for TF-IDF: ``ids_batches`` yields
        (ids, lengths) tensors. Does nothing without ``tfidf``."""
        if not self.params.tfidf:
            return
        df = torch.zeros(self.num_features, dtype=torch.float64)
        char_df = torch.zeros(self.params.char_buckets if self.char_embedding is not None else 0, dtype=torch.int64)
        n_docs = 0
        for ids, lengths in ids_batches:
            feats, valid = self.features(ids, lengths)
            ordered, first, _ = self._sorted_runs(feats, valid)
            df += torch.bincount(ordered[first], minlength=self.num_features).double()  # each document once
            n_docs += ids.size(0)
            if self.char_embedding is not None:
                char_df += torch.bincount(self.char_grams(ids, lengths)[1], minlength=self.params.char_buckets)
        self.idf.copy_(self._idf(df, n_docs, self.params.max_df))
        if self.char_embedding is not None:
            self.char_idf.copy_(self._idf(char_df.double(), n_docs))

    def _idf(self, df: torch.Tensor, n_docs: int, max_df: float = 1.0) -> torch.Tensor:
        idf = torch.log((1.0 + n_docs) / (1.0 + df)) + 1.0
        idf[df < self.params.min_df] = 0.0  # and features never seen in training (df = 0)
        idf[df == 0] = 0.0
        idf[df > max_df * n_docs] = 0.0
        return idf.float()

    def char_grams(self, ids: torch.Tensor, lengths: torch.Tensor, unique=None):
        """The batch's distinct (document, character n-gram) pairs, ordered by document:
        (document index, bucket, count in the document), each 1-D. ``unique``: a function with
        ``torch.unique``'s sorted results (distinct values, inverse, counts) for the export. While
        training on the CPU in eager mode each document's are counted once (``models/char_memo.py``)."""
        if (unique is None and ids.device.type == "cpu" and is_remembering() and self.memo_key is not None
                and not (torch.jit.is_tracing() or torch.compiler.is_compiling())):
            return memo_for(self.memo_key).grams(ids, lengths, self.count_char_grams)
        return self.count_char_grams(ids, lengths, unique)

    def count_char_grams(self, ids: torch.Tensor, lengths: torch.Tensor, unique=None):
        """``char_grams`` counted from the ids and the vocabulary's n-gram table."""
        unique = unique or (lambda x: torch.unique(x, return_inverse=True, return_counts=True))
        inside = torch.arange(ids.size(1), device=ids.device)[None, :] < lengths.to(ids.device)[:, None]
        mask = inside & (ids < self.vocab_size) if self.unknown_chars else inside
        all_docs = torch.arange(ids.size(0), device=ids.device)[:, None].expand_as(ids)
        # Each distinct word of a document once, with its count; then its n-grams.
        pairs, _, counts = unique(all_docs[mask] * self.vocab_size + ids[mask])
        flat, word = subword_bags(self.subword_offsets, self.subword_rows, pairs % self.vocab_size)
        buckets = self.params.char_buckets
        keys = (pairs // self.vocab_size)[word] * buckets + flat
        counts = counts[word]
        if self.unknown_chars:  # and each of an unknown word's n-grams after the words, once
            tail = inside & (ids >= self.vocab_size)
            tail_keys = all_docs[tail] * buckets + ids[tail] - self.vocab_size
            keys, counts = torch.cat([keys, tail_keys]), torch.cat([counts, torch.ones_like(tail_keys)])
        distinct, inverse, _ = unique(keys)
        tf = torch.zeros(distinct.numel(), device=ids.device).scatter_add_(0, inverse, counts.float())
        return distinct // buckets, distinct % buckets, tf

    def char_weights(self, ids: torch.Tensor, lengths: torch.Tensor, unique=None):
        """The batch's character n-grams as (document index, bucket, weight), ordered by document:
        sublinear TF-IDF normalised per document with ``tfidf``, else each document's mean."""
        doc, bucket, tf = self.char_grams(ids, lengths, unique)
        total = torch.zeros(ids.size(0), device=ids.device)
        if self.params.tfidf:
            weight = self.char_idf[bucket] * (1.0 + torch.log(tf))
            norm = total.scatter_add(0, doc, weight * weight).sqrt()
        else:
            weight, norm = tf, total.scatter_add(0, doc, tf)
        return doc, bucket, weight / norm.clamp_min(1e-12)[doc]

    def char_document(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(batch, dim): the weighted sum of each document's character n-gram vectors."""
        doc, bucket, weight = self.char_weights(ids, lengths)
        per_doc = torch.bincount(doc, minlength=ids.size(0))
        return _bag(self.char_embedding, bucket, weight, offsets=torch.cumsum(per_doc, 0) - per_doc)

    def _weights(self, feats: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(batch, n_features) weight of each feature occurrence, in the order of ``feats``; 0
        where not valid. With TF-IDF a feature's weight is shared by its ``tf`` occurrences."""
        if not self.params.tfidf:
            count = valid.sum(1, keepdim=True).clamp_min(1)
            return valid.float() / count
        positions = torch.zeros_like(feats) + torch.arange(feats.size(1), device=feats.device)
        keys = torch.where(valid, feats, -1 - positions)  # each invalid position is its own run
        ordered, order = _sort(keys, with_order=True)
        _, run_tf = _runs(ordered)
        tf = torch.zeros_like(run_tf).scatter(1, order, run_tf)  # back to the order of feats
        per_doc = self.idf[feats] * (1.0 + torch.log(tf)) * valid  # the document's TF-IDF of this feature
        # Each distinct feature occurs tf times: sum of per_doc² / tf is the squared L2 norm.
        norm = torch.sqrt((per_doc.pow(2) / tf).sum(1, keepdim=True)).clamp_min(1e-12)
        return per_doc / tf / norm

    def _sorted_tfidf(self, feats: torch.Tensor, valid: torch.Tensor, width: int):
        """The word features' sublinear TF-IDF as ``[(features, weights)]``, one pair of (batch,
        n) tensors for the unigrams (the first ``width`` columns) and one for the n-grams: each
        document's features sorted, a feature's whole weight on its first occurrence and 0 on
        its repeats and on invalid positions, L2-normalised over both blocks. The same sums as
        ``_weights``, without putting the weights back in the order of ``feats`` (a scatter)."""
        blocks, squares = [], None
        for keys, ok in ((feats[:, :width], valid[:, :width]), (feats[:, width:], valid[:, width:])):
            ordered, first, tf = self._sorted_runs(keys, ok)
            idf = self.idf[ordered.clamp_max(self.num_features - 1)]
            weight = torch.where(first, idf * (1.0 + torch.log(tf)), 0.0)
            part = weight.pow(2).sum(1, keepdim=True)
            squares = part if squares is None else squares + part
            blocks.append((ordered, weight))
        norm = squares.sqrt().clamp_min(1e-12)
        return [(ordered, weight / norm) for ordered, weight in blocks]

    def _sorted_runs(self, feats: torch.Tensor, valid: torch.Tensor):
        """Each row of ``feats`` sorted, its invalid positions last (as ``num_features``):
        (the sorted features, whether each position is a feature's first occurrence, the number
        of occurrences of the feature at each position, as floats)."""
        ordered, _ = _sort(torch.where(valid, feats, self.num_features))
        first, tf = _runs(ordered)
        return ordered, first & (ordered < self.num_features), tf

    def _table_terms(self, feats: torch.Tensor, valid: torch.Tensor, width: int, aligned: bool = False):
        """Rows and weights for the two word tables: ``((unigram rows, weights), (n-gram rows,
        weights))``, each a (batch, n) pair, weight 0 on the padding rows. ``aligned``: column
        i of the unigrams is token i (``classify`` multiplies the token vectors with them); else,
        with TF-IDF, in ``_sorted_tfidf``'s order (faster)."""
        if self.params.tfidf and not aligned:
            (words, word_w), (grams, gram_w) = self._sorted_tfidf(feats, valid, width)
            word_rows = torch.where(word_w != 0, words, self.pad_id)
            gram_rows = torch.where(gram_w != 0, grams - self.vocab_size, self.params.buckets)
            return (word_rows, word_w), (gram_rows, gram_w)
        weights = self._weights(feats, valid)
        gram_rows = torch.where(valid[:, width:], feats[:, width:] - self.vocab_size, self.params.buckets)
        return (feats[:, :width], weights[:, :width]), (gram_rows, weights[:, width:])

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # Weighted sums of the tables' rows, without materialising the token vectors.
        feats, valid, width = self.word_features(ids, lengths)
        (words, word_w), grams = self._table_terms(feats, valid, width)
        doc = _bag(self.embedding, words, word_w, padding_idx=self.pad_id)
        return self._head(doc, grams, ids, lengths)

    def classify(self, embedded: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The same logits from the (batch, seq_len, dim) token vectors (for explanations)."""
        feats, valid = self.features(ids, lengths, narrow=False)  # (a column a token vector)
        (_, word_w), grams = self._table_terms(feats, valid, ids.size(1), aligned=True)
        doc = torch.bmm(word_w[:, None, :], embedded).squeeze(1)  # (batch, dim)
        return self._head(doc, grams, ids, lengths)

    def export_module(self) -> nn.Module:
        return _FeatureForm(self) if self.export_inputs() else _ExportForm(self)

    def export_subwords(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The words' character n-gram table that the export's feeds need (with TF-IDF and
        character n-grams)."""
        if self.export_inputs() is None or self.char_embedding is None:
            return None
        return self.subword_offsets.numpy(), self.subword_rows.numpy()

    def export_inputs(self) -> dict | None:
        """With TF-IDF the export is fed the word features (and character n-grams) made in
        numpy (``textclf/graph_inputs.py``), not the ids: see ``_FeatureForm``."""
        if not self.params.tfidf:
            return None
        inputs = {"form": "word_features", "vocab_size": self.vocab_size, "buckets": self.params.buckets,
                  "ngrams": self.params.ngrams}
        if self.char_embedding is not None:
            inputs["chars"] = {"minn": self.params.minn, "maxn": self.params.maxn, "buckets": self.params.char_buckets}
            if self.unknown_chars:  # (the ids end in unknown words' n-grams: graph_inputs.word_lengths)
                inputs["chars"]["unknown"] = True
        return inputs

    def _head(self, doc, grams, ids, lengths) -> torch.Tensor:
        """Add the hashed n-grams' vectors (``grams``: their rows and weights) and the character
        n-grams' to the unigrams' sum ``doc``; classify."""
        if self.ngram_embedding is not None:
            rows, weights = grams
            if rows.size(1) == 0:  # one-word documents have no n-grams: read the padding row
                # (weight 0), so the table is in every step's graph (DDP without find_unused_parameters)
                rows = torch.full((doc.size(0), 1), self.params.buckets, dtype=rows.dtype, device=rows.device)
                weights = torch.zeros((doc.size(0), 1), dtype=weights.dtype, device=weights.device)
            doc = doc + _bag(self.ngram_embedding, rows, weights, padding_idx=self.params.buckets)
        if self.char_embedding is not None:
            doc = doc + self.char_document(ids, lengths)
        return self.output(self.dropout(doc))

    def output(self, doc: torch.Tensor) -> torch.Tensor:
        """(batch, num_classes) logits of the document vectors; with several members, in training,
        each member's: (batch, members, num_classes)."""
        if self.params.members == 1:
            return self.fc(doc)
        logits = self.member_fc(doc)
        return logits if self.training else self.task.combine(logits)


class _MemberLinear(nn.Module):
    """``members`` linear layers side by side: member k maps columns ``k*dim:(k+1)*dim`` of the
    input to its own logits; (batch, members * dim) -> (batch, members, out)."""

    def __init__(self, members: int, dim: int, out: int):
        super().__init__()
        self.members = members
        bound = 1.0 / dim ** 0.5  # nn.Linear's initialisation, per member
        self.weight = nn.Parameter(torch.empty(members, out, dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(x.size(0), self.members, -1)
        return torch.einsum("bkd,kod->bko", x, self.weight) + self.bias


def _bag(table: nn.Embedding, rows: torch.Tensor, weights: torch.Tensor, offsets: torch.Tensor | None = None,
         padding_idx: int | None = None) -> torch.Tensor:
    """``embedding_bag``'s weighted sums of ``table``'s ``rows`` (2-D, or 1-D with ``offsets``),
    with a gradient of one entry per distinct row of the batch instead of one per occurrence, so
    the optimizer's step reads each row once: a sparse table's through ``sparse_bag`` (its own
    backward), else (``model.sparse: false``; weights that need a gradient) by reading each
    distinct row once. ``padding_idx``'s row gets no gradient.

    Without gradients (prediction) it is one ``embedding_bag`` call without ``padding_idx`` (the
    padding rows' weights are 0 wherever they are read), which keeps it on the fast kernel."""
    if not torch.is_grad_enabled():
        return nn.functional.embedding_bag(rows, table.weight, offsets, mode="sum", per_sample_weights=weights)
    if table.sparse and not weights.requires_grad:
        return sparse_bag(table, rows, weights, offsets, padding_idx)
    distinct, inverse = torch.unique(rows, return_inverse=True)
    vectors = lookup(table, distinct, padding_idx)
    return nn.functional.embedding_bag(inverse, vectors, offsets, mode="sum", per_sample_weights=weights)


class _ExportForm(nn.Module):
    """The same logits without ``embedding_bag`` (whose ``padding_idx`` ONNX cannot express), for
    a bag without TF-IDF (a TF-IDF bag's export is ``_FeatureForm``): rows are gathered and summed
    with their weights (a batched MatMul), which are 0 wherever ``padding_idx`` would have skipped
    a row. The ids get ``ngrams - 1`` padding columns first, so that every n-gram length has at
    least one (masked) position whatever the traced length is.

    Gathering the rows is most of the work in onnxruntime, so when the output layer has fewer
    columns than the tables (members × classes < members × embedding_dim: a few classes) the
    tables are exported already multiplied by it: a document's weighted sum of projected rows is
    its logits before the bias (the layer is linear and dropout is off), and each gathered row is
    ``members × classes`` numbers wide instead of ``members × embedding_dim``."""

    def __init__(self, model: BagOfNgrams):
        super().__init__()
        self.model = model
        tables = {"embedding": model.embedding, "ngram_embedding": model.ngram_embedding,
                  "char_embedding": model.char_embedding}
        tables = {name: None if t is None else t.weight.detach() for name, t in tables.items()}
        self.register_buffer("projected_bias", None)
        layer = _output_layer(model)
        if layer is not None and layer[0].size(1) < model.embedding.embedding_dim:
            weight, bias = layer
            self.projected_bias = bias.float()
            tables = {name: None if t is None else (t.double() @ weight).float() for name, t in tables.items()}
        self.register_buffer("word_table", tables["embedding"])
        self.register_buffer("ngram_table", tables["ngram_embedding"])
        self.register_buffer("char_table", tables["char_embedding"])

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        m = self.model
        ids = nn.functional.pad(ids, (0, m.params.ngrams - 1), value=m.pad_id)
        feats, valid = m.features(ids, lengths, narrow=False)  # (a traced graph keeps its shapes)
        (words, word_w), (grams, gram_w) = m._table_terms(feats, valid, ids.size(1))
        doc = _weighted_rows(self.word_table, words, word_w)
        if self.ngram_table is not None:
            doc = doc + _weighted_rows(self.ngram_table, grams, gram_w)
        if self.char_table is not None:
            doc = doc + self._char_document(ids, lengths, self.char_table)
        return self._logits(doc)

    def _logits(self, doc: torch.Tensor) -> torch.Tensor:
        m = self.model
        if self.projected_bias is None:
            return m.output(doc)
        logits = doc + self.projected_bias
        if m.params.members == 1:
            return logits
        return m.task.combine(logits.view(logits.size(0), m.params.members, -1))

    def _char_document(self, ids: torch.Tensor, lengths: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """``BagOfNgrams.char_document`` without ``embedding_bag``'s offsets form (no ONNX
        export): each document's distinct n-grams (they come ordered by document) are laid out
        in a row of a (documents, most n-grams of one) matrix, weight 0 where a row is shorter,
        and summed by the batched MatMul of the word n-grams. In onnxruntime this was faster on
        20 Newsgroups than differences of float64 running sums over all the batch's n-gram vectors
        (a cast and a cumulative sum of every vector; they had been faster than a ScatterElements
        add); sorting each row's n-grams instead of the whole batch's made the
        sort cheaper but the gather dearer (a word shares n-grams with others), and was no faster
        in all (``benchmarks/onnx_profile.py`` shows the operators' shares)."""
        m = self.model
        docs, bucket, weight = m.char_weights(ids, lengths, unique=_sorted_unique)
        per_doc = torch.zeros_like(lengths).scatter_add(0, docs, torch.ones_like(docs))
        width = per_doc.max()
        slot = docs * width + torch.arange(docs.size(0), device=docs.device) - (torch.cumsum(per_doc, 0) - per_doc)[docs]
        cells = lengths.size(0) * width
        rows = torch.zeros(cells, dtype=bucket.dtype, device=bucket.device).scatter(0, slot, bucket)
        weights = torch.zeros(cells, dtype=weight.dtype, device=weight.device).scatter(0, slot, weight)
        return _weighted_rows(table, rows.view(lengths.size(0), -1), weights.view(lengths.size(0), -1))


class _FeatureForm(_ExportForm):
    """The export of a bag with TF-IDF, fed each document's distinct word features and their ``1 +
    log tf`` weights, and with character n-grams each document's distinct n-gram buckets and
    theirs, all made in numpy by ``textclf/graph_inputs.py`` (``export_inputs`` records how).

    The word and n-gram tables are exported as one, and the character n-grams' as another: a
    feature's row is its IDF squared, then its vector times its IDF; a zero row last stands for
    padding. One Gather reads each position's row and one batched MatMul sums them with two
    weights a position, ``1 + log tf`` and its square: the first gives the TF-IDF sum of vectors,
    the second the squared L2 norm (the IDF² column) that divides it. The 20 Newsgroups linear
    model's export ran about twice as fast model only as when the graph sorted the features
    itself (``benchmarks/onnx_profile.py``, RESULTS.md "onnx-profile")."""

    def __init__(self, model: BagOfNgrams):
        super().__init__(model)
        words = [self.word_table] + ([self.ngram_table[:-1]] if self.ngram_table is not None else [])
        self.word_table = _tfidf_table(torch.cat(words), model.idf)  # (the n-grams' padding row: the zero row)
        self.ngram_table = None
        if self.char_table is not None:
            self.char_table = _tfidf_table(self.char_table, model.char_idf)

    def forward(self, features: torch.Tensor, weights: torch.Tensor, char_rows: torch.Tensor | None = None,
                char_weights: torch.Tensor | None = None) -> torch.Tensor:
        doc = _tfidf_sum(self.word_table, features, weights)
        if char_rows is not None:
            doc = doc + _tfidf_sum(self.char_table, char_rows, char_weights)
        return self._logits(doc)


def _tfidf_table(rows: torch.Tensor, idf: torch.Tensor) -> torch.Tensor:
    """(rows + 1, 1 + columns) float32: each row's IDF², then the row times its IDF; a zero row last."""
    rows = torch.cat([rows, torch.zeros_like(rows[:1])]).double()
    idf = torch.cat([idf, torch.zeros(1, dtype=idf.dtype)])[:, None].double()
    return torch.cat([idf ** 2, rows * idf], 1).float()


def _tfidf_sum(table: torch.Tensor, features: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(batch, columns) of each document's distinct ``features`` (padding: ``table``'s zero row)
    and their ``weight``, ``1 + log tf`` (0 on padding): the TF-IDF sum of their vectors over its
    L2 norm."""
    rows = table[features]  # (batch, n, 1 + columns)
    sums = torch.bmm(torch.stack([weight, weight * weight], 1), rows)  # (batch, 2, 1 + columns)
    return sums[:, 0, 1:] / sums[:, 1, :1].sqrt().clamp_min(1e-12)


def _weighted_rows(table: torch.Tensor, rows: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(batch, columns): each document's rows of ``table`` summed with ``weights`` (batch, n), as
    one batched MatMul (no (batch, n, columns) product to materialise and reduce)."""
    return torch.bmm(weights[:, None, :], table[rows]).squeeze(1)


def _output_layer(model: BagOfNgrams) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The bag's output layer as one matrix (table columns, members × classes; float64) and its
    bias, when the output is the bag's own linear layer (a subclass may replace it)."""
    if type(model).output is not BagOfNgrams.output:
        return None
    if model.params.members == 1:
        return model.fc.weight.detach().double().T, model.fc.bias.detach().double()
    fc = model.member_fc  # member k: columns k*dim:(k+1)*dim to its own classes, a diagonal block
    return torch.block_diag(*fc.weight.detach().double().transpose(1, 2)), fc.bias.detach().double().flatten()


def _sort(values: torch.Tensor, with_order: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``values`` (integers) sorted along their last dimension, and with ``with_order`` the
    indices that sort them (else None). On the CPU in eager mode by numpy, whose sort and argsort
    are vectorised (x86-simd-sort): on int64 rows shaped like a batch's features ``np.sort`` ran
    4.6-4.8 times and ``np.argsort`` about twice as fast as ``torch.sort`` on this machine's two
    threads (``benchmarks/sort_speed.py``). ``torch.sort`` on a GPU, and while tracing (the
    ONNX export) or compiling. Ties may come in any order: runs of equal values are all that is
    read from them."""
    if values.device.type == "cpu" and not (torch.jit.is_tracing() or torch.compiler.is_compiling()):
        array = values.numpy()
        if not with_order:
            return torch.from_numpy(np.sort(array, axis=-1)), None
        order = np.argsort(array, axis=-1)
        return torch.from_numpy(np.take_along_axis(array, order, axis=-1)), torch.from_numpy(order)
    ordered, order = torch.sort(values, dim=-1)
    return ordered, order if with_order else None


def _sorted_unique(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``torch.unique(values, return_inverse=True, return_counts=True)`` of a 1-D tensor by a
    sort and the boundaries of its runs: onnxruntime's Unique took three quarters of a character
    n-gram bag's time on 20 Newsgroups, its TopK (what a sort exports as) a part of that
    (``benchmarks/onnx_profile.py``)."""
    ordered, order = _sort(values, with_order=True)
    starts = torch.cat([torch.ones_like(ordered[:1], dtype=torch.bool), ordered[1:] != ordered[:-1]])
    group = torch.cumsum(starts.long(), 0) - 1  # the run of each sorted value
    distinct = ordered[starts]
    inverse = torch.zeros_like(group).scatter(0, order, group)
    counts = torch.zeros_like(distinct).scatter_add(0, group, torch.ones_like(group))
    return distinct, inverse, counts


def _runs(ordered: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Of a (batch, n) tensor sorted along each row: (whether each position starts a run of
    equal values, the length of the run each position is in, as floats): term frequencies by a
    sort instead of ``torch.unique``, whose traced form fixes the batch shape and which took
    longer than the sort on 20 Newsgroups."""
    first = torch.cat([torch.ones_like(ordered[:, :1], dtype=torch.bool), ordered[:, 1:] != ordered[:, :-1]], dim=1)
    run = torch.cumsum(first.long(), dim=1) - 1  # the run of each position
    counts = torch.zeros_like(run).scatter_add(1, run, torch.ones_like(run))
    return first, counts.gather(1, run).float()
