"""Words and symbols: the maximal runs of word characters, as ``study`` keeps them, and also the
runs of other non-space characters ("!", "£", ":)", "?!", "..."), each run one token.

``study`` drops every symbol; where symbols carry the class they are features here: a currency
sign or a run of exclamation marks in spam, an emoticon in a review, a question mark. TF-IDF
weighting keeps the common ones (a full stop, a comma) from counting for much."""

from __future__ import annotations

import re

from textclf.text.tokenizers.registry import register_tokenizer
from textclf.text.tokenizers.study import StudyTokenizer

__all__ = ["WordPunctTokenizer"]


@register_tokenizer("wordpunct")
class WordPunctTokenizer(StudyTokenizer):
    name = "wordpunct"
    pattern = re.compile(r"\w+|[^\w\s]+")
    symbols = True
