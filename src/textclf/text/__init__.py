"""Tokens, vocabulary, the text pipeline and encoding (with an on-disk cache).

Names are resolved on first use, so that importing the light parts (the pipeline a Predictor
needs) does not import the heavy ones (the corpus preparation, which reads tables with pandas).
"""

from __future__ import annotations

from textclf.exports import exports_on_first_use

_EXPORTS = {
    "EncodedSplit": "textclf.text.encoding",
    "encode_texts": "textclf.text.encoding",
    "PreparedData": "textclf.text.prepare",
    "prepare_data": "textclf.text.prepare",
    "TextPipeline": "textclf.text.pipeline",
    "StudyTokenizer": "textclf.text.tokenizers",
    "build_tokenizer": "textclf.text.tokenizers",
    "list_tokenizers": "textclf.text.tokenizers",
    "register_tokenizer": "textclf.text.tokenizers",
    "Vocabulary": "textclf.text.vocabulary",
    "PAD_ID": "textclf.text.vocabulary",
    "UNK_ID": "textclf.text.vocabulary",
}

__all__ = list(_EXPORTS)

__getattr__ = exports_on_first_use(__name__, _EXPORTS)
