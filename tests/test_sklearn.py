"""textclf.sklearn.TextClassifier: a real scikit-learn estimator around real training."""

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from conftest import shared_data
from textclf.errors import UsageError
from textclf.sklearn import TextClassifier

SMALL = {"model": {"buckets": 5000, "char_buckets": 5000}}


@pytest.fixture(scope="module")
def sms():
    frame = pd.read_csv(shared_data("sms_spam.csv"), keep_default_na=False)
    frame = frame.groupby("label").head(120).sample(frac=1.0, random_state=0)
    return list(frame["text"]), np.asarray(frame["label"])


def test_fit_predict_score_and_a_pickled_copy_agree(sms, tmp_path, monkeypatch):
    import tempfile

    texts, labels = sms
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    (tmp_path / "tmp").mkdir()  # a temporary folder of its own (other workers' tests use theirs)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    clf = TextClassifier(config=SMALL, model="linear", epochs=4, lr=0.05)
    assert clf.fit(texts, labels) is clf
    assert list(clf.classes_) == ["ham", "spam"]
    predicted = clf.predict(texts)
    assert predicted.dtype.kind in "UO" and set(predicted) <= {"ham", "spam"}
    probabilities = clf.predict_proba(texts[:5])
    assert probabilities.shape == (5, 2) and np.allclose(probabilities.sum(1), 1, atol=1e-5)
    assert (clf.classes_[probabilities.argmax(1)] == predicted[:5]).all()
    assert clf.score(texts, labels) > 0.9
    again = pickle.loads(pickle.dumps(clf))
    assert (again.predict(texts) == predicted).all()
    assert not list(Path.cwd().iterdir())  # no run folder unless asked, and no temporary files left
    assert not list((tmp_path / "tmp").glob("textclf-*"))


def test_clone_grid_search_and_a_pipeline_step(sms):
    texts, labels = sms
    clf = TextClassifier(config=SMALL, model="linear", epochs=2)
    assert clone(clf).get_params() == clf.get_params()
    search = GridSearchCV(clf, param_grid={"lr": [0.001, 0.05]}, cv=2).fit(texts, labels)
    assert search.best_params_["lr"] in (0.001, 0.05) and len(search.cv_results_["mean_test_score"]) == 2
    pipeline = Pipeline([("clean", FunctionTransformer(_lower)), ("clf", clf)]).fit(texts, labels)
    assert set(pipeline.predict(texts[:10])) <= {"ham", "spam"}


def test_the_default_selection_under_cross_validation(sms, tmp_path):
    texts, labels = sms
    clf = TextClassifier(config={**SMALL, "train": {"epochs": 2}}, run_dir=tmp_path / "kept")
    scores = cross_val_score(clf, texts, labels, cv=2)
    assert len(scores) == 2 and (scores > 0.8).all()
    # run_dir keeps the last fit's run folder (each fit replaces it): the selection's leaderboard is in it.
    assert (tmp_path / "kept" / "leaderboard.csv").is_file()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a run")
    with pytest.raises(UsageError, match="not a run folder"):
        TextClassifier(config=SMALL, model="linear", epochs=1, run_dir=tmp_path / "mine").fit(texts, labels)
    assert (tmp_path / "mine" / "notes.txt").is_file()


def _lower(texts):
    return [t.lower() for t in texts]


def test_integer_labels_come_back_as_integers(sms):
    texts, labels = sms
    y = (labels == "spam").astype(int) * 7  # classes 0 and 7
    clf = TextClassifier(config=SMALL, model="linear", epochs=3, lr=0.05).fit(texts, y)
    assert list(clf.classes_) == [0, 7] and set(clf.predict(texts)) <= {0, 7}
    assert clf.predict(texts).dtype.kind == "i"


def test_multilabel_from_label_lists_or_an_indicator_matrix(sms):
    texts, labels = sms
    rows = [["spam", "long"] if y == "spam" and len(t) > 80 else ["spam"] if y == "spam" else
            ["long"] if len(t) > 80 else [] for t, y in zip(texts, labels)]
    clf = TextClassifier(config=SMALL, model="linear", epochs=3, lr=0.05).fit(texts, rows)
    assert list(clf.classes_) == ["long", "spam"]
    predicted = clf.predict(texts)
    assert predicted.shape == (len(texts), 2) and set(np.unique(predicted)) <= {0, 1}
    assert clf.predict_proba(texts[:3]).shape == (3, 2)
    indicator = np.array([[int("long" in r), int("spam" in r)] for r in rows])
    by_matrix = TextClassifier(config=SMALL, model="linear", epochs=3, lr=0.05).fit(texts, indicator)
    assert list(by_matrix.classes_) == [0, 1] and by_matrix.predict(texts).shape == (len(texts), 2)
    assert 0 <= by_matrix.score(texts, indicator) <= 1  # subset accuracy, scikit-learn's


def test_mistakes_are_one_line_errors(sms):
    texts, labels = sms
    with pytest.raises(UsageError, match="not one string"):
        TextClassifier().fit("one text", ["ham"])
    with pytest.raises(UsageError, match="3 texts but y has 2"):
        TextClassifier().fit(texts[:3], labels[:2])
    with pytest.raises(UsageError, match="at least 2"):
        TextClassifier().fit(texts[:5], ["ham"] * 5)
    with pytest.raises(UsageError, match="text 1 is a int"):
        TextClassifier().fit(["a", 3], ["x", "y"])
    with pytest.raises(UsageError, match="config: give a YAML path, a dict or a textclf.Config, not int"):
        TextClassifier(config=3).fit(["a b", "c d", "e f", "g h"], ["x", "y", "x", "y"])


def test_a_config_object_as_the_base_keeps_only_the_keys_it_set(tmp_path):
    # A loaded Config that names no model: the candidates' own settings still apply to the keys
    # its file did not set (before, every key of the dump counted as the user's).
    import yaml

    from textclf.config import load_config

    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump({"data": {"source": "files", "train": "x.csv"}, "train": {"lr": 0.02}}))
    config = TextClassifier(config=load_config(path))._config(tmp_path, multilabel=False)
    assert config.model.auto and config.train.lr == 0.02 and config.sets("train.lr")
    assert not config.sets("model.minn") and not config.sets("preprocess.tokenizer")
