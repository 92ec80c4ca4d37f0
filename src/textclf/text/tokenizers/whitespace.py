"""Split on whitespace only, keeping punctuation inside tokens: for text that is already
tokenized (one space between tokens), or where punctuation carries meaning (":)", "C++", "$5")."""

from __future__ import annotations

from textclf.text.tokenizers.registry import register_tokenizer

__all__ = ["WhitespaceTokenizer"]


@register_tokenizer("whitespace")
class WhitespaceTokenizer:
    def __init__(self, lowercase: bool = True):
        self.lowercase = lowercase

    def __call__(self, text: str) -> list[str]:
        return (text.lower() if self.lowercase else text).split()

    def settings(self) -> dict:
        return {"name": "whitespace", "lowercase": self.lowercase}
