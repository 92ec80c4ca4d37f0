"""A full-rank linear classifier on sublinear TF-IDF n-grams: the hypothesis class of
TF-IDF + LinearSVC or logistic regression, as a torch model.

The features are exactly those of ``bag_of_ngrams`` (word unigrams from the vocabulary, word
n-grams up to ``ngrams`` hashed into ``buckets`` rows, optionally each word's character n-grams
from ``minn`` to ``maxn`` hashed into ``char_buckets`` rows; sublinear TF-IDF, L2-normalised per
document, each block on its own). What differs is the map to the classes: here every feature has
its own weight for every class (a table row of ``num_classes`` columns) and the logits are the
document's weighted sum of its rows plus a bias, with no low-rank layer in between. Ninety mostly
rare topics need that: a bag of 4 × 32 columns shares its few columns between all classes, and a
class seen ten times loses the competition for them.

With ``solver: svm`` the epoch loop does not train it: liblinear's linear SVM (scikit-learn's
``LinearSVC``, squared hinge loss, L2 penalty ``C``; one-vs-rest, and one per label for a
multi-label task) fits it in one pass over the training split (``training/solver.py``), on
these same features, and its weights are copied into the tables. That is TF-IDF + LinearSVC's
solver, converged, in seconds, and the model stays this torch model for export, explain, serving
and the Predictor.

Otherwise (``solver: sgd``) training is the usual loop: the tables are sparse (a step touches only the rows of its batch's
features, updated by RowAdam, SparseAdam's algorithm); ``l2`` adds ``l2/2 · ||w||²`` of the rows a batch reads to its
loss (the L2 penalty of logistic regression, applied lazily as sparse SGD implementations do),
and early stopping on validation does the rest of the regularising. The weights start at 0 (a
convex model needs no random start), so the first logits are the bias alone.
"""

from __future__ import annotations

from typing import Literal, Union

import numpy as np
import torch
from pydantic import Field, ValidationInfo, field_validator
from torch import nn

from textclf.models.bag_of_ngrams import BagOfNgrams, BagOfNgramsParams, unknown_chars_setting
from textclf.models.base import SOLVER_SETTING, BuildContext, lookup
from textclf.models.registry import ModelParams, register_model

__all__ = ["LinearModel", "LinearParams"]


class LinearParams(ModelParams):
    ngrams: int = Field(2, ge=1, le=5)  # word n-grams up to this length
    buckets: int = Field(500_000, ge=1)  # hash table rows for the n-grams of length >= 2
    min_df: int = Field(1, ge=1)  # features in fewer training documents weigh 0
    # A word feature (word or word n-gram) in more than this share of the training documents
    # weighs 0, as scikit-learn's max_df drops it; character n-grams keep theirs.
    max_df: float = Field(1.0, gt=0, le=1)
    # Character n-grams of each word, from minn to maxn characters (e.g. 2 and 5); 0: none.
    minn: int = Field(0, ge=0)
    maxn: int = Field(0, ge=0, validate_default=True)
    char_buckets: int = Field(200_000, ge=1)  # hash table rows for the character n-grams
    # With minn/maxn: a word outside the vocabulary brings its character n-grams too, cut when a
    # text is encoded, as fastText cuts unknown words (text/unknown_subwords.py); off: it is <unk>
    unknown_chars: bool = Field(False, validate_default=True)
    # L2 penalty on the weights of the features a batch reads (0: early stopping alone).
    l2: float = Field(0.0, ge=0)
    sparse: bool = True
    # sgd: the epoch loop (minibatches, early stopping); svm: a linear SVM fitted in one pass;
    # nbsvm: the same SVMs, each on the features scaled by its class's Naive Bayes log-count
    # ratios (Wang & Manning 2012), folded into its weights; nb: Complement Naive Bayes (Rennie et
    # al. 2003) fitted in one pass (single-label tasks).
    solver: Literal["sgd", "svm", "nbsvm", "nb"] = "sgd"
    # solver svm or nbsvm: the inverse strength of its L2 penalty; a list: fitted from the largest value
    # down until one scores below the best so far, and the best on the validation split kept
    # (accuracy; multi-label: micro-F1 at margin 0)
    C: Union[float, list[float]] = 1.0
    # solver svm: liblinear's stopping tolerance. 0.1 is liblinear's own default for this (dual)
    # solver; scikit-learn's LinearSVC uses 1e-4, which took longer for the same validation
    # accuracy (docs/architecture.md, "solver: svm").
    tol: float = Field(0.1, gt=0)
    # solver nb: the additive smoothing of the feature counts; a list: tried as C's is, the best
    # on the validation split kept (accuracy)
    alpha: Union[float, list[float]] = 1.0

    @field_validator("C", "alpha")
    @classmethod
    def _values_above_zero(cls, value, info: ValidationInfo):
        values = value if isinstance(value, list) else [value]
        if not values or any(not v > 0 for v in values):
            raise ValueError(f"{info.field_name}={value}: give a number above 0, or a list of them "
                             "(e.g. [0.1, 0.3, 1])")
        return value

    @field_validator("maxn")
    @classmethod
    def _char_range(cls, maxn: int, info: ValidationInfo) -> int:
        return BagOfNgramsParams._char_range(maxn, info)

    @field_validator("unknown_chars")
    @classmethod
    def _chars_of_unknown_words(cls, value: bool, info: ValidationInfo) -> bool:
        return BagOfNgramsParams._chars_of_unknown_words(value, info)

    def encoding_subwords(self) -> dict[str, int] | None:
        return unknown_chars_setting(self)


