"""Fitting a model by a convex solver in one pass, instead of the epoch loop's minibatch steps.

A model that declares a ``solver`` (``models/linear.py`` with ``solver: svm``) gives its
features as a sparse matrix; the training split becomes one CSR matrix (documents in order), the
solver fits it to convergence, and its weights go back into the model. For the loop this is one
epoch: the record, the validation, the checkpoint and TensorBoard are as for any run.

- ``nb``: Complement Naive Bayes (scikit-learn's ``ComplementNB``) on the same features, a
  single-label task only: one pass over the counts, its log-weights as the model's weights.
- ``svm``: liblinear's linear SVM (scikit-learn's ``LinearSVC``: squared hinge loss, L2 penalty
  with ``C``), one-vs-rest for a multiclass task (two classes: one SVM, its margin split evenly
  between the two logits) and one SVM per label for a multi-label one (a label that every or no
  training document has gets a constant logit). Class weights and sample weights are passed on.
  The SVMs train side by side on as many CPUs as torch uses, each call in a forked process of
  its own (see ``_in_parallel``: in threads, a fit with a fixed seed differed from run to run).
- ``nbsvm``: the same SVMs, each fitted on the features scaled by its class's Naive Bayes
  log-count ratios (NBSVM: Wang & Manning 2012, "Baselines and bigrams"): a feature found in a
  larger share of the class's documents than of the others' weighs more. Each class or label is
  then a liblinear call of its own (its matrix differs); its weights times the ratios are the
  model's weights, so the model and its features stay those of ``svm``.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from typing import Any, Callable

import numpy as np
import torch

from textclf.batching import sorted_batches
from textclf.errors import UsageError
from textclf.forked import fork_map
from textclf.models.base import SOLVER_SETTING

__all__ = ["fit_with_solver", "feature_matrix", "fit_svms", "nb_ratios", "fit_complement_nb"]


# The last few feature matrices built in this process, by (documents, features): the default
# selection's linear candidates (the SVM, Naive Bayes) read the same TF-IDF features of the same
# splits, and so do their refits.
_MATRICES: "OrderedDict[tuple, object]" = OrderedDict()
_KEEP = 3


def feature_matrix(model, split, batch_size: int = 1024):
    """The split's documents as the model's sparse feature matrix (scipy CSR, one row each, in
    order; the same documents and features as one of the last few: that matrix again)."""
    key = _matrix_key(model, split)
    if key is not None and key in _MATRICES:
        _MATRICES.move_to_end(key)
        return _MATRICES[key]
    matrix = _build_matrix(model, split, batch_size)
    if key is not None:
        _MATRICES[key] = matrix
        while len(_MATRICES) > _KEEP:
            _MATRICES.popitem(last=False)
    return matrix


def _matrix_key(model, split) -> tuple | None:
    """What a feature matrix depends on: the documents' ids and the model's features (its
    settings and fitted TF-IDF weights); None for a model whose features are not those of the
    bag (e.g. a frozen encoder's vectors)."""
    if not hasattr(model, "idf"):
        return None
    digest = hashlib.blake2b(digest_size=16)
    for array in (split.ids, split.offsets, model.idf.cpu().numpy(), getattr(model, "char_idf", torch.ones(0)).cpu().numpy()):
        digest.update(np.ascontiguousarray(array).tobytes())
    return type(model).__name__, repr(model.params), model.feature_columns, digest.hexdigest()


def _build_matrix(model, split, batch_size: int):
    import scipy.sparse as sp

    device = next(model.parameters()).device  # (features on the model's device, e.g. a GPU; the matrix on the CPU)
    in_numpy = _tfidf_rows(model) if device.type == "cpu" else None
    rows, cols, vals = [], [], []
    for indices, (ids, lengths, _) in sorted_batches(split, batch_size):
        if in_numpy is not None:
            r, c, v = in_numpy(ids.numpy(), lengths.numpy())
        else:
            r, c, v = (t.cpu().numpy() for t in model.sparse_features(ids.to(device), lengths.to(device)))
        rows.append(np.asarray(indices)[r])  # batch rows -> document indices
        cols.append(c)
        vals.append(v)
    matrix = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(len(split), model.feature_columns), dtype=np.float64)
    return matrix.tocsr()


