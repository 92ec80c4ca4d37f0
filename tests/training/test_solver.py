"""A linear model fitted by liblinear's SVM in one pass: its logits are the SVM's decisions on the
model's own features, for two classes, several, and several labels per document."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import textclf
from conftest import goemotions_slices, shared_data
from textclf.config import config_from_dict
from textclf.errors import UsageError
from textclf.inference.logits import predict_logits
from textclf.training.setup import setup_run
from textclf.training.solver import _tfidf_rows, feature_matrix


def _sms(tmp_path, classes: int = 2) -> dict:
    frame = pd.read_csv(shared_data("sms_spam.csv"), keep_default_na=False).groupby("label").head(150).copy()
    if classes == 3:  # a third class: the short ham messages
        frame.loc[(frame.label == "ham") & (frame.text.str.len() < 40), "label"] = "short"
    frame.to_csv(tmp_path / "sms.csv", index=False)
    return {"name": "svm", "output_dir": str(tmp_path / "runs"),
            "data": {"source": "files", "train": str(tmp_path / "sms.csv"), "cache_dir": str(tmp_path / "cache")},
            "model": {"name": "linear", "solver": "svm", "tol": 1e-4, "buckets": 3000, "minn": 2, "maxn": 4,
                      "char_buckets": 3000},
            "train": {"device": "cpu", "epochs": 7}}


def _goemotions(tmp_path, rows: dict, model: dict, **train) -> dict:
    """A multi-label run of the linear model (``model``: its solver and settings) on slices of
    GoEmotions with ``rows`` comments in each file."""
    goemotions_slices(tmp_path, rows)
    return {"name": "ml", "task": "multilabel", "output_dir": str(tmp_path / "runs"),
            "data": {"source": "files", "train": str(tmp_path / "train.csv"), "val": str(tmp_path / "dev.csv"),
                     "test": str(tmp_path / "test.csv"), "label_column": "labels", "unknown_labels": "drop",
                     "cache_dir": str(tmp_path / "cache")},
            "model": {"name": "linear", "tol": 1e-4, **model}, "train": {"device": "cpu", **train}}


@pytest.fixture
def threads(request):
    """torch's thread count for the test (the solver fits its SVMs in as many threads)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


# With 2 threads, 3 classes are fitted as two liblinear calls: classes {0, 1} against the rest,
# and class 2 against the rest (one margin).
@pytest.mark.parametrize("classes,threads", [(2, 1), (3, 1), (3, 2)], indirect=["threads"])
def test_the_fitted_model_gives_the_svm_decisions_on_its_own_features(tmp_path, classes, threads):
    from sklearn.svm import LinearSVC

    raw = _sms(tmp_path, classes)
    run = textclf.train(raw, run_dir=tmp_path / "run")
    assert len(run.history) == 1  # one pass, whatever train.epochs says
    model = textclf.Predictor.load(run.best_checkpoint).models[0]
    # The same data and features, fitted by scikit-learn directly.
    setup = setup_run(config_from_dict(raw))
    train, val = setup.prepared.splits["train"], setup.prepared.splits["val"]
    svm = LinearSVC(C=1.0, dual=True, max_iter=5000).fit(feature_matrix(setup.model, train), train.labels)
    decision = svm.decision_function(feature_matrix(setup.model, val))
    logits = predict_logits(model, val)
    if classes == 2:
        np.testing.assert_allclose(logits[:, 1] - logits[:, 0], decision, atol=1e-4)
    else:
        np.testing.assert_allclose(logits, decision, atol=1e-4)
    assert run.results["best_score"] == pytest.approx(float((decision.argmax(1) if classes > 2 else decision > 0)
                                                            .__eq__(np.asarray(val.labels)).mean()))


