"""A textclf checkpoint as an MLflow pyfunc model (logged by ``tracking.mlflow``).

MLflow loads this file as the model's code ("models from code": nothing is pickled):

    model = mlflow.pyfunc.load_model("runs:/<run id>/model")
    model.predict(pandas.DataFrame({"text": ["WIN a prize now", "see you at 5"]}))
    #   label
    # 0  spam
    # 1   ham

The input is a DataFrame with a ``text`` column (or a list of strings); the output is a DataFrame
with a ``label`` column: the predicted class, or for a multilabel model the list of classes.
The checkpoint travels as the model's artifact ``checkpoint``.
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class TextclfPyfunc(PythonModel):
    def load_context(self, context) -> None:
        from textclf.inference import Predictor

        self.predictor = Predictor.load(context.artifacts["checkpoint"])

    # (The DataFrame hint is one MLflow infers no schema from: it validates nothing and stays
    # quiet, and a list of texts still works.)
    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        if isinstance(model_input, pd.DataFrame):
            column = "text" if "text" in model_input.columns else model_input.columns[0]
            texts = [str(t) for t in model_input[column]]
        else:
            texts = [str(t) for t in model_input]
        return pd.DataFrame({"label": self.predictor.predict(texts)})


mlflow.models.set_model(TextclfPyfunc())
