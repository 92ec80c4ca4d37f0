"""The reference study's tokenizer: lowercase, every character that is neither a word character
nor whitespace becomes a space, then split on whitespace.

With ``unicode_words`` (what a config's ``preprocess.unicode_words`` gives, on by default) a
non-ASCII text is put in Unicode's compatibility form (NFKC) and cut by Unicode's words
(``unicode.py``): combining marks stay in their word and each character of a script written
without spaces is a token. Without it (an artifact made before the setting existed) every text
is cut by the pattern alone, as it was."""

from __future__ import annotations

import re
import unicodedata

from textclf.text.tokenizers.registry import register_tokenizer
from textclf.text.tokenizers.unicode import unicode_tokens

__all__ = ["StudyTokenizer"]


@register_tokenizer("study")
class StudyTokenizer:
    """A text's matches of ``pattern`` (after lowercasing), in order; a subclass that names
    another pattern and ``name`` is another tokenizer."""

    name = "study"
    # Replacing every non-word, non-space character by a space and splitting on whitespace leaves
    # exactly the maximal runs of word characters, which findall returns in one C pass.
    pattern = re.compile(r"\w+")
    symbols = False  # whether runs of symbols are tokens too (the pattern's second part)

    def __init__(self, lowercase: bool = True, unicode_words: bool = False):
        self.lowercase = lowercase
        self.unicode_words = unicode_words

    def __call__(self, text: str) -> list[str]:
        return self.cut(self.normalize(text))

    def normalize(self, text: str) -> str:
        """With ``unicode_words``, a non-ASCII text in NFKC form: a decomposed accent, a full-width
        letter or a ligature is the same character as its usual form, so one word is one token
        however it was typed (``digits_to_zero`` zeroes the digits of this form: "x²" is "x0")."""
        return unicodedata.normalize("NFKC", text) if self.unicode_words and not text.isascii() else text

    def cut(self, text: str) -> list[str]:
        """The tokens of a text :meth:`normalize` gave."""
        if self.lowercase:
            text = text.lower()
        if self.unicode_words and not text.isascii():
            return unicode_tokens(text, self.symbols)
        return self.pattern.findall(text)

    def settings(self) -> dict:
        # (the key only when set: the settings of an artifact made without it stay what they were)
        return {"name": self.name, "lowercase": self.lowercase, **({"unicode_words": True} if self.unicode_words else {})}
