"""Tokenizers: text → list of tokens.

``study`` is the reference study's: lowercase, every character that is neither a word character
nor whitespace becomes a space, then split on whitespace.
"""

from __future__ import annotations

import re

__all__ = ["StudyTokenizer", "build_tokenizer"]

# Replacing every non-word, non-space character by a space and splitting on whitespace leaves
# exactly the maximal runs of word characters, which findall returns in one C pass.
_WORDS = re.compile(r"\w+")


class StudyTokenizer:
    def __init__(self, lowercase: bool = True):
        self.lowercase = lowercase

    def __call__(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        return _WORDS.findall(text)

    def settings(self) -> dict:
        return {"name": "study", "lowercase": self.lowercase}


def build_tokenizer(name: str = "study", lowercase: bool = True) -> StudyTokenizer:
    if name == "study":
        return StudyTokenizer(lowercase=lowercase)
    raise AssertionError(f"unhandled tokenizer {name!r}")  # the schema forbids it
