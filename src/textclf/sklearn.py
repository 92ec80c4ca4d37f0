"""textclf as a scikit-learn estimator: ``fit`` raw texts, ``predict`` labels.

    from sklearn.model_selection import cross_val_score
    from textclf.sklearn import TextClassifier

    clf = TextClassifier(epochs=5)             # no model named: the default selection
    cross_val_score(clf, texts, labels, cv=3)  # texts: a list, array or Series of strings

It trains exactly as ``textclf train`` does, on a ``files`` source written from ``X`` and ``y``
into a temporary folder: a stratified ``val_size`` fraction of ``X`` is the validation split
(early stopping, the default's selection, multi-label thresholds), the rest is trained on (the
default's winner is then refit on all of ``X``: ``train.refit``), and nothing is evaluated on a
test split (scikit-learn's own tools do that). The fitted model lives
in memory (``artifact_``, ``predictor_``; ``artifacts_`` and ``weights_`` when the default kept an
ensemble); no run folder is kept unless ``run_dir`` names one
(then each fit replaces it with its own: under cross-validation, the last fit's is kept).
Everything the constructor does not name comes from ``config`` (a YAML path, a dict or a
``textclf.Config``, as for ``textclf.train``): its ``data`` section's source and paths are
replaced, its other keys used.

Multi-label ``y``: a list of label lists, or an indicator matrix (n, C). Either way ``predict``
returns an indicator matrix whose columns are ``classes_`` (scikit-learn's convention, which
its multi-label metrics read); multiclass ``predict`` returns labels of ``y``'s own type.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from textclf.errors import UsageError

__all__ = ["TextClassifier"]


class TextClassifier(ClassifierMixin, BaseEstimator):
    """A textclf model as a scikit-learn classifier.

    ``config``: a YAML path, a dict or a ``textclf.Config`` for everything the other parameters
    do not set.
    ``model``: a registered model name (its defaults, or the config's model keys for it);
    None: the config's model, or the default selection when the config names none.
    ``epochs``, ``lr``, ``batch_size``: ``train.*`` when given. ``seed``: the split of the
    validation fraction and the training seed. ``val_size``: the fraction of ``X`` held out for
    validation. ``run_dir``: keep the run folder there (it must not exist). ``verbose``: show
    the training output (quiet by default).
    """

    def __init__(self, config: str | Path | Mapping[str, Any] | None = None, model: str | None = None,
                 epochs: int | None = None, lr: float | None = None, batch_size: int | None = None,
                 seed: int = 0, val_size: float = 0.1, run_dir: str | Path | None = None, verbose: bool = False):
        self.config = config
        self.model = model
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.seed = seed
        self.val_size = val_size
        self.run_dir = run_dir
        self.verbose = verbose

    # ----------------------------------------------------------------- fit

    def fit(self, X, y) -> "TextClassifier":
        import pandas as pd

        from textclf.inference import Predictor
        from textclf.run_layout import RunLayout
        from textclf.training.recipe import train

        texts = _texts(X)
        labels, multilabel = self._labels(y, len(texts))
        folder = Path(tempfile.mkdtemp(prefix="textclf-sklearn-"))
        try:
            train_rows, val_rows = self._split(labels, multilabel)
            for name, rows in (("train", train_rows), ("val", val_rows)):
                pd.DataFrame({"text": [texts[i] for i in rows], "label": [labels[i] for i in rows]}).to_json(
                    folder / f"{name}.jsonl", orient="records", lines=True, force_ascii=False)
            config = self._config(folder, multilabel)
            kept = Path(self.run_dir) if self.run_dir is not None else None
            if kept is not None and kept.exists() and any(kept.iterdir()) and not RunLayout(kept).is_run():
                raise UsageError(f"run_dir {kept}: exists and is not a run folder; give a new folder or a "
                                 "run folder of an earlier fit (each fit replaces it)")
            quiet = contextlib.nullcontext() if self.verbose else _silenced()
            with quiet:
                result = train(config, run_dir=folder / "run", progress=self.verbose, final_evaluation=False)
            fitted = Predictor.load(RunLayout(result.run_dir).best_checkpoint)  # (an ensemble: its members)
            artifact = fitted.artifact
            if kept is not None:  # the run folder of the last fit
                shutil.rmtree(kept, ignore_errors=True)
                kept.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(result.run_dir), kept)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        for member in fitted.artifacts:
            member.source = None  # (it lived in the temporary folder)
        self.artifact_ = artifact  # the model (an ensemble's first member) ...
        self.artifacts_, self.weights_ = fitted.artifacts, [float(w) for w in fitted.weights]  # ... all of them
        self.multilabel_ = multilabel
        self.best_score_ = result.best_score
        self._build_predictor()
        # The model's classes are label strings; map them back to y's own values.
        position = {str(c): i for i, c in enumerate(self.classes_)}
        self._order = np.array([position[c] for c in artifact.classes])
        return self

    def _labels(self, y, n: int) -> tuple[list, bool]:
        """Each document's label (multiclass) or label list (multilabel), as the files source
        reads them; sets ``classes_``."""
        if n == 0:
            raise UsageError("fit: X holds no texts")
        if hasattr(y, "toarray"):  # a scipy sparse indicator matrix
            y = y.toarray()
        array = np.asarray(y, dtype=object) if not isinstance(y, np.ndarray) else y
        if len(y) != n:
            raise UsageError(f"fit: X has {n} texts but y has {len(y)} labels")
        if array.ndim == 2 and not any(isinstance(v, (list, tuple, set)) for v in array.ravel()[:1]):
            indicator = np.asarray(array, dtype=float)
            if not np.isin(indicator, (0, 1)).all():
                raise UsageError("fit: a 2-D y is read as a multi-label indicator matrix and must hold only 0 and 1")
            self.classes_ = np.arange(indicator.shape[1])
            return [[str(j) for j in np.flatnonzero(row)] for row in indicator], True
        values = list(y)
        if values and all(isinstance(v, (list, tuple, set, frozenset)) for v in values):
            names = sorted({str(label) for row in values for label in row})
            self.classes_ = np.array(names, dtype=object)
            return [sorted(str(label) for label in row) for row in values], True
        self.classes_ = np.unique(np.asarray(values))
        if len({str(c) for c in self.classes_}) != len(self.classes_):
            raise UsageError("fit: two of y's classes have the same text form; give distinct labels")
        if len(self.classes_) < 2:
            raise UsageError(f"fit: y has {len(self.classes_)} class; a classifier needs at least 2")
        return [str(v) for v in values], False

    def _split(self, labels: list, multilabel: bool) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(len(labels))
        stratify = None
        if not multilabel:
            counts = np.unique(labels, return_counts=True)[1]
            stratify = labels if counts.min() >= 2 else None
        try:
            return train_test_split(rows, test_size=self.val_size, random_state=self.seed, stratify=stratify)
        except ValueError as exc:  # e.g. fewer documents than classes in the validation split
            if stratify is None:
                raise UsageError(f"fit: cannot hold out val_size={self.val_size} of {len(rows)} texts ({exc})") from None
            return train_test_split(rows, test_size=self.val_size, random_state=self.seed)

    def _config(self, folder: Path, multilabel: bool):
        import json

        import yaml

        from textclf.api import resolve_config
        from textclf.config import Config, load_config, own_raw

        base = self.config if self.config is not None else {}
        if isinstance(base, (str, Path)):
            load_config(base)  # its mistakes reported as textclf train reports them
            raw = yaml.safe_load(Path(base).read_text(encoding="utf-8")) or {}
        elif isinstance(base, Config):  # (the keys its file set: the rest stay the defaults')
            raw = own_raw(base)
        elif isinstance(base, Mapping):
            raw = json.loads(json.dumps(dict(base), default=str))  # a deep copy
        else:
            raise UsageError(f"config: give a YAML path, a dict or a textclf.Config, not {type(base).__name__}")
        from textclf.data.files import FilesParams

        # The base's table settings (a config of another source: those the files source has).
        data = {k: v for k, v in dict(raw.get("data") or {}).items() if k in FilesParams.model_fields
                and k not in ("root", "train", "val", "test", "text_column", "label_column")}
        overrides: dict[str, Any] = {
            "data": {**data, "source": "files", "train": str(folder / "train.jsonl"),
                     "val": str(folder / "val.jsonl"), "test": str(folder / "val.jsonl"),
                     "cache": bool(data.get("cache", False)), "empty_texts": data.get("empty_texts", "keep")},
            "task": "multilabel" if multilabel else "multiclass",
            "output_dir": str(folder),
        }
        raw = {**{k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}, **overrides}
        if self.model is not None:
            model = dict(raw.get("model") or {})
            raw["model"] = {**(model if model.get("name") == self.model else {}), "name": self.model}
        train = dict(raw.get("train") or {})
        for key in ("epochs", "lr", "batch_size"):
            if getattr(self, key) is not None:
                train[key] = getattr(self, key)
        train["seed"] = self.seed
        raw["train"] = train
        raw.setdefault("name", "sklearn")
        return resolve_config(raw)

    # ----------------------------------------------------------------- predict

    def _build_predictor(self) -> None:
        from textclf.inference import Predictor

        members = getattr(self, "artifacts_", None) or [self.artifact_]  # (estimators pickled before ensembles)
        self.predictor_ = Predictor(members, weights=getattr(self, "weights_", None) if len(members) > 1 else None)

    def predict_proba(self, X) -> np.ndarray:
        """(n, len(classes_)) probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self, "artifact_")
        probabilities = self.predictor_.predict_proba(_texts(X))
        out = np.empty_like(probabilities)
        out[:, self._order] = probabilities
        return out

    def predict(self, X):
        check_is_fitted(self, "artifact_")
        probabilities = self.predictor_.predict_proba(_texts(X))
        chosen = self.predictor_.decide(probabilities)
        if self.multilabel_:
            out = np.zeros((len(chosen), len(self.classes_)), dtype=int)
            out[:, self._order] = chosen
            return out
        return self.classes_[self._order[chosen]]

    # ----------------------------------------------------------------- pickling

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("predictor_", None)  # rebuilt from the artifact (which holds the weights)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "artifact_" in state:
            self._build_predictor()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags


def _texts(X) -> list[str]:
    if isinstance(X, str):
        raise UsageError("X: give a list of texts, not one string (wrap it: [text])")
    if hasattr(X, "ndim") and X.ndim == 2:
        if X.shape[1] != 1:
            raise UsageError(f"X: give one text per row; this has {X.shape[1]} columns")
        X = X.iloc[:, 0] if hasattr(X, "iloc") else np.asarray(X)[:, 0]
    texts = list(X)
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise UsageError(f"X: text {bad} is a {type(texts[bad]).__name__}, not a string")
    return texts


@contextlib.contextmanager
def _silenced():
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield
