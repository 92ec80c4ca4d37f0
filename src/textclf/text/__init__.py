"""Tokens, vocabulary and encoding (with an on-disk cache)."""

from textclf.text.encoding import EncodedSplit, encode_texts
from textclf.text.prepare import PreparedData, prepare_data
from textclf.text.tokenizer import StudyTokenizer, build_tokenizer
from textclf.text.vocabulary import PAD_ID, UNK_ID, Vocabulary

__all__ = [
    "EncodedSplit",
    "encode_texts",
    "PreparedData",
    "prepare_data",
    "StudyTokenizer",
    "build_tokenizer",
    "Vocabulary",
    "PAD_ID",
    "UNK_ID",
]