def _tfidf_rows(model) -> Callable[[np.ndarray, np.ndarray], tuple] | None:
    """A function of a padded batch (ids, lengths) giving ``model.sparse_features``' (rows,
    columns, values) in numpy, for a bag with TF-IDF (None for another model): what its ONNX
    export is fed (``graph_inputs``: each document's distinct features and their counts, made with
    numpy's sort), ``1 + log tf`` times each feature's IDF, L2-normalised per document over the
    word features and over the character n-grams apart, as the model's forward pass weighs them.
    On 20 Newsgroups bydate's training posts it took about two thirds of the torch path's time,
    four fifths with character n-grams (the default selection builds four such matrices: train,
    val, and both again for the refit's IDF)."""
    from textclf.graph_inputs import char_runs, feature_runs, word_features, word_lengths

    inputs = model.export_inputs() if hasattr(model, "export_inputs") else None
    if inputs is None:
        return None
    vocab_size, chars = inputs["vocab_size"], inputs.get("chars")
    words = model.num_features  # (the word features' columns; the character n-grams' start after them)
    subwords = model.export_subwords()
    idf = model.idf.cpu().numpy()
    char_idf = model.char_idf.cpu().numpy() if chars else None

    def rows(ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        features = word_features(ids, word_lengths(inputs, ids, lengths), vocab_size, inputs["buckets"],
                                 inputs["ngrams"])
        parts = [_normalised(*feature_runs(features, words), idf, 0, len(ids))]
        if chars:
            runs = char_runs(ids, lengths, vocab_size, chars["buckets"], subwords)
            parts.append(_normalised(*runs, char_idf, words, len(ids)))
        return tuple(np.concatenate(p) for p in zip(*parts))

    return rows


def _normalised(row: np.ndarray, feature: np.ndarray, tf: np.ndarray, idf: np.ndarray, first_column: int,
                batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, columns, values) of one block: each feature's ``1 + log tf`` times its IDF, over the
    document's L2 norm of them (a feature whose IDF is 0 left out, as the model leaves it)."""
    value = idf[feature] * (1.0 + np.log(tf.astype(np.float32)))
    norm = np.sqrt(np.bincount(row, weights=value * value, minlength=batch))
    value /= np.maximum(norm, 1e-12).astype(np.float32)[row]
    kept = value != 0
    return row[kept], feature[kept] + first_column, value[kept]


def fit_with_solver(setup) -> tuple[float, int, int]:
    """Fit ``setup.model`` with its solver on the training split; the training loss, the correct
    count (as the loop counts them) and the number of examples."""
    model, split, task = setup.model, setup.prepared.splits["train"], setup.task
    if setup.distributed.active:
        raise UsageError(f"a model fitted by a solver (model.solver: {model.solver}) trains in one process: "
                         "run it without torchrun, or set model.solver: sgd")
    if model.solver == "nb" and task.multilabel:
        raise UsageError("model.solver: nb (Complement Naive Bayes) is for single-label tasks: "
                         "use model.solver: svm for a multilabel one")
    from sklearn.exceptions import ConvergenceWarning

    X = feature_matrix(model, split)
    labels = np.asarray(split.labels)
    sample_weight = None if split.weights is None else np.asarray(split.weights, dtype=np.float64)
    weights = None if setup.class_weights is None else setup.class_weights.cpu().numpy()

    def fit(value: float):
        if model.solver == "nb":
            return fit_complement_nb(X, labels, setup.prepared.num_classes, value, weights, sample_weight)
        # liblinear's iteration cap is reached only on degenerate data. (The filter is set here,
        # in this thread, for the solver's threads too: catch_warnings is not thread-safe.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return fit_svms(X, labels, task.multilabel, setup.prepared.num_classes, value, weights, sample_weight,
                            model.tol, nb=model.solver == "nbsvm")

    name = SOLVER_SETTING[model.solver]  # (a list of it: tried on validation, the best kept)
    if isinstance(getattr(model, name), list):  # (artifacts store the value kept)
        coef, intercept, kept = _best_on_validation(model, setup, fit, name)
        setattr(model, name, kept)
    else:
        coef, intercept = fit(getattr(model, name))
    model.set_coefficients(coef, intercept)
    logits = torch.as_tensor(np.asarray(X @ coef.T) + intercept, dtype=torch.float32, device=setup.device)
    # (a copy either way: a cached split's labels are a read-only memory map, which torch warns about)
    targets = torch.from_numpy(np.array(labels) if task.multilabel else labels.astype(np.int64)).to(setup.device)
    with torch.no_grad():
        loss = float(setup.criterion(logits, targets))
    return loss * len(split), task.correct(logits, targets), len(split)