@register_model("linear", LinearParams)
class LinearModel(BagOfNgrams):
    """``BagOfNgrams`` whose tables have one column per class and no layer after them."""

    def __init__(self, params: LinearParams, context: BuildContext):
        bag = BagOfNgramsParams(
            embedding_dim=context.num_classes, ngrams=params.ngrams, buckets=params.buckets, tfidf=True,
            min_df=params.min_df, max_df=params.max_df, dropout=0.0, sparse=params.sparse, minn=params.minn,
            maxn=params.maxn, char_buckets=params.char_buckets, unknown_chars=params.unknown_chars, members=1)
        super().__init__(bag, context)
        self.l2 = params.l2
        self.solver = None if params.solver == "sgd" else params.solver
        self.C, self.tol, self.alpha = params.C, params.tol, params.alpha
        del self.fc  # the tables' columns are the classes' weights
        self.bias = nn.Parameter(torch.zeros(context.num_classes))
        for table in (self.embedding, self.ngram_embedding, self.char_embedding):
            if table is not None:
                nn.init.zeros_(table.weight)
        self.penalty: torch.Tensor | None = None  # the last training batch's L2 term

    def output(self, doc: torch.Tensor) -> torch.Tensor:
        return doc + self.bias  # (batch, num_classes)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        logits = super().forward(ids, lengths)
        if self.training and self.l2:  # the loop adds it to the batch's loss (regularization())
            self.penalty = self._penalty(ids, lengths)
        return logits

    def regularization(self) -> torch.Tensor | None:
        """The L2 term of the last training forward pass (None without ``l2``), consumed once."""
        penalty, self.penalty = self.penalty, None
        return penalty

    def _penalty(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        feats, valid, width = self.word_features(ids, lengths)
        total = torch.zeros((), device=ids.device)
        words = torch.unique(feats[:, :width][valid[:, :width]])
        total = total + _rows(self.embedding, words).pow(2).sum()
        if self.ngram_embedding is not None and feats.size(1) > width:
            grams = torch.unique(feats[:, width:][valid[:, width:]] - self.vocab_size)
            total = total + _rows(self.ngram_embedding, grams).pow(2).sum()
        if self.char_embedding is not None:
            _, bucket, _ = self.char_grams(ids, lengths)
            total = total + _rows(self.char_embedding, torch.unique(bucket)).pow(2).sum()
        return 0.5 * self.l2 * total

    @property
    def feature_columns(self) -> int:
        """Columns of the feature matrix: the words, the hashed n-grams, the character n-grams."""
        return self.num_features + (self.params.char_buckets if self.char_embedding is not None else 0)

    @torch.no_grad()
    def sparse_features(self, ids: torch.Tensor, lengths: torch.Tensor):
        """The batch as a sparse matrix, (rows, columns, values) 1-D tensors, each (row, column)
        once, such that ``forward`` is its product with the tables plus the bias."""
        feats, valid, width = self.word_features(ids, lengths)
        parts = []
        for columns, weights in self._sorted_tfidf(feats, valid, width):
            rows = torch.arange(ids.size(0), device=ids.device)[:, None].expand_as(columns)
            keep = weights != 0
            parts.append((rows[keep], columns[keep], weights[keep]))
        if self.char_embedding is not None:
            doc, bucket, weight = self.char_weights(ids, lengths)
            parts.append((doc, bucket + self.num_features, weight))
        return tuple(torch.cat(p) for p in zip(*parts))

    def artifact_params(self, params: dict) -> dict:
        """The config's parameters with the C and alpha the solver fitted (a list's choice on
        validation)."""
        return {**params, **{k: getattr(self, k) for k in SOLVER_SETTING.values() if k in params}}

    @torch.no_grad()
    def set_coefficients(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        """Take a solver's weights: ``coef`` (num_classes, feature_columns), ``intercept``
        (num_classes,)."""
        coef = torch.as_tensor(np.asarray(coef), dtype=self.bias.dtype)
        self.embedding.weight.copy_(coef[:, : self.vocab_size].T)
        self.embedding.weight[self.pad_id].zero_()
        if self.ngram_embedding is not None:
            self.ngram_embedding.weight[:-1].copy_(coef[:, self.vocab_size : self.num_features].T)
            self.ngram_embedding.weight[-1].zero_()  # the padding row
        if self.char_embedding is not None:
            self.char_embedding.weight.copy_(coef[:, self.num_features :].T)
        self.bias.copy_(torch.as_tensor(np.asarray(intercept), dtype=self.bias.dtype))


def _rows(table: nn.Embedding, rows: torch.Tensor) -> torch.Tensor:
    """``table``'s ``rows``, with a gradient as sparse as the table's."""
    return lookup(table, rows)