@pytest.mark.parametrize("threads", [2], indirect=True)
def test_a_multilabel_run_fits_one_svm_per_label(tmp_path, threads):
    from sklearn.svm import LinearSVC

    raw = _goemotions(tmp_path, {"train": 800, "dev": 200, "test": 200}, {"solver": "svm", "buckets": 3000},
                      threshold="tune_global")
    run = textclf.train(raw, run_dir=tmp_path / "run")
    predictor = textclf.Predictor.load(run.best_checkpoint)
    setup = setup_run(config_from_dict(raw))
    train, val = setup.prepared.splits["train"], setup.prepared.splits["val"]
    labels = np.asarray(train.labels)
    logits = predict_logits(predictor.models[0], val)
    X, V = feature_matrix(setup.model, train), feature_matrix(setup.model, val)
    fitted = 0
    for j in range(labels.shape[1]):
        if labels[:, j].min() == labels[:, j].max():  # a label no training document has: never predicted
            assert (logits[:, j] < 0).all()
            continue
        svm = LinearSVC(C=1.0, dual=True, max_iter=5000).fit(X, labels[:, j])
        np.testing.assert_allclose(logits[:, j], svm.decision_function(V), atol=1e-4)
        fitted += 1
    assert fitted >= 10
    assert predictor.thresholds is not None and run.test_metrics["f1_micro"] > 0.1


def test_a_solver_model_under_torchrun_is_refused(tmp_path):
    from textclf.training.distributed import Distributed
    from textclf.training.solver import fit_with_solver

    setup = setup_run(config_from_dict(_sms(tmp_path)))
    setup.distributed = Distributed(rank=0, world_size=2)
    with pytest.raises(UsageError, match="without torchrun"):
        fit_with_solver(setup)


def test_a_list_of_c_keeps_the_best_on_validation(tmp_path, capsys):
    from sklearn.svm import LinearSVC

    raw = _sms(tmp_path)
    raw["model"]["C"] = [1e-5, 1.0, 1e-4]  # 1e-4: a penalty so strong that every message is ham
    run = textclf.train(raw, run_dir=tmp_path / "run")
    out = capsys.readouterr().out
    # From the largest C down, stopping at the first that scores lower: 1e-5 is never fitted.
    assert "model.C: 1 kept, best on validation (0.0001: " in out
    assert "; 1e-05 not fitted (0.0001 already scored lower)" in out
    setup = setup_run(config_from_dict(raw))
    train, val = setup.prepared.splits["train"], setup.prepared.splits["val"]
    svm = LinearSVC(C=1.0, dual=True, max_iter=5000).fit(feature_matrix(setup.model, train), train.labels)
    logits = predict_logits(textclf.Predictor.load(run.best_checkpoint).models[0], val)
    np.testing.assert_allclose(logits[:, 1] - logits[:, 0], svm.decision_function(feature_matrix(setup.model, val)),
                               atol=1e-4)
    with pytest.raises(Exception, match="give a number above 0"):
        config_from_dict({**raw, "model": {**raw["model"], "C": [0.5, 0]}})


def _nbsvm_by_hand(X, positive: np.ndarray, V) -> np.ndarray:
    """Wang & Manning's NBSVM written out: the binarized features' smoothed counts in each side's
    documents, their log ratio, an SVM on the features times it; its decisions on ``V``."""
    from sklearn.svm import LinearSVC

    present = (X > 0).astype(np.float64)
    p = 1.0 + np.asarray(present[positive].sum(0)).ravel()
    q = 1.0 + np.asarray(present[~positive].sum(0)).ravel()
    r = np.log((p / p.sum()) / (q / q.sum()))
    svm = LinearSVC(C=1.0, dual=True, max_iter=5000).fit(X.multiply(r[None, :]).tocsr(), positive)
    return svm.decision_function(V.multiply(r[None, :]).tocsr())