def _best_on_validation(model, setup, fit, name: str):
    """Fit the values of the model's list ``name`` (C, alpha) from the largest down, and keep the
    best on the validation split (accuracy, or micro-F1 at margin 0 for multi-label; ties: the
    smaller value: for C the stronger penalty): its coefficients, intercepts and value. The walk
    stops at the first value that scores below the best so far: validation accuracy rises and
    then falls with the penalty, and the largest C is the dearest fit, so on long documents,
    where it wins, the smaller ones are not fitted at all (docs/architecture.md, "solver: svm")."""
    from sklearn.metrics import f1_score

    val = setup.prepared.splits["val"]
    V, truth = feature_matrix(model, val), np.asarray(val.labels)
    values = sorted(getattr(model, name), reverse=True)
    scores = []
    for value in values:
        coef, intercept = fit(value)
        margins = np.asarray(V @ coef.T) + intercept
        if setup.task.multilabel:
            score = f1_score(truth, (margins > 0).astype(np.int64), average="micro", zero_division=0)
        else:
            score = float((margins.argmax(1) == truth).mean())
        scores.append((score, -value, coef, intercept))
        if score < max(s[0] for s in scores):
            break
    score, neg_value, coef, intercept = max(scores, key=lambda s: s[:2])
    tried = ", ".join(f"{-s[1]:g}: {s[0]:.4f}" for s in sorted(scores, key=lambda s: -s[1]))
    left = [f"{v:g}" for v in values[len(scores):]]
    print(f"model.{name}: {-neg_value:g} kept, best on validation ({tried})"
          + (f"; {', '.join(left)} not fitted ({-scores[-1][1]:g} already scored lower)" if left else ""),
          flush=True)
    return coef, intercept, -neg_value


def fit_complement_nb(X, y, num_classes: int, alpha: float, weights=None, sample_weight=None):
    """Complement Naive Bayes (scikit-learn's ``ComplementNB``, Rennie et al. 2003) on the sparse
    matrix ``X`` with class indices ``y``: its (coefficients, intercepts), one row per class, so
    that ``X @ coef.T + intercept`` is its decision function. Class weights scale each document's
    sample weight."""
    from sklearn.naive_bayes import ComplementNB

    coef = np.zeros((num_classes, X.shape[1]))
    intercept = np.zeros(num_classes)
    present = np.unique(y)
    if len(present) == 1:  # (one seen class is always predicted)
        intercept[present[0]] = 1.0
        return coef, intercept
    if weights is not None:
        sample_weight = np.asarray(weights, dtype=np.float64)[y] * (1.0 if sample_weight is None else sample_weight)
    nb = ComplementNB(alpha=alpha).fit(X, y, sample_weight=sample_weight)
    coef[nb.classes_] = nb.feature_log_prob_  # (its joint log-likelihood is X @ feature_log_prob_.T)
    intercept[np.setdiff1d(np.arange(num_classes), present)] = -1e3  # unseen: never predicted
    return coef, intercept


