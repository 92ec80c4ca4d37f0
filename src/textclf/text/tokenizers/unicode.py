"""Words as Unicode writes them, for the tokenizers' ``unicode_words`` setting.

Python's ``\\w`` is a letter, digit or underscore. Two kinds of writing fall outside what ``\\w+``
makes of them:

- **Combining marks** (categories Mn, Mc, Me) are not ``\\w``: Devanagari's vowel signs and
  virama, Bengali's, Tamil's, Thai's vowel and tone marks, the accents of decomposed (NFD) Latin
  text. ``\\w+`` cuts a word at every mark and drops the mark: "हिन्दी भाषा" became ह, न, द, भ, ष.
  Here a mark belongs to the word it is written in.
- **Scripts written without spaces between words** (Chinese, Japanese kana, Thai, Lao, Khmer,
  Myanmar): ``\\w+`` made a whole clause one token, seen once, so nearly every token of a new text
  was unknown. Here each character of those scripts (with its marks) is a token of its own, as
  BERT's basic tokenizer does for Chinese; the models' word bigrams then read character
  bigrams, the usual features for classifying Chinese text without a segmenter.

The patterns are built on first use from ``unicodedata`` (about 15 ms; 50 ms more for the first
text with a mark or an unspaced letter above U+FFFF), and used only for a text that is not
ASCII: on ASCII text they find exactly what ``\\w+`` finds, and the tokenizers keep their plain
pattern for it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["UNSPACED_BLOCKS", "unicode_tokens"]

# The blocks of the scripts written without spaces between words (Unicode block ranges).
UNSPACED_BLOCKS = [
    (0x0E00, 0x0E7F),  # Thai
    (0x0E80, 0x0EFF),  # Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x309F),  # Hiragana
    (0x30A0, 0x30FF),  # Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK unified ideographs extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # halfwidth katakana
    (0x20000, 0x2FA1F),  # CJK extensions B-F, compatibility supplement
    (0x30000, 0x323AF),  # CJK extensions G, H
]
_BMP = 0xFFFF
# Marks outside the basic multilingual plane lie below U+30000, but for the variation selectors
# supplement.
_MARK_SCAN = [(0x10000, 0x2FFFF), (0xE0100, 0xE01EF)]


def _ranges(points: list[int]) -> str:
    """The code points (sorted) as the body of a regex character class."""
    parts, start = [], None
    for i, point in enumerate(points):
        if start is None:
            start = point
        if i + 1 == len(points) or points[i + 1] != point + 1:
            parts.append(re.escape(chr(start)) + ("" if point == start else "-" + re.escape(chr(point))))
            start = None
    return "".join(parts)


def _is_mark(char: str) -> bool:
    return unicodedata.category(char).startswith("M")


def _is_unspaced(char: str) -> bool:
    """A letter of :data:`UNSPACED_BLOCKS` (every letter is ``\\w``; their marks are marks, their
    digits digits of a word, their punctuation symbols)."""
    return unicodedata.category(char).startswith("L")


@lru_cache(maxsize=None)
def _classes(planes: str) -> tuple[str, str]:
    """(marks, unspaced letters) as character class bodies: of the basic multilingual plane
    (``"bmp"``) or of the planes above it (``"astral"``)."""
    mark_spans = [(0, _BMP)] if planes == "bmp" else _MARK_SCAN
    blocks = [(low, high) for low, high in UNSPACED_BLOCKS if (high <= _BMP) == (planes == "bmp")]
    marks = [c for low, high in mark_spans for c in range(low, high + 1) if _is_mark(chr(c))]
    unspaced = [c for low, high in blocks for c in range(low, high + 1) if _is_unspaced(chr(c))]
    return _ranges(marks), _ranges(unspaced)


@lru_cache(maxsize=None)
def _pattern(symbols: bool, astral: bool) -> re.Pattern:
    """Each unspaced letter with the marks after it; a word character (not an unspaced letter)
    with the word characters and marks after it; with ``symbols``, runs of what is neither word
    nor space (a mark after a symbol stays in its run: an emoji's variation selector). A mark
    after a space starts nothing: ``study`` drops it, as it drops every symbol. ``astral``: the
    planes above the basic one too, in a pattern about twice as slow (``re`` tests ranges above
    U+FFFF one by one), used only for a text with a mark or an unspaced letter up there."""
    marks, unspaced = _classes("bmp")
    if astral:
        more_marks, more_unspaced = _classes("astral")
        marks, unspaced = marks + more_marks, unspaced + more_unspaced
    word = f"[^\\W{unspaced}]"
    pattern = f"[{unspaced}][{marks}]*|{word}+(?:[{marks}]+{word}*)*"
    if symbols:
        pattern += "|[^\\w\\s]+"
    return re.compile(pattern)


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_ASTRAL_BLOCKS = [(low, high) for low, high in UNSPACED_BLOCKS if low > _BMP]


def _needs_astral(text: str) -> bool:
    """Whether a character above U+FFFF of ``text`` is a mark or an unspaced letter: only then do
    the two patterns differ (an emoji is a symbol to both, a letter of another script a word
    character), so that the common emoji do not cost a text the slower pattern."""
    return any(_is_mark(char) or any(low <= ord(char) <= high for low, high in _ASTRAL_BLOCKS)
               for char in _ASTRAL.findall(text))  # (one regex pass: 3 times as fast as max(text))


def unicode_tokens(text: str, symbols: bool) -> list[str]:
    """The tokens of ``text`` by Unicode's words (on ASCII text, those of ``\\w+``); ``symbols``:
    runs of symbols are tokens too (``wordpunct``)."""
    return _pattern(symbols, _needs_astral(text)).findall(text)