@pytest.mark.parametrize("classes,threads", [(2, 1), (3, 2)], indirect=["threads"])
def test_nbsvm_gives_the_decisions_of_svms_on_naive_bayes_scaled_features(tmp_path, classes, threads):
    raw = _sms(tmp_path, classes)
    raw["model"]["solver"] = "nbsvm"
    run = textclf.train(raw, run_dir=tmp_path / "run")
    model = textclf.Predictor.load(run.best_checkpoint).models[0]
    setup = setup_run(config_from_dict(raw))
    train, val = setup.prepared.splits["train"], setup.prepared.splits["val"]
    X, V, y = feature_matrix(setup.model, train), feature_matrix(setup.model, val), np.asarray(train.labels)
    logits = predict_logits(model, val)
    if classes == 2:
        np.testing.assert_allclose(logits[:, 1] - logits[:, 0], _nbsvm_by_hand(X, y == 1, V), atol=1e-4)
    else:
        for c in range(classes):
            np.testing.assert_allclose(logits[:, c], _nbsvm_by_hand(X, y == c, V), atol=1e-4)
    # ... which are not the plain SVM's: the scaling is in the weights.
    plain = textclf.train({**raw, "model": {**raw["model"], "solver": "svm"}}, run_dir=tmp_path / "plain")
    assert not np.allclose(predict_logits(textclf.Predictor.load(plain.best_checkpoint).models[0], val), logits,
                           atol=1e-2)


def test_nbsvm_fits_each_label_on_its_own_scaled_features(tmp_path):
    raw = _goemotions(tmp_path, {"train": 400, "dev": 100, "test": 100}, {"solver": "nbsvm", "buckets": 2000})
    run = textclf.train(raw, run_dir=tmp_path / "run")
    setup = setup_run(config_from_dict(raw))
    train, val = setup.prepared.splits["train"], setup.prepared.splits["val"]
    labels = np.asarray(train.labels)
    X, V = feature_matrix(setup.model, train), feature_matrix(setup.model, val)
    logits = predict_logits(textclf.Predictor.load(run.best_checkpoint).models[0], val)
    fitted = [j for j in range(labels.shape[1]) if 0 < labels[:, j].sum() < len(labels)][:4]
    assert len(fitted) == 4
    for j in fitted:
        np.testing.assert_allclose(logits[:, j], _nbsvm_by_hand(X, labels[:, j] == 1, V), atol=1e-4)


def test_complement_naive_bayes_is_scikit_learns_on_the_models_features_and_single_label_only(tmp_path):
    from sklearn.naive_bayes import ComplementNB

    raw = _sms(tmp_path, classes=3)
    raw["model"] = {**raw["model"], "solver": "nb", "alpha": [0.01, 0.1, 1.0]}
    run = textclf.train(raw, run_dir=tmp_path / "run")
    model = textclf.Predictor.load(run.best_checkpoint).models[0]
    assert model.alpha in (0.01, 0.1, 1.0)  # the value val chose, as the artifact stores it
    setup = setup_run(config_from_dict({**raw, "model": {**raw["model"], "alpha": model.alpha}}))
    train, val = setup.prepared.splits["train"], setup.prepared.splits["val"]
    nb = ComplementNB(alpha=model.alpha).fit(feature_matrix(setup.model, train), train.labels)
    V = feature_matrix(setup.model, val)
    np.testing.assert_allclose(predict_logits(model, val), V @ nb.feature_log_prob_.T, rtol=1e-4, atol=1e-3)
    assert (predict_logits(model, val).argmax(1) == nb.predict(V)).all()
    with pytest.raises(UsageError, match="model.solver: nb .* is for single-label tasks"):
        from textclf.training.solver import fit_with_solver

        goemotions_slices(tmp_path, {"train": 200, "dev": 50, "test": 50})
        ml = {"name": "ml", "task": "multilabel", "output_dir": str(tmp_path / "ml"),
              "data": {"source": "files", "train": str(tmp_path / "train.csv"), "val": str(tmp_path / "dev.csv"),
                       "test": str(tmp_path / "test.csv"), "label_column": "labels", "unknown_labels": "drop",
                       "cache_dir": str(tmp_path / "c2")},
              "model": {"name": "linear", "solver": "nb", "buckets": 1000}}
        fit_with_solver(setup_run(config_from_dict(ml)))


