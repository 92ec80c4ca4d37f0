"""The reference study's tokenizer: lowercase, every character that is neither a word character
nor whitespace becomes a space, then split on whitespace."""

from __future__ import annotations

import re

from textclf.text.tokenizers.registry import register_tokenizer

__all__ = ["StudyTokenizer"]


@register_tokenizer("study")
class StudyTokenizer:
    """A text's matches of ``pattern`` (after lowercasing), in order; a subclass that names
    another pattern and ``name`` is another tokenizer."""

    name = "study"
    # Replacing every non-word, non-space character by a space and splitting on whitespace leaves
    # exactly the maximal runs of word characters, which findall returns in one C pass.
    pattern = re.compile(r"\w+")

    def __init__(self, lowercase: bool = True):
        self.lowercase = lowercase

    def __call__(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        return self.pattern.findall(text)

    def settings(self) -> dict:
        return {"name": self.name, "lowercase": self.lowercase}
