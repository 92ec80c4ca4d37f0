"""The reference study's tokenizer: lowercase, every character that is neither a word character
nor whitespace becomes a space, then split on whitespace."""

from __future__ import annotations

import re

from textclf.text.tokenizers.registry import register_tokenizer

__all__ = ["StudyTokenizer"]

# Replacing every non-word, non-space character by a space and splitting on whitespace leaves
# exactly the maximal runs of word characters, which findall returns in one C pass.
_WORDS = re.compile(r"\w+")


@register_tokenizer("study")
class StudyTokenizer:
    def __init__(self, lowercase: bool = True):
        self.lowercase = lowercase

    def __call__(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        return _WORDS.findall(text)

    def settings(self) -> dict:
        return {"name": "study", "lowercase": self.lowercase}