@pytest.mark.parametrize("chars", [False, True])
def test_the_matrix_made_in_numpy_is_the_models_sparse_features(tmp_path, chars):
    """The solver's matrix (numpy, from what the export is fed) holds the entries of the model's
    own sparse_features (torch): IDF-weighted, each block normalised, the same columns."""
    import scipy.sparse as sp

    from textclf.batching import sorted_batches

    raw = _sms(tmp_path)
    if not chars:
        raw["model"].update(minn=0, maxn=0)
    setup = setup_run(config_from_dict(raw))
    model, train = setup.model, setup.prepared.splits["train"]
    assert float(model.idf.std()) > 0  # (fitted TF-IDF weights)
    assert _tfidf_rows(model) is not None  # (the matrix is made in numpy, not by sparse_features)
    matrix = feature_matrix(model, train)
    rows, columns, values = [], [], []
    for indices, (ids, lengths, _) in sorted_batches(train, 64):
        r, c, v = (t.numpy() for t in model.sparse_features(ids, lengths))
        rows.append(np.asarray(indices)[r]), columns.append(c), values.append(v)
    expected = sp.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))),
                             shape=matrix.shape)
    assert (matrix.indptr == expected.indptr).all() and (matrix.indices == expected.indices).all()
    np.testing.assert_allclose(matrix.data, expected.data, rtol=1e-5)
    assert (matrix[:, model.num_features:].nnz > 0) == chars