def fit_svms(X, labels, multilabel: bool, num_classes: int, C: float, weights=None, sample_weight=None,
             tol: float = 0.1, nb: bool = False):
    """The SVMs' (coefficients, intercepts), one row per class or label, fitted on the sparse
    matrix ``X``: class indices (multiclass) or a 0/1 matrix (multi-label) as ``labels``; ``tol``:
    liblinear's stopping tolerance; ``nb``: each SVM on the features scaled by its Naive Bayes
    log-count ratios (``nb_ratios``), the coefficients returned for the unscaled features."""
    if multilabel:
        return _svm_per_label(X, labels, C, weights, sample_weight, tol, nb)
    return _svm_multiclass(X, labels, num_classes, C, weights, sample_weight, tol, nb)


# The additive smoothing of the document counts in the Naive Bayes log-count ratios (Wang &
# Manning's alpha).
NB_ALPHA = 1.0


def nb_ratios(X, positive: np.ndarray, alpha: float = NB_ALPHA) -> np.ndarray:
    """Each feature's (column's) Naive Bayes log-count ratio for the documents (rows) where
    ``positive`` is true against the others: log((p / |p|₁) / (q / |q|₁)), where p and q count the
    documents of each side that have the feature, plus ``alpha``."""
    present = _documents_with(X)
    p = alpha + present.T @ positive.astype(np.float64)
    q = alpha + present.T @ (~positive).astype(np.float64)
    return np.log(p / p.sum()) - np.log(q / q.sum())


def _documents_with(X):
    """``X`` with every stored value 1 (its arrays of indices shared, not copied)."""
    import scipy.sparse as sp

    return sp.csr_matrix((np.ones(X.nnz), X.indices, X.indptr), shape=X.shape)


def _binary_svm(X, positive: np.ndarray, C: float, class_weight, sample_weight, tol: float,
                nb: bool = False) -> tuple[np.ndarray, float]:
    """One SVM for the documents where ``positive`` is true against the others (``class_weight``:
    {0: the others', 1: theirs}): its (coefficients, intercept). With ``nb`` it is fitted on
    ``X``'s columns scaled by their log-count ratios, and its coefficients are returned for ``X``
    itself. Class and sample weights weigh the SVM's loss; the ratios count every document once."""
    ratios = nb_ratios(X, positive) if nb else None
    if ratios is not None:
        X = X.copy()
        X.data *= ratios[X.indices]
    svm = _svm(C, class_weight, tol).fit(X, positive.astype(np.int64), sample_weight=sample_weight)
    return svm.coef_[0] if ratios is None else svm.coef_[0] * ratios, float(svm.intercept_[0])


def _svm(C: float, class_weight=None, tol: float = 0.1):
    from sklearn.svm import LinearSVC

    # dual: liblinear's fast path when features outnumber documents, as with n-grams.
    # random_state: liblinear visits the documents in a random order; fixed, a fit is reproducible.
    return LinearSVC(C=C, class_weight=class_weight, dual=True, max_iter=5000, tol=tol, random_state=0)


def _svm_multiclass(X, y, num_classes: int, C: float, weights, sample_weight, tol: float, nb: bool = False):
    present = np.unique(y)
    coef = np.zeros((num_classes, X.shape[1]))
    intercept = np.zeros(num_classes)
    if len(present) == 1:  # (a class never seen cannot be predicted; one seen class always is)
        intercept[present[0]] = 1.0
        return coef, intercept
    if len(present) == 2:  # one margin: +half for the second class, -half for the first
        a, b = present
        class_weight = None if weights is None else {0: float(weights[a]), 1: float(weights[b])}
        row, value = _binary_svm(X, y == b, C, class_weight, sample_weight, tol, nb)
        coef[a], coef[b], intercept[a], intercept[b] = -row / 2, row / 2, -value / 2, value / 2
        return coef, intercept
    if nb:  # each class's SVM on its own scaled matrix: a liblinear call per class
        def one(c: int) -> tuple[np.ndarray, float]:
            class_weight = None if weights is None else {0: 1.0, 1: float(weights[c])}
            return _binary_svm(X, y == c, C, class_weight, sample_weight, tol, nb=True)

        rows = _in_parallel(one, present, X.nnz * len(present))
        for c, (row, value) in zip(present, rows):
            coef[c], intercept[c] = row, value
    else:
        # One-vs-rest as liblinear does it (a class's weight on its own documents only), the
        # classes split into one group per CPU: each group is one liblinear call in which every
        # other class's documents carry one "rest" label, whose extra SVM is dropped (liblinear
        # converts the matrix once a call, so a call per class would cost more than its SVM on
        # large sets).
        groups = np.array_split(present, min(_threads(), len(present)))
        rows = _in_parallel(lambda group: _svm_group(X, y, group, C, weights, sample_weight, tol), groups,
                            X.nnz * len(present))
        for group, (group_coef, group_intercept) in zip(groups, rows):
            coef[group], intercept[group] = group_coef, group_intercept
    intercept[np.setdiff1d(np.arange(num_classes), present)] = -1e3  # unseen: never predicted
    return coef, intercept


