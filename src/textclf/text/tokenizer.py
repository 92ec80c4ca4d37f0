"""Tokenizers: text → list of tokens.

``study`` is the reference study's: lowercase, every character that is neither a word character
nor whitespace becomes a space, then split on whitespace.
"""

from __future__ import annotations

import re

__all__ = ["StudyTokenizer", "build_tokenizer"]

_NON_WORD = re.compile(r"[^\w\s]")


class StudyTokenizer:
    def __init__(self, lowercase: bool = True):
        self.lowercase = lowercase

    def __call__(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        return _NON_WORD.sub(" ", text).split()

    def settings(self) -> dict:
        return {"name": "study", "lowercase": self.lowercase}


def build_tokenizer(name: str = "study", lowercase: bool = True) -> StudyTokenizer:
    if name == "study":
        return StudyTokenizer(lowercase=lowercase)
    raise AssertionError(f"unhandled tokenizer {name!r}")  # the schema forbids it