def test_the_same_documents_and_features_build_one_matrix(tmp_path):
    from textclf.text.encoding import concatenate

    setup = setup_run(config_from_dict(_sms(tmp_path)))
    train, val = setup.prepared.splits["train"], setup.prepared.splits["val"]
    first = feature_matrix(setup.model, train)
    assert feature_matrix(setup.model, concatenate([train])) is first  # the same documents, another object
    assert feature_matrix(setup.model, val) is not first
    setup.model.idf[: len(setup.model.idf) // 2] = 0  # other TF-IDF weights: another matrix
    again = feature_matrix(setup.model, train)
    assert again is not first and again.nnz < first.nnz


def test_on_one_thread_two_fits_of_the_same_matrix_are_identical(tmp_path):
    import torch

    from textclf.training.solver import fit_svms

    setup = setup_run(config_from_dict(_sms(tmp_path, classes=3)))
    train = setup.prepared.splits["train"]
    X, y = feature_matrix(setup.model, train), np.asarray(train.labels)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        first, second = (fit_svms(X, y, False, setup.prepared.num_classes, 1.0) for _ in range(2))
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


@pytest.mark.parametrize("threads", [2], indirect=True)
def test_on_two_threads_the_fits_are_reproducible(threads, monkeypatch):
    """liblinear draws from one random generator for the whole process: two fits side by side in
    threads interleaved their draws, and the same matrix and seed gave other coefficients on
    every run (up to 7e-4 apart on this matrix). Side by side in forked processes they are the
    same every time, and each label's SVM of a multi-label fit is the one a single thread fits."""
    import scipy.sparse as sp
    import torch

    from textclf.training import solver
    from textclf.training.solver import fit_svms

    monkeypatch.setattr(solver, "_PARALLEL_WORK", 0)  # (this small matrix would go one fit after the other)
    rng = np.random.default_rng(0)
    X = sp.random(4000, 20000, density=0.003, random_state=1, format="csr")
    y = rng.integers(0, 20, 4000)
    fits = [fit_svms(X, y, False, 20, 1.0) for _ in range(3)]
    for coef, intercept in fits[1:]:
        np.testing.assert_array_equal(coef, fits[0][0])
        np.testing.assert_array_equal(intercept, fits[0][1])
    Y = (rng.random((4000, 5)) < 0.2).astype(np.uint8)
    Y[:, 4] = 0  # a label no document has: a constant decision
    both = fit_svms(X, Y, True, 5, 1.0)
    torch.set_num_threads(1)
    one = fit_svms(X, Y, True, 5, 1.0)
    np.testing.assert_array_equal(both[0], one[0])
    np.testing.assert_array_equal(both[1], one[1])
    assert both[1][4] == -1.0 and not both[0][4].any()


def _fit_in_a_daemon(out) -> None:
    import scipy.sparse as sp
    import torch

    from textclf.training import solver

    torch.set_num_threads(2)  # (a selection's worker handed a finished one's threads)
    solver._PARALLEL_WORK = 0
    X = sp.random(500, 3000, density=0.01, random_state=1, format="csr")
    y = np.random.default_rng(0).integers(0, 4, 500)
    try:
        out.put(solver.fit_svms(X, y, False, 4, 1.0)[0].sum())
    except BaseException as exc:  # (the parent reports it)
        out.put(repr(exc))


def test_a_daemonic_process_fits_its_svms_one_after_the_other():
    """The default selection's workers are daemonic processes, which may not start children: one
    given two threads must fit in its own process, not fail (the selection's linear_chars did)."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    out = context.Queue()
    worker = context.Process(target=_fit_in_a_daemon, args=(out,), daemon=True)
    worker.start()
    got = out.get(timeout=60)
    worker.join(timeout=60)
    assert isinstance(got, float), got


def test_a_solver_run_builds_no_torch_optimizer(tmp_path):
    """A solver's run steps no optimizer and fits its temperature with SciPy: building a torch
    optimizer imports torch._dynamo (about 0.9 s of the default's whole process), so such a
    run never builds one, and still records its learning rate."""
    import json
    import subprocess
    import sys

    config = {**_sms(tmp_path), "train": {"device": "cpu", "epochs": 1, "calibration": "temperature"}}
    code = ("import json, sys, textclf\n"
            f"run = textclf.train(json.loads({json.dumps(json.dumps(config))}), run_dir={str(tmp_path / 'run')!r})\n"
            "print(json.dumps(['torch._dynamo' in sys.modules, run.history[-1]['lr']]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [False, textclf.load_config(
        tmp_path / "run" / "config.yaml").train.lr]


def test_nbsvm_leaves_a_class_unseen_in_training_unpredicted_and_passes_class_weights_on():
    """On a random matrix: a class with no training document gets no weights and a very low
    bias; weighing a class's documents more moves its margins up (liblinear's class weights)."""
    import scipy.sparse as sp

    from textclf.training.solver import fit_svms, nb_ratios

    rng = np.random.default_rng(0)
    X = sp.random(60, 40, density=0.3, format="csr", random_state=1)
    y = rng.integers(0, 3, 60)  # classes 0-2 of 4: class 3 never seen
    coef, intercept = fit_svms(X, y, False, 4, 1.0, nb=True)
    assert not coef[3].any() and intercept[3] == -1e3 and coef[:3].any(axis=1).all()
    heavier, heavier_bias = fit_svms(X, y, False, 4, 1.0, weights=np.array([1.0, 5.0, 1.0, 1.0]), nb=True)
    assert (np.asarray(X @ heavier[1]) + heavier_bias[1]).mean() > (np.asarray(X @ coef[1]) + intercept[1]).mean()
    # The ratios: a feature only class 1's documents hold weighs more for it than one all hold.
    only = sp.csr_matrix(np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 1.0], [0.0, 1.0]]))
    r = nb_ratios(only, np.array([True, True, False, False]))
    # p = 1 + (2, 2) of 6, q = 1 + (0, 2) of 4
    assert r == pytest.approx([np.log((3 / 6) / (1 / 4)), np.log((3 / 6) / (3 / 4))]) and r[0] > 0 > r[1]