def _svm_group(X, y, group, C: float, weights, sample_weight, tol: float):
    """The one-vs-rest SVMs of the classes in ``group`` (sorted), every other class as one more."""
    rest = -1  # (sorts first: liblinear's rows follow the sorted labels)
    labels = np.where(np.isin(y, group), y, rest)
    class_weight = None if weights is None else {rest: 1.0, **{int(c): float(weights[c]) for c in group}}
    svm = _svm(C, class_weight, tol).fit(X, labels, sample_weight=sample_weight)
    # The rest's SVM is the first row, unless the group holds every class (no rest) or one class
    # against the rest (one margin, the class's).
    if svm.classes_[0] != rest or len(svm.classes_) == 2:
        return svm.coef_, svm.intercept_
    return svm.coef_[1:], svm.intercept_[1:]


def _svm_per_label(X, Y, C: float, weights, sample_weight, tol: float, nb: bool = False):
    coef = np.zeros((Y.shape[1], X.shape[1]))
    intercept = np.zeros(Y.shape[1])

    def fit(j: int) -> tuple[np.ndarray | None, float]:
        column = Y[:, j].astype(np.int64)
        if column.min() == column.max():  # every document or none: a constant decision
            return None, 1.0 if column[0] else -1.0
        # class weights of a multi-label run weigh each label's positives (BCE's pos_weight)
        class_weight = None if weights is None else {0: 1.0, 1: float(weights[j])}
        return _binary_svm(X, column == 1, C, class_weight, sample_weight, tol, nb)

    for j, (row, value) in enumerate(_in_parallel(fit, range(Y.shape[1]), X.nnz * Y.shape[1])):
        if row is not None:
            coef[j] = row
        intercept[j] = value
    return coef, intercept


def _threads() -> int:
    import torch

    return max(1, torch.get_num_threads())


# Below this much work (the matrix's non-zeros times the SVMs fitted) the calls run one after the
# other: forking the workers and sending every coefficient back (a dense row of the matrix's width
# per SVM) cost more than a second CPU saves on a small fit. Above it they pay: 20 Newsgroups
# bydate, 4.1M non-zeros × 20 classes, fitted in 3.4 s on two CPUs against 5.0 s on one
# (benchmarks/svm_threads.py, RESULTS.md "svm-threads").
_PARALLEL_WORK = 10_000_000


def _in_parallel(function: Callable[[Any], Any], items, work: int) -> list:
    """``function`` of each item, side by side on as many CPUs as torch uses, in order; one
    after the other when ``work`` (non-zeros × SVMs) is below ``_PARALLEL_WORK``.

    liblinear draws the order in which it visits the documents from one random generator for the
    whole process (scikit-learn's issue 8410), so two fits in threads of one process interleave
    their draws: the default's linear model on 20 Newsgroups came out different on every run
    with the same seed (validation accuracy 0.9479 in one run, 0.9470 in the next; coefficients
    up to 7e-4 apart on a random matrix, and none apart on one thread). Each call runs in a
    forked process of its own instead (``textclf/forked.py``: the training matrix is shared,
    not copied; one after the other where a process cannot fork)."""
    items = list(items)
    return fork_map(function, items, min(_threads(), len(items)) if work >= _PARALLEL_WORK else 1)
