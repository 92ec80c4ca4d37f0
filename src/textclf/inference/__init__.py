"""From raw texts to class probabilities with nothing but model artifacts.

The names are imported on first use: a Predictor of ONNX exports never imports torch."""

from textclf.exports import exports_on_first_use

__all__ = ["Predictor", "predict_logits"]

__getattr__ = exports_on_first_use(__name__, {"Predictor": "textclf.inference.predictor",
                                              "predict_logits": "textclf.inference.logits"})
