"""Tokenizers. Each file registers one (``unicode.py``: the Unicode word rules that ``study`` and
``wordpunct`` share); importing this package registers them all."""

from textclf.text.tokenizers import study, whitespace, wordpunct  # noqa: F401  (registration side effect)
from textclf.text.tokenizers.registry import (
    Tokenizer,
    build_tokenizer,
    list_tokenizers,
    register_tokenizer,
    takes_setting,
    tokenizer_version,
)
from textclf.text.tokenizers.study import StudyTokenizer

__all__ = ["Tokenizer", "StudyTokenizer", "build_tokenizer", "list_tokenizers", "register_tokenizer",
           "takes_setting", "tokenizer_version"]
