"""Model architectures. Each file registers one model; importing this package registers them all."""

from textclf.models import bag_of_ngrams, bigru_attention, linear, lstm, textcnn, transformer  # noqa: F401  (registration side effect)
from textclf.models.base import BuildContext, TextClassifier
from textclf.models.registry import build_model, list_models, register_model

__all__ = ["BuildContext", "TextClassifier", "build_model", "list_models", "register_model"]
